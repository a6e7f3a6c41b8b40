/**
 * One timed run of one scenario against one target, with the cost charged to the process in the
 * middle (gateway, or nginx's workers): CPU from /proc/PID/stat before and after, peak RSS from
 * VmHWM reset at the start of the run, and whatever the processes logged as a problem meanwhile.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { decodeXmlRpcResponse, scgiRequest } from '../../test/helpers/scgi-direct.js';
import type { Scenario } from '../scenarios.js';
import { runScgiLoad, runWrk, type LoadSpec } from './drivers.js';
import type { LoadResult } from './load-result.js';
import { cpuSeconds, peakRssBytes, resetPeakRss, rssBytes, RssSampler, sumCpuSeconds, sumCpuSplit } from './proc.js';
import { AUTHORIZATION, type Stack } from './setup.js';

export type TargetName = 'nginx' | 'gateway' | 'direct';
export const TARGETS: readonly TargetName[] = ['nginx', 'gateway', 'direct'];

export interface RunRecord {
  readonly scenario: string;
  readonly target: TargetName;
  /** 0-based; -1 for the warm-up run, which is recorded but not summarised. */
  readonly round: number;
  readonly load: LoadResult;
  /** CPU seconds of the gateway process or of nginx's workers during the run; null for direct. */
  readonly serverCpuS: number | null;
  readonly serverCpuPer10k: number | null;
  /** Fraction of that CPU spent in user space (JS, V8, libuv) rather than in the kernel. */
  readonly serverCpuUserShare: number | null;
  /** CPU of what answers the calls: rtorrent, or the SCGI peer in front of it (a scenario's own stack). */
  readonly rtorrentCpuPer10k: number | null;
  /** RSS of the middle process(es) when the run started (what earlier runs left behind). */
  readonly rssStartBytes: number | null;
  /** Peak RSS of the middle process(es) during the run; null for direct. */
  readonly peakRssBytes: number | null;
  readonly peakRssMethod: 'VmHWM' | 'sampled' | null;
  /** Gateway log lines at warn or above, nginx error-log lines at error or above. */
  readonly problems: string[];
  /** Gateway error lines for clients that disconnected mid-call as wrk stopped (see below). */
  readonly clientAbortLogs: number;
  /**
   * nginx [warn] lines, e.g. bodies buffered to a temp file (behaviour, not failure), without
   * time, pid and file names, with how often each occurred: one per request can be 50k lines.
   */
  readonly notes: Record<string, number>;
  /** Untimed preparation before the run (settling, rtorrent health check, scenario reset). */
  readonly setupMs: number;
}

/** Gap between runs so one target's tail (closing sockets, GC) does not land in the next run. */
const SETTLE_MS = 300;

async function middlePids(stack: Stack, target: TargetName): Promise<number[]> {
  if (target === 'gateway') return [stack.gateway.pid];
  if (target === 'nginx') return stack.nginx.workerPids();
  return [];
}

async function nginxLog(stack: Stack): Promise<string> {
  return stack.nginx.errorLog();
}

/** nginx log lines without time, pid, connection number and temp-file name, counted. */
function countLines(lines: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const text = line
      .replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ')
      .replace(/(_temp)\/\d+/g, '$1/…')
      .replace(/, client: .*$/, '');
    counts[text] = (counts[text] ?? 0) + 1;
  }
  return counts;
}

/**
 * A gateway log line about a client that went away mid-call (ERR_STREAM_PREMATURE_CLOSE) written
 * in the last second of the run or after it, i.e. caused by wrk stopping.
 */
function isClientAbortLine(line: string, from: number): boolean {
  try {
    const parsed = JSON.parse(line) as { time?: string; err?: { code?: string } };
    return parsed.err?.code === 'ERR_STREAM_PREMATURE_CLOSE' && Date.parse(parsed.time ?? '') >= from;
  } catch {
    return false;
  }
}

/** rtorrent 0.9.8 can hang for good under long heavy load; find out before blaming the target. */
async function checkRtorrent(stack: Stack): Promise<void> {
  if (!stack.rt.running()) throw new Error(`rtorrent exited: ${readFileSync(stack.rt.logPath, 'utf8').slice(-1000)}`);
  try {
    await stack.rt.call('system.client_version', [], { timeoutMs: 5000 });
  } catch (error) {
    throw new Error(`rtorrent stopped answering (${(error as Error).message}); rerun the bench`);
  }
}

export async function measureRun(
  stack: Stack,
  scenario: Scenario,
  files: readonly string[],
  target: TargetName,
  round: number,
  spec: Omit<LoadSpec, 'bodyFiles' | 'connections'>,
): Promise<RunRecord> {
  const setupStart = Date.now();
  await sleep(SETTLE_MS);
  await checkRtorrent(stack);
  if (scenario.beforeRun) {
    await scenario.beforeRun();
    await sleep(SETTLE_MS);
  }
  const setupMs = Date.now() - setupStart;

  const pids = await middlePids(stack, target);
  const rssStart = pids.length > 0 ? pids.reduce((sum, pid) => sum + (rssBytes(pid) ?? 0), 0) : null;
  const hwmReset = pids.length > 0 && pids.every(resetPeakRss);
  const sampler = new RssSampler(pids).start();
  const gatewayLogMark = stack.gateway.logSize();
  const nginxLogMark = (await nginxLog(stack)).length;
  const cpu0 = sumCpuSeconds(pids);
  const split0 = sumCpuSplit(pids);
  const rt0 = cpuSeconds(stack.upstream.pid) ?? 0;

  // wrk sends no Accept-Encoding unless the scenario names one.
  const headers = scenario.acceptEncoding === undefined ? undefined : { 'Accept-Encoding': scenario.acceptEncoding };
  const loadSpec: LoadSpec = { ...spec, connections: scenario.connections, bodyFiles: files, headers };
  const loadStartedAt = Date.now();
  let load: LoadResult;
  try {
    load =
      target === 'direct'
        ? await runScgiLoad(stack.upstream.socketPath, loadSpec)
        : await runWrk(target === 'gateway' ? stack.gateway.url() : stack.nginx.url(), scenario.authorization ?? AUTHORIZATION, loadSpec);
  } catch (error) {
    sampler.stop();
    throw error;
  }

  const cpu1 = sumCpuSeconds(pids);
  const split1 = sumCpuSplit(pids);
  const rt1 = cpuSeconds(stack.upstream.pid) ?? rt0;
  const sampled = sampler.stop();
  let peak: number | null = null;
  let method: RunRecord['peakRssMethod'] = null;
  if (pids.length > 0) {
    if (hwmReset) {
      peak = pids.reduce((sum, pid) => sum + (peakRssBytes(pid) ?? 0), 0);
      method = 'VmHWM';
    } else {
      peak = sampled;
      method = 'sampled';
    }
  }

  // wrk stops by closing its connections, calls in flight included; the gateway logs each such
  // disconnect. Those lines are counted apart: they are about logging, not about a failed call.
  const problems: string[] = [];
  let clientAbortLogs = 0;
  const runEnd = loadStartedAt + spec.durationS * 1000;
  for (const line of stack.gateway.problemsSince(gatewayLogMark)) {
    if (target === 'gateway' && isClientAbortLine(line, runEnd - 1000)) clientAbortLogs++;
    else problems.push(line);
  }
  if (!stack.gateway.running()) problems.push('gateway process exited');
  const nginxLines = (await nginxLog(stack)).slice(nginxLogMark).split('\n').filter((l) => l.trim() !== '');
  const nginxProblems = nginxLines.filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
  const notes = countLines(nginxLines.filter((l) => /\[warn\]/.test(l)));
  problems.push(...nginxProblems.map((l) => `nginx: ${l}`));

  const per10k = (seconds: number): number | null => (load.requests > 0 ? (seconds / load.requests) * 10_000 : null);
  return {
    scenario: scenario.name,
    target,
    round,
    load,
    serverCpuS: pids.length > 0 ? cpu1 - cpu0 : null,
    serverCpuUserShare: pids.length > 0 && cpu1 > cpu0 ? (split1.user - split0.user) / (cpu1 - cpu0) : null,
    serverCpuPer10k: pids.length > 0 ? per10k(cpu1 - cpu0) : null,
    rtorrentCpuPer10k: per10k(rt1 - rt0),
    rssStartBytes: rssStart,
    peakRssBytes: peak,
    peakRssMethod: method,
    problems,
    clientAbortLogs,
    notes,
    setupMs,
  };
}

export interface PreflightResult {
  /** Each target's answer once decoded. */
  readonly answerBytes: Record<TargetName, number>;
  /** Body bytes as they came over the wire (compressed, where they were). */
  readonly wireBytes: Record<TargetName, number>;
  /** Content-Encoding of each HTTP target's answer. */
  readonly encodings: Partial<Record<TargetName, string>>;
  /** rtorrent's answer as it is, straight from its socket (or the scenario's peer). */
  readonly identity: Buffer | undefined;
  /** Whether nginx, the gateway and direct SCGI gave byte-identical answers (when expected). */
  readonly identical: boolean | null;
  readonly problems: string[];
}

/**
 * One request per target before anything is timed: a policy refusal or a fault comes back as
 * HTTP 200, which wrk would happily count as a fast success.
 */
export async function preflight(stack: Stack, scenario: Scenario, files: readonly string[], timeoutS: number): Promise<PreflightResult> {
  const first = readFileSync(files[0] as string);
  const answers = {} as Record<TargetName, Buffer>;
  const wire = {} as Record<TargetName, number>;
  const encodings: Partial<Record<TargetName, string>> = {};
  const problems: string[] = [];
  for (const target of TARGETS) {
    await scenario.beforeRun?.();
    let body: Buffer;
    try {
      if (target === 'direct') {
        const res = await scgiRequest({ path: stack.upstream.socketPath }, first, { timeoutMs: timeoutS * 1000 });
        if (res.status !== 200) problems.push(`direct: SCGI status ${res.status}`);
        body = res.body;
        wire[target] = body.length;
      } else {
        const url = target === 'gateway' ? stack.gateway.url() : stack.nginx.url();
        // What wrk sends: no Accept-Encoding, unless the scenario names one.
        const res = await httpPost(url, first, { authorization: scenario.authorization ?? AUTHORIZATION, ...(scenario.acceptEncoding === undefined ? {} : { 'accept-encoding': scenario.acceptEncoding }) }, timeoutS * 1000);
        wire[target] = res.body.length;
        const coding = res.headers['content-encoding'];
        if (coding !== undefined) encodings[target] = coding;
        body = coding === 'gzip' ? gunzipSync(res.body) : coding === 'br' ? brotliDecompressSync(res.body) : res.body;
        if (res.status !== 200) problems.push(`${target}: HTTP ${res.status}: ${body.toString('utf8', 0, 300)}`);
        const gatewayError = res.headers['x-gateway-error'];
        if (gatewayError) problems.push(`${target}: ${String(gatewayError)}: ${body.toString('utf8', 0, 500)}`);
        if (scenario.acceptEncoding !== undefined && coding === undefined) problems.push(`${target}: answered uncompressed though the client asked for ${scenario.acceptEncoding}`);
      }
    } catch (error) {
      problems.push(`${target}: ${(error as Error).message}`);
      continue;
    }
    answers[target] = body;
    try {
      const problem = scenario.check(decodeXmlRpcResponse(body), target);
      if (problem) problems.push(`${target}: ${problem}`);
    } catch (error) {
      problems.push(`${target}: ${(error as Error).message}`);
    }
  }
  let identical: boolean | null = null;
  if (scenario.identicalAnswers && answers.nginx && answers.gateway && answers.direct) {
    identical = answers.gateway.equals(answers.nginx) && answers.gateway.equals(answers.direct);
    if (!identical) problems.push('the gateway, nginx and direct SCGI answers differ');
  }
  return {
    answerBytes: { nginx: answers.nginx?.length ?? 0, gateway: answers.gateway?.length ?? 0, direct: answers.direct?.length ?? 0 },
    wireBytes: { nginx: wire.nginx ?? 0, gateway: wire.gateway ?? 0, direct: wire.direct ?? 0 },
    encodings,
    identity: answers.direct,
    identical,
    problems,
  };
}

/** One POST with the body kept as it came over the wire: Node's client neither asks for nor decodes a coding. */
function httpPost(url: string, body: Buffer, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'text/xml', ...headers }, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
