import { chmod, chown, lstat, readFile, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { FastifyInstance, FastifyListenOptions } from 'fastify';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';

/** sd_listen_fds(3): passed sockets start at fd 3. */
const SD_LISTEN_FDS_START = 3;

/**
 * The socket systemd passed us (rtorrent-gateway.socket), if any. The variables are meant for
 * this process only (LISTEN_PID), and are removed so nothing we might start inherits them.
 */
export function systemdListenFd(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return undefined;
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!Number.isInteger(count) || count < 1) return undefined;
  if (count > 1) throw new ConfigError(`systemd passed ${count} sockets; rtorrent-gateway.socket must have exactly one Listen… line`);
  return SD_LISTEN_FDS_START;
}

/** Numeric gid of a group name, from /etc/group (no native NSS binding in Node). */
async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = await readFile('/etc/group', 'utf8');
  } catch {
    // No /etc/group (a scratch container): only numeric gids can work.
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError(`server.socket_group: no group "${group}" in /etc/group; use its numeric gid or create it`);
}

/**
 * A socket file left by a gateway that was killed (or a crash with RuntimeDirectoryPreserve=) would
 * make listen() fail with EADDRINUSE. Remove it only when nobody answers on it: a second gateway
 * started by mistake must fail, not steal the first one's address.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) throw new ConfigError(`server.listen: ${path} exists and is not a socket; remove it or choose another path`);
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answered) throw new ConfigError(`server.listen: another process is listening on unix:${path}`);
  await unlink(path);
}

async function listenUnix(app: FastifyInstance, config: GatewayConfig['server'], path: string): Promise<string> {
  const gid = config.socketGroup === undefined ? undefined : await resolveGroup(config.socketGroup);
  await removeStaleSocket(path);
  await app.ready();
  // The socket is created owner-only and opened up by chmod afterwards, so it is never, even for
  // a moment, wider than configured, whatever umask we were started with.
  const umask = process.umask(0o177);
  let address: string;
  try {
    address = await app.listen({ path });
  } finally {
    process.umask(umask);
  }
  try {
    if (gid !== undefined) await chown(path, -1, gid);
    if (config.socketMode !== undefined) await chmod(path, config.socketMode);
  } catch (error) {
    await app.close();
    throw new ConfigError(
      `server.socket_group/socket_mode: cannot apply to ${path}: ${(error as Error).message}` +
        (gid !== undefined ? ' (the gateway user must be a member of that group: SupplementaryGroups= in the unit)' : ''),
      { cause: error },
    );
  }
  return address;
}

/**
 * Starts listening where the configuration (or systemd's socket activation) says. Returns the
 * address for the start-up log line.
 */
export async function listenGateway(app: FastifyInstance, config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fd = systemdListenFd(env);
  const listen = config.server.listen;
  try {
    if (fd !== undefined) {
      // Node's listen() takes an inherited fd; Fastify passes the options through. A host is given
      // only so Fastify does not bind extra "localhost" addresses next to it.
      const options: FastifyListenOptions & { fd: number } = { fd, host: '127.0.0.1' };
      return await app.listen(options);
    }
    if (listen.kind === 'unix') return await listenUnix(app, config.server, listen.path);
    return await app.listen({ host: listen.host, port: listen.port });
  } catch (error) {
    const errno = error as NodeJS.ErrnoException;
    if (typeof errno.syscall !== 'string') throw error;
    // One line for the journal; code and syscall kept, so the CLI still exits 1 (a port still held
    // by a stopping process is worth a restart, unlike a configuration error).
    const where = fd !== undefined ? `the socket passed by systemd (fd ${fd})` : listen.label;
    const hint =
      errno.code === 'EADDRINUSE'
        ? ': the address is in use (another process, or a gateway still stopping)'
        : listen.kind === 'unix' && fd === undefined && (errno.code === 'EACCES' || errno.code === 'ENOENT')
          ? ': its directory must exist and be writable by the gateway user (the unit\'s RuntimeDirectory= is /run/rtorrent-gateway)'
          : errno.code === 'EACCES'
            ? ': permission denied (ports below 1024 need rtorrent-gateway.socket)'
            : '';
    throw Object.assign(new Error(`server.listen: cannot listen on ${where}${hint} (${errno.code ?? errno.message})`, { cause: error }), {
      code: errno.code,
      syscall: errno.syscall,
    });
  }
}
