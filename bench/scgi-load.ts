/**
 * The "direct SCGI" baseline: a small load generator that talks to rtorrent's socket the way nginx
 * and the gateway do (one request per connection), with the same request bodies, concurrency and
 * duration as the wrk runs. It is a different client from wrk — Node instead of C, no HTTP, no
 * keep-alive — so its numbers are a reference for what rtorrent alone can do, not a like-for-like
 * third contestant.
 *
 *   node --import tsx bench/scgi-load.ts --socket PATH --connections N --duration S [--timeout S] BODY...
 *
 * Bodies are used in order, cycling, like bench/post.lua. Prints one BENCH_RESULT line.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { encodeScgiRequest } from '../test/helpers/scgi-direct.js';
import { formatLoadLine } from './lib/load-result.js';
import { percentileSorted } from './lib/stats.js';

type Outcome = 'ok' | 'connect' | 'read' | 'write' | 'status' | 'timeout';

const HEAD_END = Buffer.from('\r\n\r\n');

/** One SCGI round trip; resolves with what happened and how many bytes came back. */
function exchange(socketPath: string, request: Buffer, timeoutMs: number): Promise<{ outcome: Outcome; bytes: number }> {
  return new Promise((resolve) => {
    const socket = connect({ path: socketPath });
    let connected = false;
    let failed: Outcome | undefined;
    let bytes = 0;
    let head: Buffer | undefined = Buffer.alloc(0);
    let status = 0;
    let bodyExpected = -1;
    let bodyStart = 0;
    let done = false;

    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, bytes });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);

    socket.once('connect', () => {
      connected = true;
      socket.write(request, (error) => {
        if (error) failed ??= 'write';
      });
    });
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Parse only the CGI head (Status, Content-Length); the body is counted, not kept.
      if (head === undefined) return;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return;
      const text = head.toString('latin1', 0, end);
      status = Number(/^status:\s*(\d{3})/im.exec(text)?.[1] ?? 200);
      const length = /^content-length:\s*(\d+)/im.exec(text)?.[1];
      bodyExpected = length === undefined ? -1 : Number(length);
      bodyStart = bytes - head.length + end + HEAD_END.length;
      head = undefined;
    });
    socket.on('error', () => {
      failed ??= connected ? 'read' : 'connect';
    });
    socket.on('close', () => {
      if (failed !== undefined && (!connected || head !== undefined)) return finish(failed);
      if (head !== undefined) return finish('read'); // closed before a complete head
      if (bodyExpected >= 0 && bytes - bodyStart < bodyExpected) return finish('read'); // truncated
      if (status < 200 || status > 299) return finish('status');
      finish('ok');
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      socket: { type: 'string' },
      connections: { type: 'string', default: '1' },
      duration: { type: 'string', default: '5' },
      timeout: { type: 'string', default: '10' },
    },
    allowPositionals: true,
  });
  if (values.socket === undefined || positionals.length === 0) {
    throw new Error('usage: scgi-load.ts --socket PATH --connections N --duration S [--timeout S] BODY...');
  }
  const socketPath = values.socket;
  const connections = Number(values.connections);
  const durationMs = Number(values.duration) * 1000;
  const timeoutMs = Number(values.timeout) * 1000;
  const requests = positionals.map((file) => encodeScgiRequest(readFileSync(file)));

  const latencies: number[] = [];
  const errors: Record<Exclude<Outcome, 'ok'>, number> = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
  let bytes = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + durationMs;

  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const request = requests[next++ % requests.length] as Buffer;
      const t0 = performance.now();
      const { outcome, bytes: got } = await exchange(socketPath, request, timeoutMs);
      const t1 = performance.now();
      // Like wrk: what completes after the deadline is not counted.
      if (t1 > deadline) break;
      bytes += got;
      if (outcome === 'ok') latencies.push(t1 - t0);
      else errors[outcome]++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsedMs = Math.min(performance.now(), deadline) - start;

  const sorted = Float64Array.from(latencies).sort();
  const completed = latencies.length + errors.status;
  let sum = 0;
  for (const v of latencies) sum += v;
  process.stdout.write(
    formatLoadLine({
      requests: completed,
      duration_us: Math.round(elapsedMs * 1000),
      bytes,
      ...errors,
      p50_us: Math.round(percentileSorted(sorted, 50) * 1000),
      p99_us: Math.round(percentileSorted(sorted, 99) * 1000),
      mean_us: latencies.length > 0 ? (sum / latencies.length) * 1000 : 0,
      max_us: Math.round((sorted[sorted.length - 1] ?? 0) * 1000),
    }) + '\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`scgi-load: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
