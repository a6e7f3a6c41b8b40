/**
 * The Unix socket file of an SCGI listener. Its permissions are the listener's only access
 * control (SCGI carries no credentials), so it must never exist, even briefly, with looser ones
 * than configured.
 *
 * How: bind inside a fresh 0700 directory next to the target, chmod/chown the socket there, then
 * rename() it onto the target path. rename is atomic, so the path goes straight from "absent" (or
 * a stale socket) to "our socket with its final mode and owner". The alternatives are worse:
 * chmod after listen() leaves a window in which the umask decides and connections already
 * queued in the backlog are accepted later; process.umask() is process-wide, so file creations
 * running at the same time in libuv's thread pool would pick up the temporary mask (and it
 * throws in worker threads).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdtemp, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';

export interface UnixSocketOptions {
  readonly path: string;
  /** Permission bits of the socket file; connect() needs write permission. Default 0o660. */
  readonly mode?: number;
  /** User name or uid; changing the owner needs root. */
  readonly owner?: number | string;
  /** Group name or gid; a non-root process may pick any group it is a member of. */
  readonly group?: number | string;
}

export const DEFAULT_SOCKET_MODE = 0o660;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const PROBE_TIMEOUT_MS = 1000;

/** The identity of the file we created, so close() never removes someone else's socket. */
export interface BoundSocketFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

type Probe = 'absent' | 'stale' | 'live' | { error: NodeJS.ErrnoException };

/** Does anything answer on `path`? Only ECONNREFUSED proves a socket file is left over. */
function probe(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (result: Probe): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A listener that accepts but is too busy to answer is still alive.
    const timer = setTimeout(() => done('live'), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('live'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('stale');
      else if (error.code === 'ENOENT') done('absent');
      else done({ error });
    });
  });
}

async function checkExisting(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigError(`SCGI listener ${path}: cannot inspect the path: ${(error as Error).message}`);
  }
  if (!info.isSocket()) {
    throw new ConfigError(`SCGI listener ${path}: the path exists and is not a socket; refusing to replace it`);
  }
  const result = await probe(path);
  if (result === 'live') {
    throw new ConfigError(`SCGI listener ${path}: another process is listening on this socket (a second gateway, or rtorrent itself?)`);
  }
  if (typeof result === 'object') {
    throw new ConfigError(
      `SCGI listener ${path}: an existing socket could not be probed (${result.error.code ?? result.error.message}); ` +
        'remove it by hand if it is stale',
    );
  }
  // 'stale' is replaced by the rename in bindUnixSocket; 'absent' means it vanished meanwhile.
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ path }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function getent(database: 'passwd' | 'group', name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('getent', [database, name], { timeout: 5000 }, (error, stdout) => resolve(error ? undefined : stdout));
  });
}

/**
 * uid/gid for a name. getent asks NSS, so LDAP/sssd accounts work; the files are the fallback
 * where getent is missing (minimal containers).
 */
async function resolveId(kind: 'owner' | 'group', value: number | string, path: string): Promise<number> {
  if (typeof value === 'number' || /^[0-9]+$/.test(value)) {
    const id = Number(value);
    if (!Number.isSafeInteger(id) || id < 0 || id > 0xfffffffe) throw new ConfigError(`SCGI listener ${path}: ${kind} ${value} is not a valid id`);
    return id;
  }
  const database = kind === 'owner' ? 'passwd' : 'group';
  let line = (await getent(database, value))?.split('\n')[0];
  if (line === undefined || line === '') {
    const file = await readFile(`/etc/${database}`, 'utf8').catch(() => '');
    line = file.split('\n').find((entry) => entry.split(':')[0] === value);
  }
  const id = line?.split(':')[2];
  if (id === undefined || !/^[0-9]+$/.test(id)) {
    throw new ConfigError(`SCGI listener ${path}: no ${kind === 'owner' ? 'user' : 'group'} named ${JSON.stringify(value)}`);
  }
  return Number(id);
}

export function validateSocketMode(mode: number, path: string): number {
  // Only rwx bits: setuid/setgid/sticky mean nothing on a socket and suggest a typo (0660 vs 660).
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new ConfigError(`SCGI listener ${path}: mode ${String(mode)} is not a permission value between 0o000 and 0o777 (write it as 0o660)`);
  }
  return mode;
}

/**
 * Binds `server` to `options.path` with the requested mode and ownership. A stale socket file
 * (nothing answers on it) is replaced; a live one, or anything that is not a socket, stops us.
 */
export async function bindUnixSocket(server: Server, options: UnixSocketOptions): Promise<BoundSocketFile> {
  const path = options.path;
  if (!isAbsolute(path)) throw new ConfigError(`SCGI listener ${path}: the socket path must be absolute`);
  const mode = validateSocketMode(options.mode ?? DEFAULT_SOCKET_MODE, path);
  // Resolve names first: a typo must not leave a half-made socket behind.
  const uid = options.owner === undefined ? -1 : await resolveId('owner', options.owner, path);
  const gid = options.group === undefined ? -1 : await resolveId('group', options.group, path);
  await checkExisting(path);

  // mkdtemp creates the directory 0700; it sits next to the target so rename stays on one filesystem.
  const privateDir = await mkdtemp(join(dirname(path), `.${basename(path).slice(0, 16)}.`)).catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`SCGI listener ${path}: cannot create a socket in ${dirname(path)}: ${error.code ?? error.message}`);
  });
  const staging = join(privateDir, 's');
  try {
    if (Buffer.byteLength(staging) > MAX_SOCKET_PATH || Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new ConfigError(`SCGI listener ${path}: the socket path is too long for a Unix socket (keep it under ~90 bytes)`);
    }
    await listenOn(server, staging);
    await chmod(staging, mode);
    if (uid !== -1 || gid !== -1) {
      await chown(staging, uid, gid).catch((error: NodeJS.ErrnoException) => {
        throw new ConfigError(
          `SCGI listener ${path}: cannot give the socket owner ${String(options.owner ?? '-')} / group ${String(options.group ?? '-')} ` +
            `(${error.code ?? error.message}): changing the owner needs root; a group must be one the gateway's user belongs to`,
        );
      });
    }
    await rename(staging, path);
    const info = await stat(path);
    return { path, dev: info.dev, ino: info.ino };
  } catch (error) {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

/** Removes the socket file if it is still the one we bound (a successor may have replaced it). */
export async function removeSocketFile(bound: BoundSocketFile): Promise<void> {
  try {
    const info = await lstat(bound.path);
    if (info.dev === bound.dev && info.ino === bound.ino) await unlink(bound.path);
  } catch {
    // Already gone.
  }
}
