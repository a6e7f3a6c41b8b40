import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseHtdigest } from '../auth/htdigest.js';
import { parseHtpasswd } from '../auth/htpasswd.js';
import { GatewayError } from '../errors.js';
import { error, ok, warning, type Finding } from './check-findings.js';
import { blockingDirectory, describeIdentity, describeOwnership, permissionFix, type Identity } from './path-access.js';

/**
 * `--check`'s look at the htpasswd and htdigest files. A file that is not there, or that holds a
 * line the gateway refuses, is an error: the gateway would not start with it. A file this process
 * cannot read is a warning, since the check may run as another user than the service; an empty
 * one is a warning too, since the gateway starts but nobody can log in.
 */

export interface CredentialFile {
  /** `auth.htpasswd` or `auth.htdigest`. */
  readonly key: string;
  readonly file: string;
  /** The file's users, or a GatewayError naming the line that is wrong. */
  readonly parse: (text: string) => ReadonlyMap<string, unknown>;
}

export function htpasswdFile(file: string): CredentialFile {
  return { key: 'auth.htpasswd', file, parse: (text) => parseHtpasswd(text, file) };
}

export function htdigestFile(file: string, realm: string): CredentialFile {
  return { key: 'auth.htdigest', file, parse: (text) => parseHtdigest(text, file, realm) };
}

export interface CredentialCheck {
  readonly findings: Finding[];
  /** The users the file holds; undefined when it could not be read or parsed. */
  readonly users: ReadonlySet<string> | undefined;
}

const CREATE_HINTS: Readonly<Record<string, string>> = {
  'auth.htpasswd': 'htpasswd -B FILE USER',
  'auth.htdigest': 'htdigest FILE REALM USER',
};

async function unreadable(file: string, who: Identity): Promise<string> {
  const blocking = blockingDirectory(file, who);
  if (blocking !== undefined) {
    return (
      `cannot be read by ${describeIdentity(who)}: the directory ${blocking.directory} (${describeOwnership(blocking.ownership)}) does not let it search; ` +
      permissionFix(blocking.directory, blocking.ownership, who, 'search')
    );
  }
  try {
    const ownership = await stat(file);
    return `cannot be read by ${describeIdentity(who)}: the file is ${describeOwnership(ownership)}; ${permissionFix(file, ownership, who, 'read')}`;
  } catch {
    return `cannot be read by ${describeIdentity(who)}`;
  }
}

async function directoryNote(file: string): Promise<string> {
  try {
    await stat(dirname(file));
    return `its directory ${dirname(file)} exists`;
  } catch {
    return `neither does its directory ${dirname(file)}`;
  }
}

export async function checkCredentialFile(credentials: CredentialFile, who: Identity): Promise<CredentialCheck> {
  const subject = `${credentials.key} ${credentials.file}`;
  let text: string;
  try {
    text = await readFile(credentials.file, 'utf8');
  } catch (readError) {
    const code = (readError as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      const reason = await unreadable(credentials.file, who);
      return {
        findings: [warning(`${subject}: ${reason} (the gateway will not start or reload unless its own user can read it)`)],
        users: undefined,
      };
    }
    if (code === 'ENOENT') return { findings: [error(`${subject}: the file does not exist; ${await directoryNote(credentials.file)}`)], users: undefined };
    if (code === 'EISDIR') return { findings: [error(`${subject}: is a directory, not a file`)], users: undefined };
    return { findings: [error(`${subject}: cannot be read: ${(readError as Error).message}`)], users: undefined };
  }
  let users: ReadonlyMap<string, unknown>;
  try {
    users = credentials.parse(text);
  } catch (parseError) {
    if (parseError instanceof GatewayError) return { findings: [error(parseError.message)], users: undefined };
    throw parseError;
  }
  const names = new Set(users.keys());
  if (names.size === 0) {
    return {
      findings: [warning(`${subject}: holds no users, so nobody can log in; add one with ${CREATE_HINTS[credentials.key] ?? 'its tool'}`)],
      users: names,
    };
  }
  return { findings: [ok(`${subject}: ${names.size} ${names.size === 1 ? 'user' : 'users'}`)], users: names };
}
