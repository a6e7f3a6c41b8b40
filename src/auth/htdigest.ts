import { credentialLines, readCredentialFile } from './credential-file.js';
import { HtpasswdError } from '../errors.js';

/** The RFC 7616 algorithms we can verify from a stored HA1. */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

/**
 * One user's Digest credentials for one realm. HA1 is `H(user:realm:password)` in lower-case hex;
 * it is password-equivalent for Digest, so it is never put into a message.
 */
export interface HtdigestEntry {
  readonly realm: string;
  readonly ha1: { readonly MD5?: string; readonly 'SHA-256'?: string };
}

const CREATE_HINT = 'create it with "htdigest"';

/**
 * Apache's htdigest only ever writes MD5 HA1s (32 hex digits). As an extension, a line whose HA1
 * has 64 hex digits is a SHA-256 HA1 (`printf '%s' 'user:realm:password' | sha256sum`); the length
 * alone tells the two apart, so a file stays readable by Apache, which just never matches it.
 */
function algorithmOf(ha1: string): DigestAlgorithm | undefined {
  if (/^[0-9a-fA-F]{32}$/.test(ha1)) return 'MD5';
  if (/^[0-9a-fA-F]{64}$/.test(ha1)) return 'SHA-256';
  return undefined;
}

/**
 * Parses Apache htdigest text (`user:realm:ha1` per line). With `realm`, entries for other realms
 * are skipped: their HA1 has the other realm baked in and could never match our challenge. A user
 * may have one MD5 line and one SHA-256 line in the same realm; anything else doubtful is an error
 * for the same reason as in parseHtpasswd: a half-read user list is worse than none.
 */
export function parseHtdigest(text: string, file: string, realm?: string): Map<string, HtdigestEntry> {
  if (realm !== undefined && /[:\r\n]/.test(realm)) {
    // The file format separates fields with ":" and so cannot hold such a realm at all.
    throw new HtpasswdError(
      `${file}: realm ${JSON.stringify(realm)} cannot be used with an htdigest file (it contains ":" or a line break)`,
    );
  }
  const users = new Map<string, { realm: string; ha1: { MD5?: string; 'SHA-256'?: string } }>();
  const definedOn = new Map<string, number>();
  const otherRealms = new Set<string>();
  credentialLines(text).forEach(({ lineNo, line }) => {
    const fields = line.split(':');
    if (fields.length !== 3) {
      throw new HtpasswdError(
        `${file} line ${lineNo}: expected "user:realm:hash" (3 fields separated by ":"), found ${fields.length}`,
      );
    }
    const [user = '', lineRealm = '', ha1 = ''] = fields;
    const where = `${file} line ${lineNo} (user ${JSON.stringify(user)})`;
    if (user === '') throw new HtpasswdError(`${file} line ${lineNo}: empty user name`);
    if (lineRealm === '') throw new HtpasswdError(`${where}: empty realm`);

    const algorithm = algorithmOf(ha1);
    if (algorithm === undefined) {
      throw new HtpasswdError(
        `${where}: not an MD5 (32 hex digits) or SHA-256 (64 hex digits) digest; ${CREATE_HINT}`,
      );
    }
    if (realm !== undefined && lineRealm !== realm) {
      otherRealms.add(lineRealm);
      return;
    }

    const existing = users.get(user);
    if (existing !== undefined && existing.realm !== lineRealm) {
      throw new HtpasswdError(
        `${where}: user appears in realms ${JSON.stringify(existing.realm)} and ${JSON.stringify(lineRealm)}; ` +
          'say which realm to use',
      );
    }
    // The key includes the algorithm so the one legitimate repetition, MD5 plus SHA-256, passes.
    const key = `${user}\0${algorithm}`;
    const first = definedOn.get(key);
    if (first !== undefined) {
      throw new HtpasswdError(`${where}: duplicate ${algorithm} entry, already defined on line ${first}`);
    }
    const entry = existing ?? { realm: lineRealm, ha1: {} };
    // Clients send lower-case hex, and comparing like with like keeps the check simple.
    entry.ha1[algorithm] = ha1.toLowerCase();
    users.set(user, entry);
    definedOn.set(key, lineNo);
  });

  if (realm !== undefined && users.size === 0 && otherRealms.size > 0) {
    // Everyone would get 401 with no hint why; a realm mismatch is the likely mistake.
    const found = [...otherRealms].map((r) => JSON.stringify(r)).join(', ');
    throw new HtpasswdError(`${file}: no entries for realm ${JSON.stringify(realm)}; the file has realm(s) ${found}`);
  }
  return users;
}

export async function loadHtdigest(file: string, realm: string): Promise<Map<string, HtdigestEntry>> {
  return parseHtdigest(await readCredentialFile(file, 'htdigest'), file, realm);
}
