/**
 * `npm run bench:pollers`: what a crowd of pollers costs rtorrent. POLLERS (8) clients each ask for
 * the same ruTorrent-style torrent list POLL_RATE (4) times a second, at a steady pace and out of
 * step with one another, as dashboards, web UI tabs and *arr apps do. Once through nginx's
 * scgi_pass, once through the gateway at its defaults plus `upstream.read_cache_ttl` (POLL_TTL, 1s),
 * interleaved over POLL_ROUNDS rounds of POLL_DURATION seconds; rtorrent's CPU per second is read
 * from /proc. See bench/README.md.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startNginx, type NginxInstance } from '../test/helpers/nginx.js';
import { makeTempDir, removeTempDir } from '../test/helpers/processes.js';
import type { RtorrentInstance } from '../test/helpers/rtorrent.js';
import { xmlCall } from '../test/helpers/scgi-direct.js';
import type { GatewayProcess } from './lib/gateway-process.js';
import { cpuSeconds, RssSampler, sumCpuSeconds } from './lib/proc.js';
import { AUTHORIZATION, checkBinaries, ensureBuilt, startGatewayForBench, startRtorrentForBench } from './lib/setup.js';
import { median, ratio } from './lib/stats.js';
import { LIST_FIELDS } from './scenarios.js';

const env = process.env;
const TORRENTS = Number(env.BENCH_TORRENTS ?? 2000);
const POLLERS = Number(env.POLLERS ?? 8);
const RATE = Number(env.POLL_RATE ?? 4);
const TTL = env.POLL_TTL ?? '1s';
const ROUNDS = Number(env.POLL_ROUNDS ?? 3);
const DURATION_S = Number(env.POLL_DURATION ?? 10);
const MiB = 1024 * 1024;

interface Run {
  readonly target: 'nginx' | 'gateway';
  readonly seconds: number;
  readonly answers: number;
  readonly errors: number;
  /** What went wrong, e.g. "502" or "fetch failed": count. */
  readonly problems: Record<string, number>;
  readonly bytes: number;
  /** CPU seconds per wall second. */
  readonly rtorrentCpu: number;
  readonly frontCpu: number;
  readonly peakRssMiB: number;
}

interface Tally {
  answers: number;
  errors: number;
  bytes: number;
  problems: Record<string, number>;
  note(problem: string): void;
}

function newTally(): Tally {
  return {
    answers: 0,
    errors: 0,
    bytes: 0,
    problems: {},
    note(problem) {
      this.errors++;
      this.problems[problem] = (this.problems[problem] ?? 0) + 1;
    },
  };
}

function log(line: string): void {
  process.stderr.write(`[pollers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** One poller: a call every 1/RATE s on a fixed schedule (a slow answer does not push the next one back). */
async function poll(url: string, body: string, until: number, offsetMs: number, tally: Tally): Promise<void> {
  const periodMs = 1000 / RATE;
  let next = Date.now() + offsetMs;
  const inFlight: Promise<void>[] = [];
  while (next < until) {
    await sleep(Math.max(0, next - Date.now()));
    next += periodMs;
    inFlight.push(
      // Uncompressed, as nginx (no gzip here) answers: fetch would ask the gateway for gzip otherwise.
      fetch(url, { method: 'POST', headers: { 'content-type': 'text/xml', authorization: AUTHORIZATION, 'accept-encoding': 'identity' }, body })
        .then(async (response) => {
          const bytes = (await response.arrayBuffer()).byteLength;
          if (response.status === 200 && response.headers.get('x-gateway-error') === null) {
            tally.answers++;
            tally.bytes += bytes;
          } else tally.note(String(response.status));
        })
        .catch((error: unknown) => tally.note(error instanceof Error ? error.message : String(error))),
    );
  }
  await Promise.all(inFlight);
}

async function measure(target: Run['target'], url: string, frontPids: () => Promise<number[]>, rt: RtorrentInstance, body: string): Promise<Run> {
  const pids = await frontPids();
  const rss = new RssSampler(pids).start();
  const tally = newTally();
  const rtBefore = cpuSeconds(rt.pid) ?? 0;
  const frontBefore = sumCpuSeconds(pids);
  const started = performance.now();
  const until = Date.now() + DURATION_S * 1000;
  const periodMs = 1000 / RATE;
  await Promise.all(Array.from({ length: POLLERS }, (_, i) => poll(url, body, until, (i * periodMs) / POLLERS + Math.random() * 5, tally)));
  const seconds = (performance.now() - started) / 1000;
  return {
    target,
    seconds,
    answers: tally.answers,
    errors: tally.errors,
    problems: tally.problems,
    bytes: tally.bytes,
    rtorrentCpu: ((cpuSeconds(rt.pid) ?? 0) - rtBefore) / seconds,
    frontCpu: (sumCpuSeconds(pids) - frontBefore) / seconds,
    peakRssMiB: rss.stop() / MiB,
  };
}

async function main(): Promise<void> {
  ensureBuilt('auto', log);
  checkBinaries();
  log(`rtorrent with ${TORRENTS} torrents, nginx, and the gateway with upstream.read_cache_ttl = "${TTL}"`);
  const rt = await startRtorrentForBench(TORRENTS);
  let nginx: NginxInstance | undefined;
  let gateway: GatewayProcess | undefined;
  const workDir = makeTempDir('rtg-bench-pollers');
  try {
    nginx = await startNginx({ upstreamSocket: rt.socketPath, paths: ['/RPC2'], match: '^~', clientMaxBodySize: '16m' });
    gateway = await startGatewayForBench(rt, ['--upstream.read_cache_ttl', TTL]);
    const body = xmlCall('d.multicall2', ['', 'main', ...LIST_FIELDS]);
    const targets = {
      nginx: { url: `http://127.0.0.1:${nginx.port}/RPC2`, pids: (nginx as NginxInstance).workerPids.bind(nginx) },
      gateway: { url: (gateway as GatewayProcess).url(), pids: async () => [(gateway as GatewayProcess).pid] },
    };
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 === 0 ? (['nginx', 'gateway'] as const) : (['gateway', 'nginx'] as const)) {
        log(`round ${round + 1}/${ROUNDS}: ${target}, ${POLLERS} pollers × ${RATE}/s for ${DURATION_S} s`);
        runs.push(await measure(target, targets[target].url, targets[target].pids, rt, body));
        // Let rtorrent finish whatever the last calls left it before the next target starts.
        await sleep(500);
      }
    }
    report(runs);
  } finally {
    await gateway?.stop();
    await nginx?.stop();
    await rt.stop();
    await removeTempDir(workDir);
  }
}

function report(runs: readonly Run[]): void {
  const of = (target: Run['target'], pick: (run: Run) => number): number => median(runs.filter((run) => run.target === target).map(pick));
  const row = (target: Run['target']): string =>
    [
      target.padEnd(8),
      of(target, (r) => r.answers / r.seconds).toFixed(1).padStart(9),
      of(target, (r) => r.errors).toFixed(0).padStart(7),
      (of(target, (r) => r.bytes / r.answers) / MiB).toFixed(2).padStart(10),
      of(target, (r) => r.rtorrentCpu).toFixed(3).padStart(15),
      of(target, (r) => r.frontCpu).toFixed(3).padStart(12),
      of(target, (r) => r.peakRssMiB).toFixed(1).padStart(14),
    ].join(' ');
  const cpuRatio = ratio(of('gateway', (r) => r.rtorrentCpu), of('nginx', (r) => r.rtorrentCpu));
  const rssPeak = Math.max(...runs.filter((run) => run.target === 'gateway').map((run) => run.peakRssMiB));
  process.stdout.write(
    [
      '',
      `${POLLERS} pollers × ${RATE} calls/s of a ${LIST_FIELDS.length}-column d.multicall2 over ${TORRENTS} torrents; ` +
        `gateway with read_cache_ttl = "${TTL}" (off by default; the issue measures it on); medians of ${ROUNDS} interleaved rounds × ${DURATION_S} s`,
      'target    answers/s  errors  answer MiB  rtorrent CPU/s  front CPU/s  peak RSS MiB',
      row('nginx'),
      row('gateway'),
      '',
      `rtorrent CPU per second, gateway ÷ nginx: ${cpuRatio.toFixed(3)} (target ≤ 0.25)  [${cpuRatio <= 0.25 ? 'PASS' : 'FAIL'}]`,
      `gateway peak RSS: ${rssPeak.toFixed(1)} MiB (target ≤ 100)  [${rssPeak <= 100 ? 'PASS' : 'FAIL'}]`,
      ...(['nginx', 'gateway'] as const).map((target) => `${target} problems over all rounds: ${JSON.stringify(problemsOf(runs, target))}`),
      '',
    ].join('\n'),
  );
}

function problemsOf(runs: readonly Run[], target: Run['target']): Record<string, number> {
  const all: Record<string, number> = {};
  for (const run of runs.filter((r) => r.target === target)) for (const [problem, count] of Object.entries(run.problems)) all[problem] = (all[problem] ?? 0) + count;
  return all;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:pollers: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
