/**
 * Brings up what the bench measures: one rtorrent with generated torrents, nginx with the seed's
 * `scgi_pass` location in front of it, and the gateway as its own process, all on temp sockets
 * and ephemeral ports (the test harness's helpers do the rtorrent and nginx parts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx, type NginxInstance } from '../../test/helpers/nginx.js';
import { makeTempDir, removeTempDir, requireBinary } from '../../test/helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../../test/helpers/rtorrent.js';
import { TORRENT_NAME_PREFIX } from '../scenarios.js';
import { TENANT_PASSWORD, TENANT_USER } from './logins.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startScgiPeer } from './scgi-peer-process.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_PATH = join(ROOT, 'dist', 'cli.js');

export const BENCH_USER = 'bench';
const BENCH_PASSWORD = 'bench-password-not-secret';
/** What real clients use: a web UI or *arr gets the standard policy, not full. */
export const BENCH_POLICY = 'standard';
/** Sent to nginx too (it ignores it), so both get byte-identical requests. */
export const AUTHORIZATION = `Basic ${Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64')}`;

function newestMtime(dir: string, suffix: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path, suffix));
    else if (entry.name.endsWith(suffix)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The bench runs dist/cli.js; measuring a stale build would credit or blame the wrong code. */
export function ensureBuilt(mode: 'auto' | 'never' | 'always', log: (line: string) => void): void {
  const missing = !existsSync(CLI_PATH);
  if (mode === 'never') {
    if (missing) throw new Error(`${CLI_PATH} is missing; run npm run build (or drop --build never)`);
    return;
  }
  const stale = !missing && newestMtime(join(ROOT, 'src'), '.ts') > newestMtime(join(ROOT, 'dist'), '.js');
  if (mode === 'auto' && !missing && !stale) return;
  log(missing ? 'dist/ is missing: building' : stale ? 'src/ is newer than dist/: rebuilding' : 'building');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error('npm run build failed; the bench needs a compiled gateway in dist/');
}

export function checkBinaries(): void {
  const missing = ['rtorrent', 'nginx', 'wrk'].filter((name) => requireBinary(name) === undefined);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')}: apt-get install -y ${missing.map((m) => (m === 'nginx' ? 'nginx-light' : m)).join(' ')}`);
  }
}

export interface Stack {
  readonly rt: RtorrentInstance;
  readonly nginx: NginxInstance;
  readonly gateway: GatewayProcess;
  /** What nginx and the gateway call, and what "direct" runs against: rtorrent, or a peer in front of it. */
  readonly upstream: { readonly socketPath: string; readonly pid: number };
  stop(): Promise<void>;
}

export async function startRtorrentForBench(torrents: number): Promise<RtorrentInstance> {
  return startRtorrent({
    torrents,
    name: 'bench',
    torrentOptions: { namePrefix: TORRENT_NAME_PREFIX },
    // ruTorrent setups raise xmlrpc-c's limit so that .torrent uploads (load.raw_start) fit.
    extraRc: ['network.xmlrpc.size_limit.set = 4M'],
    loadConcurrency: 16,
    startTimeoutMs: 10_000,
  });
}

/** The Node flags the systemd unit, the Dockerfile and the bin start the gateway with. */
export const GATEWAY_NODE_ARGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];

export async function startGatewayForBench(
  rt: { readonly socketPath: string },
  extraArgs: readonly string[],
  nodeArgs: readonly string[] = GATEWAY_NODE_ARGS,
  cliPath = CLI_PATH,
): Promise<GatewayProcess> {
  return startGatewayProcess({
    cliPath,
    upstreamSocket: rt.socketPath,
    user: BENCH_USER,
    password: BENCH_PASSWORD,
    policy: BENCH_POLICY,
    extraUsers: [{ user: TENANT_USER, password: TENANT_PASSWORD, policy: 'tenant' }],
    extraArgs,
    nodeArgs,
  });
}

export async function startStack(torrents: number, gatewayArgs: readonly string[], cliPath = CLI_PATH): Promise<Stack> {
  const rt = await startRtorrentForBench(torrents);
  let nginx: NginxInstance | undefined;
  try {
    // The seed's location block: prefix match on /RPC2, scgi_params, uploads up to 16 MiB.
    nginx = await startNginx({ upstreamSocket: rt.socketPath, paths: ['/RPC2'], match: '^~', clientMaxBodySize: '16m' });
    const gateway = await startGatewayForBench(rt, gatewayArgs, GATEWAY_NODE_ARGS, cliPath);
    const started = nginx;
    return {
      rt,
      nginx: started,
      gateway,
      upstream: { socketPath: rt.socketPath, pid: rt.pid },
      stop: async () => {
        await Promise.all([gateway.stop(), started.stop()]);
        await rt.stop();
      },
    };
  } catch (error) {
    await nginx?.stop();
    await rt.stop();
    throw error;
  }
}

/** A scenario that needs a front of its own (bench/scenarios.ts, `ownStack`). */
export interface OwnStackOptions {
  /** nginx with `gzip on; gzip_types text/xml;`. */
  readonly nginxGzip: boolean;
  /** Calls whose body contains this are answered with `answer` by an SCGI peer in front of rtorrent. */
  readonly match: string;
  readonly answer: () => Promise<Buffer>;
}

/**
 * nginx and a gateway of their own for one scenario, in front of an SCGI peer (bench/scgi-peer.ts)
 * that answers the scenario's call with a prepared answer and passes everything else on to the
 * shared rtorrent. The gateway is started as the shared one is, with the same flags.
 */
export async function startOwnStack(base: Stack, own: OwnStackOptions, gatewayArgs: readonly string[], cliPath = CLI_PATH): Promise<Stack> {
  const dir = makeTempDir('rtg-bench-answer');
  const answerFile = join(dir, 'answer.xml');
  await writeFile(answerFile, await own.answer());
  const peer = await startScgiPeer({ upstreamSocket: base.rt.socketPath, answerFile, match: own.match });
  let nginx: NginxInstance | undefined;
  try {
    nginx = await startNginx({ upstreamSocket: peer.socketPath, paths: ['/RPC2'], match: '^~', clientMaxBodySize: '16m', gzip: own.nginxGzip });
    const gateway = await startGatewayForBench(peer, gatewayArgs, GATEWAY_NODE_ARGS, cliPath);
    const started = nginx;
    return {
      rt: base.rt,
      nginx: started,
      gateway,
      upstream: peer,
      stop: async () => {
        await Promise.all([gateway.stop(), started.stop()]);
        await peer.stop();
        await removeTempDir(dir);
      },
    };
  } catch (error) {
    await nginx?.stop();
    await peer.stop();
    await removeTempDir(dir);
    throw error;
  }
}
