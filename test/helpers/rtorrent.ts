/**
 * A throw-away rtorrent per test: own session dir (rtorrent.lock allows one instance per session),
 * own SCGI socket, quiet networking, and optionally a few thousand stopped torrents. Debian's 0.9.8
 * by default; the current release (0.16.20, built by scripts/build-rtorrent.sh) where a test asks
 * for it with `build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, makeTempDir, removeTempDir, requireBinary, signalTracked, terminate, track, waitForExit } from './processes.js';
import { decodeXmlRpcResponse, scgiRequest, xmlCall, type ScgiOptions, type ScgiResponse, type XmlParam, type XmlRpcDecoded } from './scgi-direct.js';
import { generateTorrents, type TorrentOptions } from './torrents.js';

/** One rtorrent release the suite can run against. */
export interface RtorrentBuild {
  /** "0.9.8", "0.16.20": what system.client_version answers */
  readonly version: string;
  readonly bin: string;
}

const CURRENT_VERSION = '0.16.20';

/**
 * Where scripts/build-rtorrent.sh (run by .ci/run) installs the current release: a cache outside
 * the clone, so a second clone or run skips the build.
 */
export function currentBuildPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cache, 'rtorrent-gateway', `rtorrent-${CURRENT_VERSION}`);
}

/** Machines that built it by hand with the same script and its old default prefix. */
const LEGACY_BUILD_BIN = '/opt/rtorrent-new/bin/rtorrent';

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian's rtorrent 0.9.8, or undefined (a throw in CI) when it is not installed. */
export function debianRtorrent(): RtorrentBuild | undefined {
  const bin = requireBinary('rtorrent');
  return bin === undefined ? undefined : { version: '0.9.8', bin };
}

/**
 * The current release: $RTORRENT_CURRENT_BIN, else the build cache, else /opt/rtorrent-new.
 * Undefined when it has not been built here, and a throw with CI=true: CI must run the suites
 * against both releases, never quietly against one.
 */
export function currentRtorrent(): RtorrentBuild | undefined {
  const explicit = process.env.RTORRENT_CURRENT_BIN;
  const candidates = explicit !== undefined && explicit !== '' ? [explicit] : [join(currentBuildPrefix(), 'bin', 'rtorrent'), LEGACY_BUILD_BIN];
  const bin = candidates.find(executable);
  if (bin !== undefined) return { version: CURRENT_VERSION, bin };
  if (process.env.CI === 'true') {
    throw new Error(`rtorrent ${CURRENT_VERSION} is not built (looked at ${candidates.join(', ')}; CI=true): run scripts/build-rtorrent.sh`);
  }
  return undefined;
}

/** Every release available here, 0.9.8 first: a suite that must hold on both runs once per entry. */
export function rtorrentBuilds(): RtorrentBuild[] {
  return [debianRtorrent(), currentRtorrent()].filter((build): build is RtorrentBuild => build !== undefined);
}

export interface RtorrentOptions {
  /** Which rtorrent; Debian's 0.9.8 when absent. */
  build?: RtorrentBuild;
  /** Stopped torrents to load with `load.normal` before returning. */
  torrents?: number;
  /** Goes into the temp dir name, to tell instances apart in `ps` and /tmp. */
  name?: string;
  /** Passed to the torrent generator (seed, sizes); `seed` defaults to the instance's name. */
  torrentOptions?: TorrentOptions;
  /** Extra rc lines, e.g. `network.xmlrpc.size_limit.set = 4M`. */
  extraRc?: string[];
  /** Deadline for the socket to appear and answer. */
  startTimeoutMs?: number;
  /** Parallel `load.normal` connections; rtorrent has 100 SCGI slots in total. */
  loadConcurrency?: number;
}

export interface RtorrentInstance {
  /** "0.9.8", "0.16.20" */
  readonly version: string;
  readonly socketPath: string;
  readonly dir: string;
  readonly pid: number;
  /** Uppercase hex, in load order. */
  readonly infoHashes: string[];
  readonly torrentPaths: string[];
  /** rtorrent's stdout/stderr (bind errors and crashes end up here). */
  readonly logPath: string;
  /**
   * Unref'd (see track()): awaiting `once(child, 'exit')` alone lets the event loop drain and
   * node:test cancels the test. Use waitForExit() instead.
   */
  readonly child: ChildProcess;
  /** True once rtorrent has exited, false if it is still running after `ms`. */
  waitForExit(ms?: number): Promise<boolean>;
  /** Decoded result; an XML-RPC fault rejects with XmlRpcFault. */
  call(method: string, params?: readonly XmlParam[], opts?: ScgiOptions): Promise<XmlRpcDecoded>;
  /** Raw SCGI round trip, for tests about bytes rather than values. */
  raw(body: Buffer | string, opts?: ScgiOptions): Promise<ScgiResponse>;
  running(): boolean;
  /**
   * Stops rtorrent the way a service manager does (SIGTERM: it saves its session and quits) and
   * starts it again on the same session, socket and rc. `pid` and `child` then name the new process.
   */
  restart(): Promise<void>;
  /** SIGTERM, SIGKILL after 2 s, then remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

const DEFAULT_START_TIMEOUT_MS = 5000;
const MAX_LOAD_CONCURRENCY = 16;

/**
 * A random 50-port window in 20000–59999. rtorrent 0.9.8 exits at start-up with
 * "Could not open/bind port for listening" when its whole range is taken, so the caller retries
 * with a fresh window rather than relying on the window being free.
 */
function randomPortRange(): string {
  const low = 20000 + Math.floor(Math.random() * 800) * 50;
  return `${low}-${low + 49}`;
}

function rcFile(dir: string, socketPath: string, extra: readonly string[], build: RtorrentBuild): string {
  const q = (p: string): string => `"${p}"`;
  // 0.16 answers only to network.listen.port.* (the network.port_* names need -D there).
  const [random, range] =
    build.version === '0.9.8' ? ['network.port_random.set', 'network.port_range.set'] : ['network.listen.port.random.set', 'network.listen.port.range.set'];
  return [
    'system.daemon.set = true',
    `session.path.set = ${q(join(dir, 'session'))}`,
    `directory.default.set = ${q(join(dir, 'download'))}`,
    `network.scgi.open_local = ${q(socketPath)}`,
    'dht.mode.set = disable',
    'protocol.pex.set = no',
    'trackers.use_udp.set = no',
    `${random} = yes`,
    `${range} = ${randomPortRange()}`,
    ...extra,
    '',
  ].join('\n');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function logTail(logPath: string): Promise<string> {
  try {
    return (await readFile(logPath, 'utf8')).slice(-2000).trim();
  } catch {
    return '';
  }
}

class StartError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

async function launch(build: RtorrentBuild, dir: string, socketPath: string, logPath: string, opts: RtorrentOptions): Promise<ChildProcess> {
  // Leftovers of a failed attempt: a stale socket would look "ready", a stale lock could refuse us.
  await unlink(socketPath).catch(() => undefined);
  await unlink(join(dir, 'session', 'rtorrent.lock')).catch(() => undefined);
  const rcPath = join(dir, 'test.rc');
  await writeFile(rcPath, rcFile(dir, socketPath, opts.extraRc ?? [], build));
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(build.bin, ['-n', '-o', `import=${rcPath}`], {
      cwd: dir,
      // HOME in the temp dir: nothing of the real user's setup leaks in.
      env: { ...process.env, HOME: dir, TERM: 'dumb' },
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
  } finally {
    closeSync(logFd);
  }
  track(child, { group: true });

  const deadline = Date.now() + (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  const failIfExited = async (): Promise<void> => {
    if (isRunning(child)) return;
    const tail = await logTail(logPath);
    await terminate(child);
    throw new StartError(`rtorrent exited during start-up (${child.exitCode ?? child.signalCode}): ${tail}`, /bind port/i.test(tail));
  };

  // The socket file appears before the listening port is bound, so an existing socket does not
  // mean rtorrent will stay up: keep watching for an early exit until it actually answers.
  while (!(await exists(socketPath))) {
    await failIfExited();
    if (Date.now() > deadline) {
      await terminate(child);
      throw new StartError(`rtorrent socket ${socketPath} did not appear in time: ${await logTail(logPath)}`, false);
    }
    await sleep(20);
  }
  // rtorrent (root here) makes a 0755 socket; connect() needs write permission on it, so an
  // nginx worker or gateway running as another user would get EACCES without this.
  await chmod(socketPath, 0o777);

  for (;;) {
    await failIfExited();
    try {
      const res = await scgiRequest({ path: socketPath }, xmlCall('system.client_version', []), { timeoutMs: 1000 });
      if (typeof decodeXmlRpcResponse(res.body) === 'string') break;
    } catch {
      // Not ready yet.
    }
    if (Date.now() > deadline) {
      await terminate(child);
      throw new StartError(`rtorrent did not answer system.client_version in time: ${await logTail(logPath)}`, false);
    }
    await sleep(20);
  }
  return child;
}

/** 0.16 aborts (a libtorrent assertion, exit 134) when stopped within about half a second of its start. */
const MIN_LIFETIME_MS = 1200;

export async function startRtorrent(opts: RtorrentOptions = {}): Promise<RtorrentInstance> {
  const build = opts.build ?? debianRtorrent();
  if (build === undefined) throw new Error('rtorrent is not installed (use requireBinary() to skip first)');
  const name = (opts.name ?? 'rt').replace(/[^A-Za-z0-9_-]/g, '_');
  const dir = makeTempDir(`rtg-${name}`);
  // nginx workers / non-root gateways must be able to traverse to the socket.
  await chmod(dir, 0o711);
  await mkdir(join(dir, 'session'));
  await mkdir(join(dir, 'download'));
  const socketPath = join(dir, 'scgi.socket');
  const logPath = join(dir, 'rtorrent.log');

  let child: ChildProcess | undefined;
  try {
    for (let attempt = 1; child === undefined; attempt++) {
      try {
        child = await launch(build, dir, socketPath, logPath, opts);
      } catch (err) {
        if (!(err instanceof StartError && err.retryable && attempt < 5)) throw err;
      }
    }
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
  let proc = child;
  let startedAt = Date.now();
  if (proc.pid === undefined) throw new Error('rtorrent has no pid');
  /** 0.16 must live a little before it may be stopped (MIN_LIFETIME_MS). */
  const oldEnough = async (): Promise<void> => {
    const young = MIN_LIFETIME_MS - (Date.now() - startedAt);
    if (young > 0 && build.version !== '0.9.8') await sleep(young);
  };

  const raw = (body: Buffer | string, scgiOpts?: ScgiOptions): Promise<ScgiResponse> =>
    scgiRequest({ path: socketPath }, body, { timeoutMs: 10_000, ...scgiOpts });
  const call = async (method: string, params: readonly XmlParam[] = [], scgiOpts?: ScgiOptions): Promise<XmlRpcDecoded> =>
    decodeXmlRpcResponse((await raw(xmlCall(method, params), scgiOpts)).body);

  let stopping: Promise<void> | undefined;
  const instance: RtorrentInstance = {
    version: build.version,
    socketPath,
    dir,
    get pid() {
      return proc.pid as number;
    },
    infoHashes: [],
    torrentPaths: [],
    logPath,
    get child() {
      return proc;
    },
    call,
    raw,
    running: () => isRunning(proc),
    waitForExit: (ms = 5000) => waitForExit(proc, ms),
    restart: async () => {
      await oldEnough();
      // A session save of many torrents can take a while: no SIGKILL that would lose it.
      await terminate(proc, { graceMs: 30_000 });
      proc = await launch(build, dir, socketPath, logPath, opts);
      startedAt = Date.now();
    },
    stop: () => {
      stopping ??= (async () => {
        await oldEnough();
        await terminate(proc, { graceMs: 2000 });
        await removeTempDir(dir);
      })();
      return stopping;
    },
    kill: (signal: NodeJS.Signals = 'SIGKILL') => signalTracked(proc, signal),
  };

  const count = opts.torrents ?? 0;
  if (count > 0) {
    try {
      await loadTorrents(instance, count, { seed: name, ...opts.torrentOptions }, opts.loadConcurrency);
    } catch (err) {
      await instance.stop();
      throw err;
    }
  }
  return instance;
}

/**
 * Generates `count` torrents into `<dir>/torrents` and loads them stopped. Adds to
 * `instance.infoHashes`; resolves once download_list contains every one of them.
 */
export async function loadTorrents(
  instance: RtorrentInstance,
  count: number,
  torrentOptions: TorrentOptions = {},
  concurrency = 8,
): Promise<void> {
  const generated = await generateTorrents(join(instance.dir, 'torrents'), count, {
    ...torrentOptions,
    startIndex: instance.torrentPaths.length,
  });
  const workers = Math.max(1, Math.min(concurrency, MAX_LOAD_CONCURRENCY, generated.length));
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < generated.length) {
        const t = generated[next++];
        if (t === undefined) break;
        const result = await instance.call('load.normal', ['', t.path]);
        if (result !== 0) throw new Error(`load.normal ${t.path} returned ${String(result)}`);
      }
    }),
  );
  for (const t of generated) {
    instance.infoHashes.push(t.infoHash);
    instance.torrentPaths.push(t.path);
  }

  // load.normal returns before the download is necessarily in the list; poll for all of them.
  const wanted = new Set(instance.infoHashes);
  const deadline = Date.now() + 10_000 + count * 10;
  for (;;) {
    const list = await instance.call('download_list', ['']);
    const have = new Set(Array.isArray(list) ? list.map(String) : []);
    let missing = 0;
    for (const h of wanted) if (!have.has(h)) missing++;
    if (missing === 0) return;
    if (Date.now() > deadline) throw new Error(`${missing} of ${wanted.size} torrents never showed up in download_list`);
    await sleep(25);
  }
}
