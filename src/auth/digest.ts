import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HtpasswdError } from '../errors.js';
import type { DigestAlgorithm, HtdigestEntry } from './htdigest.js';

const NODE_HASH = { MD5: 'md5', 'SHA-256': 'sha256' } as const satisfies Record<DigestAlgorithm, string>;
const HEX_LENGTH = { MD5: 32, 'SHA-256': 64 } as const satisfies Record<DigestAlgorithm, number>;
// RFC 7616 §3.7: the server lists the algorithm it prefers first, and clients take the first one
// they can do.
const PREFERENCE: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

/**
 * Strings taken from request headers hold one character per byte (Node decodes headers as
 * latin1), so hashing them as latin1 gives back exactly the bytes the client hashed.
 */
function wireBytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Hex digest of `data`; strings are hashed as UTF-8 unless they are header bytes (see wireBytes). */
export function digestHash(algorithm: DigestAlgorithm, data: string | Buffer): string {
  return createHash(NODE_HASH[algorithm]).update(data).digest('hex');
}

/** HA1 = H(user:realm:password) as htdigest computes it, for tests and tooling. */
export function digestHa1(algorithm: DigestAlgorithm, user: string, realm: string, password: string): string {
  return digestHash(algorithm, Buffer.from(`${user}:${realm}:${password}`, 'utf8'));
}

export interface DigestResponseInput {
  readonly algorithm: DigestAlgorithm;
  readonly ha1: string;
  readonly method: string;
  readonly uri: string;
  readonly nonce: string;
  readonly nc: string;
  readonly cnonce: string;
  readonly qop: string;
}

/** The `response` value for qop=auth (RFC 7616 §3.4.1), in lower-case hex. */
export function digestResponse(input: DigestResponseInput): string {
  const { algorithm } = input;
  const ha2 = digestHash(algorithm, wireBytes(`${input.method}:${input.uri}`));
  return digestHash(
    algorithm,
    wireBytes(`${input.ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`),
  );
}

// RFC 9110 §5.6.2 token characters.
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

function isCtl(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return (code < 0x20 && ch !== '\t') || code === 0x7f;
}

/**
 * Parses `Digest name=value, name="quoted \"value\"", …` into lower-cased names and unquoted
 * values. Written against the RFC 9110 grammar rather than with a regex, because quoted strings
 * may contain commas, equals signs and escaped quotes that a split would cut apart. A parameter
 * given twice is refused: which copy a client meant is unknowable, and an attacker could hope we
 * check one copy and hash the other.
 */
export function parseDigestCredentials(header: string): Map<string, string> | { error: string } {
  const scheme = /^[ \t]*Digest(?:[ \t]+|$)/i.exec(header);
  if (!scheme) return { error: 'not Digest credentials' };
  const s = header;
  let i = scheme[0].length;
  const params = new Map<string, string>();
  const skipWhitespace = (): void => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };

  for (;;) {
    // Empty list elements (",,") are allowed by RFC 9110 §5.6.1 and some clients emit them.
    skipWhitespace();
    while (s[i] === ',') {
      i++;
      skipWhitespace();
    }
    if (i >= s.length) break;

    const nameStart = i;
    while (i < s.length && TCHAR.test(s[i] as string)) i++;
    if (i === nameStart) return { error: `unexpected character at offset ${i} of the Digest credentials` };
    const name = s.slice(nameStart, i).toLowerCase();
    skipWhitespace();
    if (s[i] !== '=') return { error: `Digest parameter ${name} has no value` };
    i++;
    skipWhitespace();

    let value = '';
    if (s[i] === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        let ch = s[i] as string;
        if (ch === '"') {
          closed = true;
          i++;
          break;
        }
        if (ch === '\\') {
          i++;
          if (i >= s.length) break;
          ch = s[i] as string;
        }
        if (isCtl(ch)) return { error: `control character in Digest parameter ${name}` };
        value += ch;
        i++;
      }
      if (!closed) return { error: `unterminated quoted string in Digest parameter ${name}` };
    } else {
      const valueStart = i;
      while (i < s.length && TCHAR.test(s[i] as string)) i++;
      if (i === valueStart) return { error: `Digest parameter ${name} has an empty or malformed value` };
      value = s.slice(valueStart, i);
    }

    if (params.has(name)) return { error: `Digest parameter ${name} is given twice` };
    params.set(name, value);
    skipWhitespace();
    if (i < s.length && s[i] !== ',') return { error: `expected "," after Digest parameter ${name}` };
  }
  return params;
}

/**
 * User names and realms travel as raw bytes; clients send UTF-8, which Node hands us as latin1
 * characters. Decode them so they match the names read from the UTF-8 htdigest file, and keep the
 * latin1 reading when the bytes are not UTF-8 (such a name simply will not be found).
 */
function fromWire(s: string): string {
  if (!/[^\x00-\x7f]/.test(s)) return s;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(wireBytes(s));
  } catch {
    return s;
  }
}

/** RFC 8187 ext-value, as used by `username*`; only UTF-8 is allowed by RFC 7616 §3.4.4. */
function decodeExtValue(value: string): string | undefined {
  const m = /^UTF-8'[^']*'(.*)$/i.exec(value);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1] as string);
  } catch {
    return undefined;
  }
}

export interface DigestNonceOptions {
  /** How long a nonce is accepted after it was issued. */
  ttlMs?: number;
  /** HMAC key for nonces; at least 16 bytes. Random per process by default. */
  secret?: Buffer;
  /** Milliseconds clock; injectable for tests. */
  now?: () => number;
  /** Upper bound on nonces whose last nonce count is remembered. */
  maxTracked?: number;
}

export type NonceCheck =
  | { readonly state: 'forged' }
  | { readonly state: 'expired'; readonly issuedAt: number }
  | { readonly state: 'fresh'; readonly issuedAt: number };

// Nonce layout: 6 bytes issue time (ms, big-endian; enough until the year 10889), 10 random bytes
// so nonces issued in the same millisecond differ, then the HMAC-SHA-256 of those 16 bytes.
const STAMP_BYTES = 6;
const BODY_BYTES = 16;
const MAC_BYTES = 32;
const NONCE_RE = /^[A-Za-z0-9_-]{64}$/; // 48 bytes in unpadded base64url

/**
 * Performance time is monotonic, so a wall-clock step backwards (NTP, suspend) can neither revive
 * an expired nonce nor expire fresh ones early; timeOrigin keeps it close to epoch milliseconds
 * for nonces that outlive a restart when a fixed secret is configured.
 */
function monotonicNow(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}

/**
 * Issues stateless, HMAC-signed nonces and remembers, per nonce that has been used, the highest
 * nonce count seen. Kept apart from DigestAuthenticator so a reloaded user list can keep the same
 * secret and replay memory: pass the old instance's `nonces` to the new one.
 */
export class DigestNonces {
  readonly ttlMs: number;
  /**
   * Sent with every challenge because RFC 7616 expects one; clients echo it. Derived from the
   * secret so instances sharing a secret agree on it. It carries no security weight.
   */
  readonly opaque: string;
  readonly #secret: Buffer;
  readonly #now: () => number;
  readonly #maxTracked: number;
  readonly #tracked = new Map<string, { readonly issuedAt: number; nc: number }>();
  // Nonces issued at or before this time are no longer tracked, so they must not be accepted:
  // forgetting a nonce's count would otherwise reopen it to replay.
  #forgottenUpTo = Number.NEGATIVE_INFINITY;
  #lastSweep: number;

  constructor(options: DigestNonceOptions = {}) {
    this.ttlMs = options.ttlMs ?? 300_000;
    if (!(this.ttlMs > 0) || !Number.isFinite(this.ttlMs)) {
      throw new RangeError('nonce lifetime must be a positive number of milliseconds');
    }
    this.#secret = options.secret ?? randomBytes(32);
    if (this.#secret.length < 16) throw new RangeError('Digest nonce secret must be at least 16 bytes');
    this.#now = options.now ?? monotonicNow;
    this.#maxTracked = options.maxTracked ?? 10_000;
    if (!Number.isInteger(this.#maxTracked) || this.#maxTracked < 1) {
      throw new RangeError('maxTracked must be a positive integer');
    }
    this.opaque = createHmac('sha256', this.#secret).update('opaque').digest('base64url');
    this.#lastSweep = this.#now();
  }

  /** How many nonces currently have a remembered nonce count (for tests and metrics). */
  get trackedCount(): number {
    return this.#tracked.size;
  }

  issue(): string {
    const body = Buffer.alloc(BODY_BYTES);
    body.writeUIntBE(Math.floor(this.#now()), 0, STAMP_BYTES);
    randomBytes(BODY_BYTES - STAMP_BYTES).copy(body, STAMP_BYTES);
    return Buffer.concat([body, this.#mac(body)]).toString('base64url');
  }

  /** Whether we issued this nonce, and whether it is still within its lifetime. */
  check(nonce: string): NonceCheck {
    if (!NONCE_RE.test(nonce)) return { state: 'forged' };
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== BODY_BYTES + MAC_BYTES) return { state: 'forged' };
    const body = raw.subarray(0, BODY_BYTES);
    if (!timingSafeEqual(this.#mac(body), raw.subarray(BODY_BYTES))) return { state: 'forged' };
    const issuedAt = body.readUIntBE(0, STAMP_BYTES);
    return this.#now() - issuedAt > this.ttlMs ? { state: 'expired', issuedAt } : { state: 'fresh', issuedAt };
  }

  /**
   * Records a nonce count for a fresh nonce. Call only once the response has been verified: an
   * unauthenticated request must not be able to burn counts or fill the table.
   */
  use(nonce: string, issuedAt: number, nc: number): 'ok' | 'replayed' | 'forgotten' {
    const now = this.#now();
    if (now - this.#lastSweep >= this.ttlMs) this.#sweepExpired(now);
    if (issuedAt <= this.#forgottenUpTo) return 'forgotten';
    const seen = this.#tracked.get(nonce);
    if (seen !== undefined) {
      if (nc <= seen.nc) return 'replayed';
      seen.nc = nc;
      return 'ok';
    }
    this.#tracked.set(nonce, { issuedAt, nc });
    if (this.#tracked.size > this.#maxTracked) this.#shrink(now);
    return 'ok';
  }

  #mac(body: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(body).digest();
  }

  #forget(nonce: string, issuedAt: number): void {
    this.#tracked.delete(nonce);
    if (issuedAt > this.#forgottenUpTo) this.#forgottenUpTo = issuedAt;
  }

  #sweepExpired(now: number): void {
    this.#lastSweep = now;
    for (const [nonce, { issuedAt }] of this.#tracked) {
      if (now - issuedAt > this.ttlMs) this.#forget(nonce, issuedAt);
    }
  }

  /**
   * Over the limit with live nonces: drop the oldest-issued tenth at once, so the sort is paid
   * rarely. Their clients get stale=true next time and silently switch to a fresh nonce.
   */
  #shrink(now: number): void {
    this.#sweepExpired(now);
    if (this.#tracked.size <= this.#maxTracked) return;
    const target = Math.floor(this.#maxTracked * 0.9);
    const oldestFirst = [...this.#tracked].sort((a, b) => a[1].issuedAt - b[1].issuedAt);
    for (const [nonce, { issuedAt }] of oldestFirst) {
      if (this.#tracked.size <= target) break;
      this.#forget(nonce, issuedAt);
    }
  }
}

export interface DigestAuthenticatorOptions {
  readonly realm: string;
  readonly nonceTtlMs?: number;
  readonly secret?: Buffer;
  readonly now?: () => number;
  /** Nonce state to share with a previous instance (after a reload); excludes nonceTtlMs, secret and now. */
  readonly nonces?: DigestNonces;
  /**
   * Algorithms to offer, in preference order. By default every algorithm that all users have an
   * HA1 for, SHA-256 first. Set ['MD5'] for clients that take the first challenge and cannot do
   * SHA-256 (Python's urllib up to at least 3.13 raises on it instead of moving on).
   */
  readonly algorithms?: readonly DigestAlgorithm[];
}

export type DigestVerification =
  | { readonly ok: true; readonly user: string; readonly algorithm: DigestAlgorithm }
  | { readonly ok: false; readonly stale: boolean; readonly reason: string };

const REQUIRED = ['realm', 'nonce', 'uri', 'response', 'qop', 'nc', 'cnonce'] as const;

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Checks RFC 7616 Digest credentials (qop=auth, MD5 and SHA-256) against HA1s from an htdigest
 * file. Build a new instance when the file is reloaded, passing the old `nonces` along.
 */
export class DigestAuthenticator {
  readonly realm: string;
  readonly nonces: DigestNonces;
  readonly #users: ReadonlyMap<string, HtdigestEntry>;
  readonly #names: ReadonlySet<string>;
  readonly #offered: readonly DigestAlgorithm[];
  // Unknown users are checked against a random HA1 so they cost the same work as a wrong password.
  readonly #dummy: Readonly<Record<DigestAlgorithm, string>> = {
    MD5: randomBytes(16).toString('hex'),
    'SHA-256': randomBytes(32).toString('hex'),
  };

  constructor(users: ReadonlyMap<string, HtdigestEntry>, options: DigestAuthenticatorOptions) {
    const { realm } = options;
    if (realm === '' || /[\x00-\x1f\x7f:]/.test(realm)) {
      // A control character would break the header; ":" cannot occur in an htdigest realm.
      throw new RangeError(`Digest realm ${JSON.stringify(realm)} must be non-empty, without control characters or ":"`);
    }
    this.realm = realm;
    const ownNonceOptions = options.nonceTtlMs !== undefined || options.secret !== undefined || options.now !== undefined;
    if (options.nonces !== undefined && ownNonceOptions) {
      throw new TypeError('pass either nonces or nonceTtlMs/secret/now, not both');
    }
    this.nonces =
      options.nonces ?? new DigestNonces({ ttlMs: options.nonceTtlMs, secret: options.secret, now: options.now });

    // A private copy, and only this realm: HA1s of other realms can never match our challenge.
    const mine = new Map<string, HtdigestEntry>();
    for (const [user, entry] of users) if (entry.realm === realm) mine.set(user, entry);
    this.#users = mine;
    this.#names = new Set(mine.keys());

    // The challenge goes out before we know who is asking, so an algorithm is only worth offering
    // when every user can be verified with it; clients take the first one they support.
    const lacking = (algorithm: DigestAlgorithm): string[] =>
      [...mine].filter(([, entry]) => entry.ha1[algorithm] === undefined).map(([user]) => user);
    if (options.algorithms === undefined) {
      this.#offered = PREFERENCE.filter((algorithm) => lacking(algorithm).length === 0);
      if (this.#offered.length === 0) {
        throw new HtpasswdError(
          `no Digest algorithm is usable for every user of realm ${JSON.stringify(realm)}: ` +
            'give each user an MD5 (htdigest) entry',
        );
      }
    } else {
      if (options.algorithms.length === 0) throw new RangeError('at least one Digest algorithm must be offered');
      for (const algorithm of options.algorithms) {
        const missing = lacking(algorithm);
        if (missing.length > 0) {
          const names = missing.map((u) => JSON.stringify(u)).join(', ');
          throw new HtpasswdError(`Digest ${algorithm} is to be offered but user(s) ${names} have no ${algorithm} entry`);
        }
      }
      this.#offered = [...new Set(options.algorithms)];
    }
  }

  get users(): ReadonlySet<string> {
    return this.#names;
  }

  /** Offered algorithms in the order of the challenges. */
  get algorithms(): readonly DigestAlgorithm[] {
    return this.#offered;
  }

  /**
   * One `WWW-Authenticate` value per offered algorithm, preferred first, each with its own nonce.
   * `stale` tells the client its password was right and only the nonce was too old or reused, so
   * it retries without asking the user.
   */
  challenges(stale = false): string[] {
    return this.#offered.map((algorithm) => {
      const parts = [
        `realm=${quote(this.realm)}`,
        'qop="auth"',
        `algorithm=${algorithm}`,
        `nonce="${this.nonces.issue()}"`,
        `opaque="${this.nonces.opaque}"`,
      ];
      if (stale) parts.push('stale=true');
      return `Digest ${parts.join(', ')}`;
    });
  }

  /**
   * `requestUri` is the request target exactly as received (Node's `req.url`); the `uri`
   * parameter must equal it, or a captured Authorization header could be reused for another
   * path.
   */
  verify(authorization: string, method: string, requestUri: string): DigestVerification {
    const fail = (reason: string, stale = false): DigestVerification => ({ ok: false, stale, reason });
    const params = parseDigestCredentials(authorization);
    if ('error' in params) return fail(params.error);

    if (params.get('userhash')?.toLowerCase() === 'true') {
      return fail('userhash=true is not supported; send the plain user name');
    }
    const plainName = params.get('username');
    const extName = params.get('username*');
    if (plainName !== undefined && extName !== undefined) return fail('both username and username* are given');
    let user: string;
    if (plainName !== undefined) user = fromWire(plainName);
    else if (extName !== undefined) {
      const decoded = decodeExtValue(extName);
      if (decoded === undefined) return fail('username* is not a UTF-8 ext-value');
      user = decoded;
    } else return fail('missing Digest parameter username');

    const value: Partial<Record<(typeof REQUIRED)[number], string>> = {};
    for (const name of REQUIRED) {
      const v = params.get(name);
      if (v === undefined || v === '') return fail(`missing Digest parameter ${name}`);
      value[name] = v;
    }
    const { realm, nonce, uri, response, qop, nc, cnonce } = value as Record<(typeof REQUIRED)[number], string>;

    if (fromWire(realm) !== this.realm) return fail(`realm ${JSON.stringify(fromWire(realm))} is not ours`);
    if (qop.toLowerCase() !== 'auth') return fail(`qop ${JSON.stringify(qop)} is not supported, only "auth"`);
    if (!/^[0-9a-fA-F]{8}$/.test(nc)) return fail('nc must be 8 hex digits');
    const count = Number.parseInt(nc, 16);
    // Counting starts at 1 (RFC 7616 §3.4); 0 would pass "greater than" on a nonce's first use.
    if (count === 0) return fail('nc must be at least 00000001');
    const algorithmParam = params.get('algorithm') ?? 'MD5'; // RFC 7616 §3.4: absent means MD5
    const algorithm = this.#offered.find((a) => a.toLowerCase() === algorithmParam.toLowerCase());
    if (algorithm === undefined) return fail(`algorithm ${JSON.stringify(algorithmParam)} was not offered`);
    if (uri !== requestUri) return fail(`uri ${JSON.stringify(uri)} does not match the request target`);
    // opaque is not checked: the signed nonce already proves the challenge was ours, and an opaque
    // from before a restart must not stop the stale=true path below.
    if (response.length !== HEX_LENGTH[algorithm] || !/^[0-9a-fA-F]+$/.test(response)) {
      return fail(`response is not a ${algorithm} hex digest`);
    }

    const nonceState = this.nonces.check(nonce);
    const ha1 = this.#users.get(user)?.ha1[algorithm];
    const expected = Buffer.from(
      digestResponse({ algorithm, ha1: ha1 ?? this.#dummy[algorithm], method, uri, nonce, nc, cnonce, qop }),
      'hex',
    );
    const matches = timingSafeEqual(expected, Buffer.from(response, 'hex'));
    if (nonceState.state === 'forged' && !(matches && ha1 !== undefined)) {
      return fail('nonce was not issued by this gateway');
    }
    if (ha1 === undefined) return fail(`unknown user ${JSON.stringify(user)}`);
    if (!matches) return fail(`wrong password for ${JSON.stringify(user)}`);

    // Only now is stale=true safe: RFC 7616 §3.3 reserves it for a correct digest on a bad nonce,
    // so a client with the wrong password is asked again instead of looping silently.
    if (nonceState.state === 'forged') {
      // A correct digest on a nonce we cannot vouch for: most likely issued before a restart or a
      // secret change. Never accepted, but the client may retry with a fresh nonce unprompted.
      return fail('nonce was not issued by this gateway (issued before a restart?)', true);
    }
    if (nonceState.state === 'expired') return fail('nonce expired', true);
    const use = this.nonces.use(nonce, nonceState.issuedAt, count);
    // A reused count is most likely a replay, but also what a client sending requests in parallel
    // on one nonce produces; stale=true lets such a client recover, and gives an attacker nothing
    // without the password.
    if (use === 'replayed') return fail(`nonce count ${nc} was already used with this nonce (replay?)`, true);
    if (use === 'forgotten') return fail('nonce is too old to be tracked any more', true);
    return { ok: true, user, algorithm };
  }
}
