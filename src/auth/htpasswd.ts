import { createHash, timingSafeEqual } from 'node:crypto';
import aprMd5 from 'apache-md5';
import bcrypt from 'bcryptjs';
import { credentialLines, readCredentialFile } from './credential-file.js';
import { HtpasswdError } from '../errors.js';

export type PasswordScheme = 'bcrypt' | 'apr1' | 'sha1';

/** A stored hash whose scheme has been recognised and whose shape has been checked. */
export interface PasswordHash {
  readonly scheme: PasswordScheme;
  readonly hash: string;
}

const B64_CRYPT = '[./A-Za-z0-9]';
const BCRYPT_RE = new RegExp(`^\\$2[aby]\\$(\\d\\d)\\$${B64_CRYPT}{53}$`);
const APR1_RE = new RegExp(`^\\$apr1\\$${B64_CRYPT}{1,8}\\$${B64_CRYPT}{22}$`);
// 20 bytes of SHA-1 in padded base64 is always 27 characters and one '='.
const SHA1_RE = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;

const CREATE_HINT = 'create it with "htpasswd -B"';

/**
 * Classifies one stored hash. Returns a reason instead of throwing so the caller can put the file
 * and line in front of it. The reason never quotes the hash: for a plain-text entry that would
 * copy the password into logs.
 */
function classify(hash: string): PasswordHash | { problem: string } {
  if (hash === '') return { problem: `empty password hash; ${CREATE_HINT}` };
  if (hash.startsWith('$2')) {
    const m = BCRYPT_RE.exec(hash);
    if (!m) return { problem: `malformed bcrypt hash; ${CREATE_HINT}` };
    const cost = Number(m[1]);
    if (cost < 4 || cost > 31) return { problem: `bcrypt cost ${cost} is outside 4..31; ${CREATE_HINT}` };
    return { scheme: 'bcrypt', hash };
  }
  if (hash.startsWith('$apr1$')) {
    return APR1_RE.test(hash) ? { scheme: 'apr1', hash } : { problem: `malformed apr1 MD5 hash; ${CREATE_HINT}` };
  }
  if (hash.startsWith('{SHA}')) {
    return SHA1_RE.test(hash) ? { scheme: 'sha1', hash } : { problem: `malformed {SHA} hash; ${CREATE_HINT}` };
  }
  // Name the schemes people are likely to paste from /etc/shadow or `openssl passwd`, so the
  // message says why a "real hash" is still refused.
  if (hash.startsWith('$1$')) return { problem: `MD5-crypt ($1$) hashes are not supported; ${CREATE_HINT}` };
  if (hash.startsWith('$5$')) return { problem: `SHA-256-crypt ($5$) hashes are not supported; ${CREATE_HINT}` };
  if (hash.startsWith('$6$')) return { problem: `SHA-512-crypt ($6$) hashes are not supported; ${CREATE_HINT}` };
  return { problem: `plain-text or unsupported password hash; ${CREATE_HINT}` };
}

/**
 * Parses Apache htpasswd text. Unlike Apache, which silently takes the first of duplicate users and
 * treats unknown hashes as plain text, every doubtful line is an error: a gateway that starts with
 * a half-read user list is worse than one that refuses to start.
 */
export function parseHtpasswd(text: string, file: string): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>();
  const definedOn = new Map<string, number>();
  credentialLines(text).forEach(({ lineNo, line }) => {
    const colon = line.indexOf(':');
    if (colon < 0) {
      throw new HtpasswdError(`${file} line ${lineNo}: no ":" between user and password hash`);
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const where = `${file} line ${lineNo} (user ${JSON.stringify(user)})`;

    if (user === '') throw new HtpasswdError(`${file} line ${lineNo}: empty user name`);
    const first = definedOn.get(user);
    if (first !== undefined) {
      throw new HtpasswdError(`${where}: duplicate user, already defined on line ${first}`);
    }

    const parsed = classify(hash);
    if ('problem' in parsed) throw new HtpasswdError(`${where}: ${parsed.problem}`);
    users.set(user, parsed);
    definedOn.set(user, lineNo);
  });

  return users;
}

export async function loadHtpasswd(file: string): Promise<Map<string, PasswordHash>> {
  return parseHtpasswd(await readCredentialFile(file, 'htpasswd'), file);
}

/**
 * Hashing both sides first gives timingSafeEqual the equal lengths it requires without an early
 * length check that would itself leak whether the lengths matched.
 */
function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  switch (hash.scheme) {
    case 'bcrypt':
      // bcryptjs accepts $2y$ as well as $2a$/$2b$ (they differ only in C implementations' bugs),
      // encodes the password as UTF-8 like htpasswd does, and compares in constant time itself.
      return bcrypt.compare(password, hash.hash);
    case 'apr1': {
      // apache-md5 feeds the string to MD5 one byte per UTF-16 code unit; handing it the UTF-8
      // bytes as a latin1 string makes non-ASCII passwords hash the way htpasswd hashed them.
      const computed = aprMd5(Buffer.from(password, 'utf8').toString('latin1'), hash.hash);
      return constantTimeEqual(Buffer.from(computed, 'utf8'), Buffer.from(hash.hash, 'utf8'));
    }
    case 'sha1': {
      const computed = createHash('sha1').update(password, 'utf8').digest();
      const stored = Buffer.from(hash.hash.slice('{SHA}'.length), 'base64');
      return constantTimeEqual(computed, stored);
    }
  }
}
