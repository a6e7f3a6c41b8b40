import { VerifiedCredentialCache } from './credential-cache.js';
import { verifyPassword, type PasswordHash } from './htpasswd.js';

export interface AuthenticatorOptions {
  /**
   * The password check itself. Defaults to the real one; tests wrap it to count how often hashing
   * actually runs.
   */
  verifyPassword?: (password: string, hash: PasswordHash) => Promise<boolean>;
}

// Salt and digest of a hash of a throwaway string. Only its shape matters: checking a password
// against it costs the same as against a real hash of the same scheme and cost, and never matches.
const DUMMY_BCRYPT_BODY = 'VDNOrplffZPJylEkG2lH7eX9PdtWM4vF1tm.gH8d4SbySwIUp8Lze';
const DUMMY_APR1 = '$apr1$I9TaX7Ad$G8.9hZe2i6kv9h4Xn8Mua.';
const DUMMY_SHA1 = '{SHA}Z/8Id9IK/RT88UQfntLXIvbCuYA=';
const DEFAULT_BCRYPT_COST = 10;

function bcryptDummy(cost: number): PasswordHash {
  return { scheme: 'bcrypt', hash: `$2b$${String(cost).padStart(2, '0')}$${DUMMY_BCRYPT_BODY}` };
}

/**
 * A dummy with the scheme and cost most users in the file have, so a request for an unknown user
 * takes about as long as a wrong password for a real one. A fixed cost-10 dummy would make unknown
 * names stand out in a file written by plain `htpasswd -B` (cost 5), and vice versa.
 */
function dummyHashFor(users: ReadonlyMap<string, PasswordHash>): PasswordHash {
  const counts = new Map<string, number>();
  let best: string | undefined;
  for (const { scheme, hash } of users.values()) {
    const kind = scheme === 'bcrypt' ? `bcrypt:${Number(hash.slice(4, 6))}` : scheme;
    const n = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, n);
    if (best === undefined || n > (counts.get(best) ?? 0)) best = kind;
  }
  if (best === 'apr1') return { scheme: 'apr1', hash: DUMMY_APR1 };
  if (best === 'sha1') return { scheme: 'sha1', hash: DUMMY_SHA1 };
  if (best?.startsWith('bcrypt:')) return bcryptDummy(Number(best.slice('bcrypt:'.length)));
  return bcryptDummy(DEFAULT_BCRYPT_COST);
}

/**
 * Checks Basic-auth credentials against one parsed htpasswd file. Build a new instance when the
 * file is reloaded; passing the same cache keeps still-valid verifications warm across reloads,
 * since the cache key includes each user's stored hash.
 */
export class Authenticator {
  readonly #users: ReadonlyMap<string, PasswordHash>;
  readonly #names: ReadonlySet<string>;
  readonly #cache: VerifiedCredentialCache;
  readonly #dummy: PasswordHash;
  readonly #verifyPassword: (password: string, hash: PasswordHash) => Promise<boolean>;
  // Clients often fire several requests at once on start-up; one hash computation serves them all.
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(
    users: ReadonlyMap<string, PasswordHash>,
    cache: VerifiedCredentialCache = new VerifiedCredentialCache(),
    options: AuthenticatorOptions = {},
  ) {
    // A private copy: later changes to the caller's map must not change who can log in.
    this.#users = new Map(users);
    this.#names = new Set(this.#users.keys());
    this.#cache = cache;
    this.#dummy = dummyHashFor(this.#users);
    this.#verifyPassword = options.verifyPassword ?? verifyPassword;
  }

  get users(): ReadonlySet<string> {
    return this.#names;
  }

  /** True when these exact credentials were verified recently: no hashing, no timing to hide. */
  isKnownGood(user: string, password: string): boolean {
    const stored = this.#users.get(user);
    return stored !== undefined && this.#cache.has(user, password, stored);
  }

  async verify(user: string, password: string): Promise<boolean> {
    const stored = this.#users.get(user);
    if (stored !== undefined && this.#cache.has(user, password, stored)) return true;

    const hash = stored ?? this.#dummy;
    const key = this.#cache.keyFor(user, password, hash);
    const pending = this.#inFlight.get(key);
    if (pending) return pending;

    const check = this.#check(user, password, stored, hash).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, check);
    return check;
  }

  async #check(user: string, password: string, stored: PasswordHash | undefined, hash: PasswordHash): Promise<boolean> {
    const ok = await this.#verifyPassword(password, hash);
    if (stored === undefined) return false;
    if (ok) this.#cache.add(user, password, stored);
    return ok;
  }
}
