/**
 * The workloads of `npm run bench`. Each one is the same bytes for every target: nginx and the
 * gateway get them over HTTP from wrk, rtorrent's socket gets them from bench/scgi-load.ts.
 *
 * To add a scenario, add an entry to createScenarios(); run.ts handles warm-up, interleaving,
 * measurement and the report. Scenarios marked optIn only run when named in BENCH_SCENARIOS.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RtorrentInstance } from '../test/helpers/rtorrent.js';
import { XmlRpcFault, type XmlRpcDecoded } from '../test/helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes } from '../test/helpers/torrents.js';
import { RUTORRENT_LIST } from '../test/helpers/client-calls.js';
import { listAnswer } from './lib/list-answer.js';
import { TENANT_AUTHORIZATION, TENANT_TORRENTS, TENANT_USER } from './lib/logins.js';
import type { OwnStackOptions } from './lib/setup.js';
import { multicall, xmlCall, type Call } from './lib/xml.js';

export interface BenchContext {
  readonly rt: RtorrentInstance;
  /** Where body files go (a temp dir, removed at the end). */
  readonly workDir: string;
  /** Torrents loaded into rtorrent before the runs. */
  readonly torrents: number;
  readonly log?: (line: string) => void;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly connections: number;
  /** Left out unless named in BENCH_SCENARIOS. */
  readonly optIn?: boolean;
  /** True when nginx, gateway and direct must return byte-identical answers to the first body. */
  readonly identicalAnswers: boolean;
  /** Writes the request bodies; returns their paths, in the order they are sent (cycling). */
  prepare(): Promise<string[]>;
  /** Puts rtorrent into the state every run starts from. Not timed. */
  beforeRun?(): Promise<void>;
  /** Problem with the decoded answer to the first body, or undefined when it is what we expect. */
  check(answer: XmlRpcDecoded, target: 'nginx' | 'gateway' | 'direct'): string | undefined;
  /** The clients' Accept-Encoding (wrk sends none otherwise); answers are compared once decoded. */
  readonly acceptEncoding?: string;
  /** The gateway's login for this scenario (nginx ignores it); the bench user's when absent. */
  readonly authorization?: string;
  /** Runs against an nginx and a gateway of its own, in front of a peer that answers its call (lib/setup.ts). */
  readonly ownStack?: OwnStackOptions;
}

/** What a torrent list in a web UI asks for: ruTorrent's d.multicall2, cut down to 16 columns. */
export const LIST_FIELDS = [
  'd.hash=', 'd.name=', 'd.state=', 'd.is_open=', 'd.is_active=', 'd.complete=', 'd.size_bytes=', 'd.bytes_done=',
  'd.up.total=', 'd.ratio=', 'd.up.rate=', 'd.down.rate=', 'd.custom1=', 'd.directory=', 'd.peers_connected=',
  // A command with an argument, as ruTorrent's plugins add (addtime): exercises the command-string scanner.
  'd.custom=addtime',
];

/** Realistic release-name lengths: the answer's size depends mostly on names and paths. */
export const TORRENT_NAME_PREFIX = 'Some.Show.Name.S01E01.Episode.Title.1080p.WEB-DL.DDP5.1.H.264-GROUP';

/** The gzip scenario's list holds this many times the bench's torrents: 12 000 rows, ~15 MB, at the default 2000. */
const GZIP_LIST_COPIES = 6;

/** Pool size for the load scenario; half of it is loaded at any moment. */
const LOAD_POOL = 16;
const LOAD_TORRENT_BYTES = 1024 * 1024;

function isFault(value: XmlRpcDecoded): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value) && 'faultCode' in value;
}

/** system.multicall answers faults per call, inside a 200: look into every element. */
function multicallProblem(answer: XmlRpcDecoded, count: number): string | undefined {
  if (!Array.isArray(answer)) return 'system.multicall did not answer an array';
  if (answer.length !== count) return `system.multicall answered ${answer.length} results, expected ${count}`;
  const fault = answer.findIndex(isFault);
  if (fault >= 0) return `call ${fault} of the multicall failed: ${JSON.stringify(answer[fault])}`;
  return undefined;
}

async function listed(rt: RtorrentInstance): Promise<Set<string>> {
  const list = await rt.call('download_list', ['']);
  return new Set(Array.isArray(list) ? list.map(String) : []);
}

/** d.erase of a torrent that an in-flight call erased a moment earlier: already what we want. */
function ignoreMissing(error: unknown): void {
  if (error instanceof XmlRpcFault && /info-hash/i.test(error.faultString)) return;
  throw error;
}

async function writeBody(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, body);
  return path;
}

export function createScenarios(ctx: BenchContext): Scenario[] {
  const { rt, workDir } = ctx;

  const small: Scenario = {
    name: 'small',
    description: 'system.client_version, 16 connections',
    connections: 16,
    identicalAnswers: true,
    prepare: async () => [await writeBody(workDir, 'small.xml', xmlCall('system.client_version'))],
    check: (answer) => (typeof answer === 'string' ? undefined : `expected a version string, got ${JSON.stringify(answer)}`),
  };

  const latency: Scenario = {
    ...small,
    name: 'latency-1c',
    description: 'system.client_version, 1 connection (added latency)',
    connections: 1,
  };

  const bigCheck = (answer: XmlRpcDecoded): string | undefined => {
    if (!Array.isArray(answer)) return 'd.multicall2 did not answer an array';
    if (answer.length !== ctx.torrents) return `d.multicall2 listed ${answer.length} torrents, expected ${ctx.torrents}`;
    const row = answer[0];
    if (!Array.isArray(row) || row.length !== LIST_FIELDS.length) return `d.multicall2 rows do not have ${LIST_FIELDS.length} fields`;
    return undefined;
  };
  const big: Scenario = {
    name: 'big',
    description: `d.multicall2 ${LIST_FIELDS.length} fields × ${ctx.torrents} torrents, 4 connections`,
    connections: 4,
    identicalAnswers: true,
    prepare: async () => [await writeBody(workDir, 'big.xml', xmlCall('d.multicall2', ['', 'main', ...LIST_FIELDS]))],
    check: bigCheck,
  };

  // COALESCING: eight clients asking for the same big list at the same moment is what several
  // ruTorrent tabs or *arr instances polling together look like. Without coalescing the gateway
  // relays eight identical calls; with upstream.coalesce_reads one upstream call serves those in
  // flight together. Opt-in, since it changes what the big-call figures mean: compare
  //   BENCH_SCENARIOS=big,big-x8 npm run bench
  //   BENCH_SCENARIOS=big,big-x8 BENCH_GATEWAY_ARGS='--config coalesce.toml' npm run bench
  // where coalesce.toml holds `[upstream]` and `coalesce_reads = true` (a config-file-only key).
  const bigX8: Scenario = {
    ...big,
    name: 'big-x8',
    description: `8 concurrent identical d.multicall2 (coalescing candidate)`,
    connections: 8,
    optIn: true,
  };

  const hashes = ctx.rt.infoHashes;
  const perTorrent = ['d.name', 'd.size_bytes', 'd.completed_bytes', 'd.ratio', 'd.custom1'];
  const globals = ['throttle.global_up.rate', 'throttle.global_down.rate', 'throttle.global_up.max_rate', 'throttle.global_down.max_rate', 'network.max_open_files'];
  const multiCalls: Call[] = globals.map((method) => ({ method, params: [] }));
  for (let i = 0; multiCalls.length < 50; i++) {
    const hash = hashes[i % hashes.length] ?? '';
    for (const method of perTorrent) if (multiCalls.length < 50) multiCalls.push({ method, params: [hash] });
  }
  const multi: Scenario = {
    name: 'multicall',
    description: `system.multicall of ${multiCalls.length} getters, 16 connections`,
    connections: 16,
    identicalAnswers: true,
    prepare: async () => [await writeBody(workDir, 'multicall.xml', multicall(multiCalls))],
    check: (answer) => multicallProblem(answer, multiCalls.length),
  };

  // load.raw_start keeps doing real work only if every request adds a torrent rtorrent does not
  // have yet, and rtorrent must not grow without bound over minutes of load. Loads are queued
  // inside rtorrent (they land a main-loop turn after the call returns), so a load cannot be
  // erased in its own multicall. Instead request j loads pool torrent j mod K and erases the one
  // loaded K/2 requests earlier: half the pool is in rtorrent at any time, every load is new, and
  // every erase hits. beforeRun() restores that window, so each run starts from the same state.
  const pool = Array.from({ length: LOAD_POOL }, (_, i) => makeTorrentBytes(i, { sizeBytes: LOAD_TORRENT_BYTES, seed: 'bench-load', namePrefix: TORRENT_NAME_PREFIX }));
  const poolHashes = pool.map(infoHashOf);
  const half = LOAD_POOL / 2;
  const loadRawStart = (i: number): Call => ({ method: 'load.raw_start', params: ['', pool[i] as Buffer] });
  const load: Scenario = {
    name: 'load',
    description: `load.raw_start of a ${Math.round(LOAD_TORRENT_BYTES / 1024)} KiB torrent + d.erase of an older one, 4 connections`,
    connections: 4,
    // The first answer is the same everywhere only because beforeRun() resets the window first.
    identicalAnswers: true,
    prepare: async () => {
      const files: string[] = [];
      for (let j = 0; j < LOAD_POOL; j++) {
        const erase: Call = { method: 'd.erase', params: [poolHashes[(j + half) % LOAD_POOL] as string] };
        files.push(await writeBody(workDir, `load-${j}.xml`, multicall([loadRawStart(j), erase])));
      }
      return files;
    },
    beforeRun: async () => {
      // Calls of the previous run may still be in rtorrent's queue when wrk stops counting, and
      // their loads land a turn later: erase until the pool stays gone, then reload the window.
      let quietChecks = 0;
      const deadline = Date.now() + 20_000;
      while (quietChecks < 2) {
        if (Date.now() > deadline) throw new Error('load pool torrents keep reappearing in rtorrent');
        const present = await listed(rt);
        const stale = poolHashes.filter((h) => present.has(h));
        for (const hash of stale) await rt.call('d.erase', [hash]).catch(ignoreMissing);
        quietChecks = stale.length === 0 ? quietChecks + 1 : 0;
        await sleep(100);
      }
      for (let i = half; i < LOAD_POOL; i++) {
        const result = await rt.call('load.raw_start', ['', pool[i] as Buffer]);
        if (result !== 0) throw new Error(`load.raw_start of pool torrent ${i} returned ${String(result)}`);
      }
      const want = poolHashes.slice(half);
      for (;;) {
        const present = await listed(rt);
        const loaded = poolHashes.filter((h) => present.has(h));
        if (loaded.length === want.length && want.every((h) => present.has(h))) return;
        if (Date.now() > deadline) throw new Error(`load pool did not settle: ${loaded.length} of ${want.length} loaded`);
        await sleep(20);
      }
    },
    check: (answer) => {
      const problem = multicallProblem(answer, 2);
      if (problem) return problem;
      return JSON.stringify(answer) === '[[0],[0]]' ? undefined : `expected [[0],[0]], got ${JSON.stringify(answer)}`;
    },
  };

  // COMPRESSION: a large seedbox's ruTorrent list (all of ruTorrent's columns, 12 000 torrents at
  // the default BENCH_TORRENTS) to clients that ask for gzip, the gateway at its defaults against
  // nginx with `gzip on; gzip_types text/xml;`. rtorrent takes over a second to build such a list,
  // so an SCGI peer answers it from rtorrent's own bytes and the runs measure what sits in between;
  // "direct" is that peer. Opt-in: it starts five more rtorrents to make the list (~30 s).
  const gzipRows = ctx.torrents * GZIP_LIST_COPIES;
  const gzipCall = xmlCall('d.multicall2', ['', 'main', ...RUTORRENT_LIST]);
  const gzip: Scenario = {
    name: 'gzip',
    description: `ruTorrent's d.multicall2 over ${gzipRows} torrents, Accept-Encoding: gzip; nginx with gzip on, 4 connections`,
    connections: 4,
    optIn: true,
    identicalAnswers: true,
    acceptEncoding: 'gzip',
    ownStack: {
      nginxGzip: true,
      match: '<methodName>d.multicall2</methodName>',
      answer: () => listAnswer(rt, { call: gzipCall, more: GZIP_LIST_COPIES - 1, torrents: ctx.torrents, namePrefix: TORRENT_NAME_PREFIX, log: ctx.log }),
    },
    prepare: async () => [await writeBody(workDir, 'gzip.xml', gzipCall)],
    // The load scenario, when it runs first, leaves a few more torrents in the first rtorrent.
    check: (answer) => (Array.isArray(answer) && answer.length >= gzipRows ? undefined : `expected a list of at least ${gzipRows} torrents`),
  };

  // MANY USERS, ONE RTORRENT: a tenant (policy tenant, scope = "own") lists its 100 torrents among
  // all of them. The gateway sends d.multicall.filtered on the owner tag, so rtorrent still walks
  // every torrent but builds rows for the tenant's only; nginx and direct SCGI get the unscoped
  // list of every torrent, the cost a tenant's list replaces.
  const tenantList: Scenario = {
    name: 'tenant-list',
    description: `a tenant's d.multicall2 (${LIST_FIELDS.length} fields) of its ${TENANT_TORRENTS} torrents among ${ctx.torrents}; nginx and direct list all, 4 connections`,
    connections: 4,
    identicalAnswers: false,
    authorization: TENANT_AUTHORIZATION,
    prepare: async () => {
      for (const [index, hash] of hashes.entries()) {
        await rt.call('d.custom.set', [hash, 'gateway.owner', index < TENANT_TORRENTS ? TENANT_USER : 'someone-else']);
      }
      return [await writeBody(workDir, 'tenant-list.xml', xmlCall('d.multicall2', ['', 'main', ...LIST_FIELDS]))];
    },
    check: (answer, target) => {
      if (!Array.isArray(answer)) return 'd.multicall2 did not answer an array';
      if (target === 'gateway') {
        const own = Math.min(TENANT_TORRENTS, ctx.torrents);
        return answer.length === own ? undefined : `the tenant was listed ${answer.length} torrents, not its ${own}`;
      }
      // The load scenario, when it ran first, leaves half its pool behind (untagged: no tenant's).
      return answer.length >= ctx.torrents ? undefined : `listed ${answer.length} torrents, expected at least ${ctx.torrents}`;
    },
  };

  return [small, latency, big, multi, load, bigX8, gzip, tenantList];
}
