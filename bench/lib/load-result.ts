/**
 * What one load run reports, whichever client produced it: wrk (HTTP, through bench/post.lua) or
 * bench/scgi-load.ts (raw SCGI). Both print one `BENCH_RESULT {json}` line with these keys.
 */
export interface RawLoadResult {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  /** HTTP status ≥ 400 (wrk) or a CGI Status other than 2xx (SCGI client). */
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly bytes: number;
  readonly errors: { connect: number; read: number; write: number; status: number; timeout: number; total: number };
}

const MARK = 'BENCH_RESULT ';

export function parseLoadOutput(stdout: string, who: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (line === undefined) throw new Error(`${who} printed no ${MARK.trim()} line:\n${stdout.slice(-2000)}`);
  const raw = JSON.parse(line.slice(MARK.length)) as RawLoadResult;
  const seconds = raw.duration_us / 1e6;
  const errors = {
    connect: raw.connect,
    read: raw.read,
    write: raw.write,
    status: raw.status,
    timeout: raw.timeout,
    total: raw.connect + raw.read + raw.write + raw.status + raw.timeout,
  };
  return {
    requests: raw.requests,
    seconds,
    rps: seconds > 0 ? raw.requests / seconds : 0,
    p50Ms: raw.p50_us / 1000,
    p99Ms: raw.p99_us / 1000,
    meanMs: raw.mean_us / 1000,
    maxMs: raw.max_us / 1000,
    bytes: raw.bytes,
    errors,
  };
}

export function formatLoadLine(raw: RawLoadResult): string {
  return `${MARK}${JSON.stringify(raw)}`;
}
