/**
 * Registry of everything a test spawns or creates on disk, so a failing or forgotten test cannot
 * leave rtorrent, nginx or temp dirs behind for the next run (or for a parallel test process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, statfsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

interface Tracked {
  readonly child: ChildProcess;
  /** Spawned with `detached: true`: signal the whole process group, so nginx workers go too. */
  readonly group: boolean;
}

const children = new Map<ChildProcess, Tracked>();
const tempDirs = new Set<string>();

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function signal(entry: Tracked, sig: NodeJS.Signals): void {
  const pid = entry.child.pid;
  if (pid === undefined) return;
  try {
    // A group signal also reaches grandchildren (nginx workers) whose master may already be gone.
    if (entry.group) process.kill(-pid, sig);
    else if (isRunning(entry.child)) entry.child.kill(sig);
  } catch {
    // ESRCH: already gone.
  }
}

/**
 * Registers a child for clean-up. Pass `group: true` only when it was spawned with
 * `detached: true` (it then leads its own process group). The child is unref'd: a test that
 * forgets stop() must not keep the test process alive; the exit hook kills it instead.
 */
export function track<T extends ChildProcess>(child: T, opts: { group?: boolean } = {}): T {
  const entry: Tracked = { child, group: opts.group === true };
  children.set(child, entry);
  child.once('exit', () => {
    // Leave group entries in place until untracked: workers may outlive their master.
    if (!entry.group) children.delete(child);
  });
  child.unref();
  return child;
}

export function untrack(child: ChildProcess): void {
  children.delete(child);
}

/** Sends `sig` the way track() was told to (to the group when detached). */
export function signalTracked(child: ChildProcess, sig: NodeJS.Signals): void {
  signal(children.get(child) ?? { child, group: false }, sig);
}

/**
 * Resolves when the child has exited, or after `ms` with false. The timer stays ref'd on
 * purpose: the child itself is unref'd, and something has to keep the loop alive while we wait.
 */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!isRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/**
 * SIGTERM (or `sig`), then SIGKILL after `graceMs`, then forget the child. Always resolves.
 */
export async function terminate(
  child: ChildProcess,
  opts: { graceMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  const entry = children.get(child) ?? { child, group: false };
  if (isRunning(child)) {
    signal(entry, opts.signal ?? 'SIGTERM');
    if (!(await waitForExit(child, opts.graceMs ?? 2000))) {
      signal(entry, 'SIGKILL');
      await waitForExit(child, 2000);
    }
  }
  if (entry.group) signal(entry, 'SIGKILL');
  children.delete(child);
}

let tempBase: string | undefined;

/**
 * Where temp dirs go: $RTG_TEST_TMPDIR, else /dev/shm when it is a roomy tmpfs, else the OS temp
 * dir. Creating a file on this VM's ext4 root costs ~1 ms of system time, and rtorrent writes
 * three session files per loaded torrent, so 2000 torrents on disk spend seconds in the
 * filesystem alone; on tmpfs the same takes a few ms. Docker's 64 MB /dev/shm is skipped.
 */
export function tempBaseDir(): string {
  if (tempBase !== undefined) return tempBase;
  const candidates = [process.env.RTG_TEST_TMPDIR, '/dev/shm', tmpdir(), '/tmp'];
  for (const candidate of candidates) {
    if (!candidate || candidate.length > 40) continue;
    try {
      accessSync(candidate, fsConstants.W_OK | fsConstants.X_OK);
      if (!statSync(candidate).isDirectory()) continue;
      if (candidate === '/dev/shm') {
        const fs = statfsSync(candidate);
        if (fs.bavail * fs.bsize < 512 * 1024 * 1024) continue;
      }
      tempBase = candidate;
      return candidate;
    } catch {
      // Not usable; try the next one.
    }
  }
  tempBase = '/tmp';
  return tempBase;
}

/**
 * Creates a private temp dir. The base is kept short because a Unix socket path inside it must
 * fit in sun_path (108 bytes).
 */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tempBaseDir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  tempDirs.delete(dir);
}

/** Stops every tracked process (TERM, then KILL) and removes every temp dir. For `after()`. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...children.keys()].map((child) => terminate(child, { graceMs: 2000 })));
  await Promise.all([...tempDirs].map((dir) => removeTempDir(dir)));
}

function cleanupSync(): void {
  for (const entry of children.values()) signal(entry, 'SIGKILL');
  children.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort on the way out.
    }
  }
  tempDirs.clear();
}

process.on('exit', cleanupSync);

// Without a handler, a signal kills Node before 'exit' runs (node:test's file timeout sends
// SIGTERM). Clean up, then re-raise so the exit status still says "killed by signal", unless
// someone else also listens and therefore owns the decision to exit.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const handler = (): void => {
    cleanupSync();
    if (process.listenerCount(sig) === 1) {
      process.off(sig, handler);
      process.kill(process.pid, sig);
    }
  };
  process.on(sig, handler);
}

/** Extra dirs searched after PATH: nginx lives in /usr/sbin, which a non-root PATH often lacks. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Absolute path of `name`, or undefined so the caller can `t.skip()`. In CI
 * (`CI === 'true'`) a missing binary throws instead: integration tests must fail there, never
 * silently skip.
 */
export function requireBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, ...SBIN_DIRS]) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  if (process.env.CI === 'true') {
    throw new Error(`required binary "${name}" not found on PATH or in ${SBIN_DIRS.join(', ')} (CI=true)`);
  }
  return undefined;
}

export interface Exited {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to its end and collects what it printed, with `input` on standard input (none: an
 * empty one) and only PATH from this environment unless `env` adds more.
 */
export function runToEnd(
  command: string,
  args: readonly string[],
  options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): Promise<Exited> {
  const child = track(spawn(command, args, { cwd: options.cwd, env: { PATH: process.env.PATH, ...options.env }, uid: options.uid, gid: options.gid, stdio: ['pipe', 'pipe', 'pipe'] }));
  child.ref();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A command that never reads its input may exit first; its closed pipe is no failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

