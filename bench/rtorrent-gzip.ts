/**
 * `npm run bench:rtorrent-gzip`: should the gateway ask rtorrent to compress (ACCEPT_ENCODING=gzip,
 * rtorrent ≥ 0.16.10) and relay its gzip unchanged, instead of compressing itself? Against rtorrent
 * 0.16.20 with RTGZ_TORRENTS (2000) torrents and ruTorrent's torrent list, one call at a time, four
 * ways taking turns call by call, RTGZ_ROUNDS (3) × RTGZ_CALLS (20) calls each:
 *
 *   direct           the list straight from rtorrent's socket, uncompressed
 *   direct+gzip      the same with ACCEPT_ENCODING=gzip: rtorrent compresses
 *   gateway gzips    through the gateway, for a client that asks for gzip
 *   rtorrent gzips   through the gateway, rtorrent asked to compress by an SCGI peer in between
 *                    (bench/scgi-peer.ts) and the gateway relaying those bytes as they are
 *
 * CPU per call is read from the scheduler (/proc/PID/task/TID/schedstat, in ns): rtorrent's main
 * thread (every call is built, and compressed, there: the thread every peer, tracker and other
 * client waits on), the whole rtorrent process (its SCGI thread writes the answer out) and the
 * gateway, not the peer. Medians of the per-call figures. See bench/README.md and
 * docs/hardening.md ("Compressed answers").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RUTORRENT_LIST } from '../test/helpers/client-calls.js';
import { currentRtorrent, startRtorrent, type RtorrentInstance } from '../test/helpers/rtorrent.js';
import { xmlCall } from '../test/helpers/scgi-direct.js';
import type { GatewayProcess } from './lib/gateway-process.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadCpuNs } from './lib/proc.js';
import { startScgiPeer, type ScgiPeer } from './lib/scgi-peer-process.js';
import { AUTHORIZATION, checkBinaries, ensureBuilt, ROOT, startGatewayForBench } from './lib/setup.js';
import { median } from './lib/stats.js';
import { TORRENT_NAME_PREFIX } from './scenarios.js';

const env = process.env;
const TORRENTS = Number(env.RTGZ_TORRENTS ?? 2000);
const ROUNDS = Number(env.RTGZ_ROUNDS ?? 3);
const CALLS = Number(env.RTGZ_CALLS ?? 20);
const LIST = xmlCall('d.multicall2', ['', 'main', ...RUTORRENT_LIST]);

type Way = 'direct' | 'direct+gzip' | 'gateway gzips' | 'rtorrent gzips';
const WAYS: readonly Way[] = ['direct', 'direct+gzip', 'gateway gzips', 'rtorrent gzips'];

interface Sample {
  readonly way: Way;
  /** Per call: CPU ms of rtorrent's main thread, of rtorrent and of the gateway, wall ms, body bytes received. */
  readonly mainThreadMs: number;
  readonly rtorrentMs: number;
  readonly gatewayMs: number;
  readonly wallMs: number;
  readonly bytes: number;
}

function log(line: string): void {
  process.stderr.write(`[rtorrent-gzip ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function post(url: string, headers: Record<string, string>): Promise<{ status: number; encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'text/xml', authorization: AUTHORIZATION, ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(LIST);
  });
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** One call the given way: the body as received, and whether it is the list, compressed or not. */
async function callOnce(way: Way, rt: RtorrentInstance, plain: GatewayProcess, relaying: GatewayProcess): Promise<Buffer> {
  switch (way) {
    case 'direct':
      return (await rt.raw(LIST, { timeoutMs: 60_000 })).body;
    case 'direct+gzip':
      return (await rt.raw(LIST, { timeoutMs: 60_000, extraHeaders: [['ACCEPT_ENCODING', 'gzip']] })).body;
    case 'gateway gzips': {
      const answer = await post(plain.url(), { 'accept-encoding': 'gzip' });
      if (answer.status !== 200 || answer.encoding !== 'gzip') throw new Error(`gateway: HTTP ${answer.status}, ${answer.encoding ?? 'not compressed'}`);
      return answer.body;
    }
    case 'rtorrent gzips': {
      // Identity asked for: the gateway relays what it gets, which is rtorrent's gzip.
      const answer = await post(relaying.url(), { 'accept-encoding': 'identity' });
      if (answer.status !== 200 || !answer.body.subarray(0, 2).equals(GZIP_MAGIC)) throw new Error(`gateway behind the peer: HTTP ${answer.status}, not rtorrent's gzip`);
      return answer.body;
    }
  }
}

/** One call, with what it cost each process: a single call, so that the ways alternate call by call under the same noise. */
async function measure(way: Way, rt: RtorrentInstance, plain: GatewayProcess, relaying: GatewayProcess): Promise<Sample> {
  const gatewayPid = way === 'gateway gzips' ? plain.pid : relaying.pid;
  const rt0 = threadCpuNs(rt.pid);
  const gw0 = threadCpuNs(gatewayPid).all;
  const started = performance.now();
  const bytes = (await callOnce(way, rt, plain, relaying)).length;
  const wallMs = performance.now() - started;
  // The gateway's log line and socket teardown come just after the answer.
  await sleep(20);
  const rt1 = threadCpuNs(rt.pid);
  const direct = way === 'direct' || way === 'direct+gzip';
  return {
    way,
    mainThreadMs: (rt1.main - rt0.main) / 1e6,
    rtorrentMs: (rt1.all - rt0.all) / 1e6,
    gatewayMs: direct ? 0 : (threadCpuNs(gatewayPid).all - gw0) / 1e6,
    wallMs,
    bytes,
  };
}

async function main(): Promise<void> {
  ensureBuilt('auto', log);
  checkBinaries();
  const build = currentRtorrent();
  if (build === undefined) throw new Error('needs rtorrent 0.16.20 (scripts/build-rtorrent.sh, or RTORRENT_CURRENT_BIN): only releases from 0.16.10 compress');
  log(`rtorrent ${build.version} with ${TORRENTS} torrents, a gateway in front of it, and one behind a peer that asks rtorrent for gzip`);
  const rt = await startRtorrent({ build, torrents: TORRENTS, name: 'bench-rtgzip', torrentOptions: { namePrefix: TORRENT_NAME_PREFIX }, loadConcurrency: 16, startTimeoutMs: 10_000 });
  let peer: ScgiPeer | undefined;
  let plain: GatewayProcess | undefined;
  let relaying: GatewayProcess | undefined;
  try {
    peer = await startScgiPeer({ upstreamSocket: rt.socketPath, add: ['ACCEPT_ENCODING=gzip'] });
    plain = await startGatewayForBench(rt, []);
    relaying = await startGatewayForBench(peer, []);
    // Every way must deliver the same list before anything is timed.
    const identity = await callOnce('direct', rt, plain, relaying);
    for (const way of WAYS.slice(1)) {
      const body = await callOnce(way, rt, plain, relaying);
      if (!gunzipSync(body).equals(identity)) throw new Error(`${way}: not the list rtorrent answers directly`);
    }
    log(`the list: ${identity.length} bytes; ${ROUNDS} rounds × ${CALLS} calls per way`);
    const samples: Sample[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let call = 0; call < CALLS; call++) {
        const first = (round * CALLS + call) % WAYS.length;
        for (const way of [...WAYS.slice(first), ...WAYS.slice(0, first)]) samples.push(await measure(way, rt, plain, relaying));
      }
      log(`round ${round + 1}/${ROUNDS} done`);
    }
    report(identity.length, samples);
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `rtorrent-gzip-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify({ torrents: TORRENTS, rounds: ROUNDS, calls: CALLS, identityBytes: identity.length, samples }, null, 2)}\n`);
    process.stdout.write(`JSON: ${relative(process.cwd(), file) || file}\n`);
  } finally {
    await relaying?.stop();
    await plain?.stop();
    await peer?.stop();
    await rt.stop();
  }
}

function report(identityBytes: number, samples: readonly Sample[]): void {
  const of = (way: Way, pick: (sample: Sample) => number): number => median(samples.filter((sample) => sample.way === way).map(pick));
  const rows = WAYS.map((way) => {
    const rtorrent = of(way, (s) => s.rtorrentMs);
    const gateway = of(way, (s) => s.gatewayMs);
    return [
      way.padEnd(15),
      `${((of(way, (s) => s.bytes) / identityBytes) * 100).toFixed(1)} %`.padStart(9),
      of(way, (s) => s.mainThreadMs).toFixed(1).padStart(12),
      rtorrent.toFixed(1).padStart(14),
      (way.startsWith('direct') ? '' : gateway.toFixed(1)).padStart(13),
      (way.startsWith('direct') ? '' : (rtorrent + gateway).toFixed(1)).padStart(11),
      of(way, (s) => s.wallMs).toFixed(1).padStart(12),
    ].join(' ');
  });
  const extra = of('direct+gzip', (s) => s.mainThreadMs) - of('direct', (s) => s.mainThreadMs);
  const total = (way: Way): number => of(way, (s) => s.rtorrentMs) + of(way, (s) => s.gatewayMs);
  process.stdout.write(
    [
      '',
      `ruTorrent's d.multicall2 over ${TORRENTS} torrents (${identityBytes} bytes) on rtorrent 0.16.20, one call at a time; medians of ${ROUNDS * CALLS} calls each way`,
      'way             body        rtorrent main  rtorrent CPU  gateway CPU  total CPU  wall per call',
      '                of identity  thread, ms    ms per call   ms per call  ms         ms',
      ...rows,
      '',
      `rtorrent's main thread, compressing: ${extra >= 0 ? '+' : ''}${extra.toFixed(1)} ms per call (${((extra / of('direct', (s) => s.mainThreadMs)) * 100).toFixed(0)} % on top of building the list)`,
      `CPU per call, rtorrent gzips ÷ gateway gzips: ${(total('rtorrent gzips') / total('gateway gzips')).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:rtorrent-gzip: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
