import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Who may reach a file, by its permission bits: the kernel only says EACCES, and an operator needs
 * to know which directory or which mode bit is in the way. Every question takes the identity
 * explicitly, so the same walk answers for the running process and, in tests, for anyone.
 */

export interface Identity {
  readonly uid: number;
  /** The primary group and every supplementary one. */
  readonly gids: readonly number[];
  /** CAP_DAC_OVERRIDE (root, unless dropped): read, write and search whatever the bits say. */
  readonly overridesPermissions: boolean;
  /** CAP_DAC_READ_SEARCH: read files and search directories whatever the bits say. */
  readonly readsAndSearchesAll: boolean;
}

export interface Ownership {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export type Access = 'search' | 'read' | 'write';

const CAP_DAC_OVERRIDE = 1n;
const CAP_DAC_READ_SEARCH = 2n;

/** The capabilities in effect, from /proc; root without them (setpriv, a container) is an ordinary user. */
function effectiveCapabilities(): bigint | undefined {
  try {
    const match = /^CapEff:\s*([0-9a-f]+)$/im.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? BigInt(`0x${match[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

export function processIdentity(): Identity {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const gids = [gid, ...(process.getgroups?.() ?? []).filter((group) => group !== gid)];
  const caps = effectiveCapabilities();
  const has = (bit: bigint): boolean => (caps === undefined ? uid === 0 : ((caps >> bit) & 1n) === 1n);
  return { uid, gids, overridesPermissions: has(CAP_DAC_OVERRIDE), readsAndSearchesAll: has(CAP_DAC_READ_SEARCH) };
}

const WANTED_BIT: Readonly<Record<Access, number>> = { search: 1, write: 2, read: 4 };

/** The kernel's rule (ACLs and security modules aside): the owner's bits, else the group's, else the others'. */
export function allows(file: Ownership, who: Identity, access: Access): boolean {
  if (who.overridesPermissions) return true;
  if (who.readsAndSearchesAll && access !== 'write') return true;
  const bits = file.uid === who.uid ? (file.mode >> 6) & 7 : who.gids.includes(file.gid) ? (file.mode >> 3) & 7 : file.mode & 7;
  return (bits & WANTED_BIT[access]) !== 0;
}

export type StatFn = (path: string) => Ownership;

const statOwnership: StatFn = (path) => statSync(path);

/** The directories that lead to `path`, from the root down to its own directory. */
export function directoriesTo(path: string): string[] {
  const dirs: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dir === dirname(dir)) return dirs;
  }
}

export interface BlockingDirectory {
  readonly directory: string;
  readonly ownership: Ownership;
}

/**
 * The first directory on the way to `path` that `who` may not search, or undefined when each one
 * lets them through (as far as it exists: a missing directory is another problem).
 */
export function blockingDirectory(path: string, who: Identity, stat: StatFn = statOwnership): BlockingDirectory | undefined {
  for (const directory of directoriesTo(path)) {
    let ownership: Ownership;
    try {
      ownership = stat(directory);
    } catch {
      return undefined;
    }
    if (!allows(ownership, who, 'search')) return { directory, ownership };
  }
  return undefined;
}

// --- names, as ls shows them -------------------------------------------------------------------

function idNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
    }
  } catch {
    // No /etc/passwd (a scratch container): numbers only.
  }
  return names;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

export function userName(uid: number): string {
  users ??= idNames('/etc/passwd');
  return users.get(uid) ?? String(uid);
}

export function groupName(gid: number): string {
  groups ??= idNames('/etc/group');
  return groups.get(gid) ?? String(gid);
}

const FILE_TYPES: ReadonlyArray<readonly [number, string]> = [
  [0o140000, 's'],
  [0o120000, 'l'],
  [0o100000, '-'],
  [0o060000, 'b'],
  [0o040000, 'd'],
  [0o020000, 'c'],
  [0o010000, 'p'],
];

/** `drwxr-x--- rtorrent:rtorrent`, as `ls -l` would show it. */
export function describeOwnership(file: Ownership): string {
  const type = FILE_TYPES.find(([bits]) => (file.mode & 0o170000) === bits)?.[1] ?? '?';
  let text = type;
  for (const shift of [6, 3, 0]) {
    const bits = (file.mode >> shift) & 7;
    text += `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  }
  return `${text} ${userName(file.uid)}:${groupName(file.gid)}`;
}

/** `uid 998 (rtorrent-gateway; groups rtorrent-gateway, rtorrent)`. */
export function describeIdentity(who: Identity): string {
  const name = userName(who.uid);
  const groups = `groups ${who.gids.map(groupName).join(', ')}`;
  return name === String(who.uid) ? `uid ${who.uid} (${groups})` : `uid ${who.uid} (${name}; ${groups})`;
}

/** What would let `who` through, in the order an operator would try it. */
export function permissionFix(path: string, file: Ownership, who: Identity, access: Access): string {
  const letter = access === 'search' ? 'x' : access === 'write' ? 'w' : 'r';
  const group = groupName(file.gid);
  if (file.uid === who.uid) return `chmod u+${letter} ${path}`;
  const groupHas = ((file.mode >> 3) & WANTED_BIT[access]) !== 0;
  if (who.gids.includes(file.gid)) return `chmod g+${letter} ${path}`;
  const join = `add ${userName(who.uid)} to group ${group} (SupplementaryGroups=${group} under systemd, else usermod -aG ${group} ${userName(who.uid)})`;
  return groupHas ? join : `chmod g+${letter} ${path}, and ${join}`;
}
