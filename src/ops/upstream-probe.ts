import { statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { SocketAddress } from '../config/address.js';
import { UpstreamError } from '../errors.js';
import { Upstream } from '../upstream/upstream.js';
import { askVersion, type VersionAnswer } from '../upstream/version.js';
import { ok, warning, type Finding } from './check-findings.js';
import { allows, blockingDirectory, describeIdentity, describeOwnership, permissionFix, type Identity } from './path-access.js';
import { protectHomeAdvice, unitFiles } from './systemd-unit.js';

/**
 * `--check`'s question to each rtorrent: can this process reach its socket, and does rtorrent
 * answer there? Asked through the gateway's own upstream code, so "ok" means what a call would
 * see; what is in the way is named (the missing path, the directory or mode bit, the stopped
 * rtorrent). A finding here is never an error: the gateway starts without rtorrent and answers 502
 * until it is back, and a reload must not hang on it.
 */

export interface UpstreamTarget {
  /** The key that names it: `upstream.scgi`, `upstreams.alice.scgi`. */
  readonly key: string;
  readonly address: SocketAddress;
}

export interface ProbeOptions {
  /** Whose access to check: the running process. */
  readonly identity: Identity;
  /** Short: a check that waits a minute on a hung rtorrent holds up a reload. */
  readonly timeoutMs: number;
  /** The systemd unit files to read ProtectHome= from (default: as systemd would find them). */
  readonly unitFiles?: readonly string[];
}

const KIND_NAMES: ReadonlyArray<readonly [(stats: Stats) => boolean, string]> = [
  [(stats) => stats.isFile(), 'a regular file'],
  [(stats) => stats.isDirectory(), 'a directory'],
  [(stats) => stats.isFIFO(), 'a named pipe'],
  [(stats) => stats.isSymbolicLink(), 'a symbolic link'],
];

function errnoOf(error: unknown): string | undefined {
  const cause = error instanceof UpstreamError ? error.cause : error;
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}

/** The nearest directory above `path` that exists, for "neither does its directory". */
function nearestExisting(path: string): string {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      // Keep going up.
    }
    if (dir === dirname(dir)) return dir;
  }
}

function missingSocket(path: string): string {
  const dir = dirname(path);
  const nearest = nearestExisting(path);
  const where =
    nearest === dir
      ? `its directory ${dir} exists`
      : `neither does its directory ${dir} (the nearest that exists is ${nearest})`;
  return `the socket ${path} does not exist; ${where}: is rtorrent running, with network.scgi.open_local = ${path}?`;
}

function blockedBy(path: string, who: Identity): string | undefined {
  const blocking = blockingDirectory(path, who);
  if (blocking === undefined) return undefined;
  return (
    `permission denied: the directory ${blocking.directory} (${describeOwnership(blocking.ownership)}) does not let ${describeIdentity(who)} ` +
    `search it, so nothing inside can be reached; ${permissionFix(blocking.directory, blocking.ownership, who, 'search')}`
  );
}

/** Before connecting: whatever the path itself says is wrong, or undefined when a socket is there. */
function socketPathProblem(path: string, who: Identity): string | undefined {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    switch (errnoOf(error)) {
      case 'ENOENT':
        return missingSocket(path);
      case 'EACCES':
        return blockedBy(path, who) ?? `permission denied looking up ${path}, though the directories' permission bits allow it: check their ACLs (getfacl) or AppArmor/SELinux`;
      case 'ENOTDIR':
        return `a part of ${path} is not a directory`;
      default:
        return `cannot look up ${path}: ${(error as Error).message}`;
    }
  }
  if (stats.isSocket()) return undefined;
  const kind = KIND_NAMES.find(([test]) => test(stats))?.[1] ?? 'not a socket';
  return `${path} is ${kind}, not a socket: does network.scgi.open_local point there?`;
}

function socketNotWritable(path: string, who: Identity): string {
  const blocked = blockedBy(path, who);
  if (blocked !== undefined) return blocked;
  let ownership;
  try {
    ownership = statSync(path);
  } catch {
    return `permission denied connecting to ${path}`;
  }
  if (allows(ownership, who, 'write')) {
    return `permission denied connecting to ${path} (${describeOwnership(ownership)}), though its permission bits allow ${describeIdentity(who)} to write: check its ACL (getfacl) or AppArmor/SELinux`;
  }
  return (
    `permission denied: connecting needs write permission on the socket, and ${path} (${describeOwnership(ownership)}) gives none to ${describeIdentity(who)}; ` +
    `${permissionFix(path, ownership, who, 'write')}; rtorrent creates it group-writable under system.umask.set = 0007 (README, "Socket permissions")`
  );
}

function connectProblem(address: SocketAddress, error: unknown, options: ProbeOptions): string {
  const code = errnoOf(error);
  if (error instanceof UpstreamError && error.code === 'GW_UPSTREAM_TIMEOUT') {
    return `no answer within ${options.timeoutMs} ms: rtorrent is busy or hung there${address.kind === 'tcp' ? ', or a firewall drops the connection' : ''}`;
  }
  if (error instanceof UpstreamError && error.code === 'GW_UPSTREAM_BAD_RESPONSE') {
    return `something answered, but not as rtorrent does: ${error.message}`;
  }
  if (address.kind === 'unix') {
    switch (code) {
      case 'ECONNREFUSED':
        return `connection refused: nothing accepts connections on ${address.path}; rtorrent has stopped and left its socket file behind, or another program made it`;
      case 'EACCES':
      case 'EPERM':
        return socketNotWritable(address.path, options.identity);
      case 'ENOENT':
        return missingSocket(address.path);
    }
  } else {
    const where = `${address.host}:${address.port}`;
    switch (code) {
      case 'ECONNREFUSED':
        return `connection refused: nothing listens on ${where}; is rtorrent running, with network.scgi.open_port = ${where}?`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `the host name ${address.host} cannot be resolved`;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `${address.host} cannot be reached from here (no route)`;
      case 'ETIMEDOUT':
        return `connecting to ${where} timed out: the host is down, or a firewall drops the connection`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** rtorrent's answer to system.client_version, in words: its release, or why the answer is not one. */
function versionText(answer: VersionAnswer): string {
  if ('version' in answer) return `rtorrent ${answer.version} answers`;
  if ('status' in answer) return `answers with HTTP status ${answer.status} instead of an XML-RPC answer: is it rtorrent?`;
  if ('tooLarge' in answer) return `answers system.client_version with more than ${answer.tooLarge / 1024} KiB: is it rtorrent?`;
  if ('fault' in answer) return `answers, but system.client_version failed: ${answer.fault.faultString} (fault ${answer.fault.faultCode})`;
  return 'answers, but system.client_version names no release: is it rtorrent?';
}

export interface ProbeResult {
  /** rtorrent answered with its release. */
  readonly answered: boolean;
  readonly findings: readonly Finding[];
}

export async function probeUpstream(target: UpstreamTarget, options: ProbeOptions): Promise<ProbeResult> {
  const { address } = target;
  const subject = `${target.key} ${address.label}`;
  const findings: Finding[] = [];
  if (address.kind === 'unix') {
    const advice = protectHomeAdvice(address.path, options.unitFiles ?? unitFiles());
    if (advice !== undefined) findings.push(warning(`${subject}: ${advice}`));
    const problem = socketPathProblem(address.path, options.identity);
    if (problem !== undefined) return { answered: false, findings: [warning(`${subject}: ${problem}`), ...findings] };
  }
  const upstream = new Upstream(address, { timeoutMs: options.timeoutMs, maxConnections: 1, maxQueue: 0 });
  try {
    const answer = await askVersion(upstream);
    if (!('version' in answer)) return { answered: false, findings: [warning(`${subject}: ${versionText(answer)}`), ...findings] };
    const asRoot =
      address.kind === 'unix' && options.identity.overridesPermissions
        ? " (checked with root's power over file permissions: run --check as the service's user to test its own access)"
        : '';
    return { answered: true, findings: [ok(`${subject}: ${versionText(answer)}${asRoot}`), ...findings] };
  } catch (error) {
    return { answered: false, findings: [warning(`${subject}: ${connectProblem(address, error, options)}`), ...findings] };
  }
}
