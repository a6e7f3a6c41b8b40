import { createHmac, randomBytes } from 'node:crypto';
import type { PasswordHash } from './htpasswd.js';

export interface VerifiedCredentialCacheOptions {
  /** Most entries kept; the least recently used goes first. 0 disables the cache. Default 1000. */
  maxEntries?: number;
  /** How long a verification stays trusted, counted from when it was added. 0 disables. Default 15 min. */
  ttlMs?: number;
  /** Clock in milliseconds; tests pass their own to step over the TTL without sleeping. */
  now?: () => number;
}

const DEFAULT_MAX_ENTRIES = 1000;
const DEFAULT_TTL_MS = 15 * 60 * 1000;

/**
 * Remembers credentials that have already passed a password check, so a client that polls every
 * few seconds does not pay for bcrypt on every request.
 *
 * Entries are keyed by an HMAC under a key that lives only in this process, so neither a password
 * nor anything an attacker could brute-force offline (a plain hash of it) is held in memory. The
 * stored hash is part of the key: editing a user's password, or reloading a changed file, makes
 * the old entry unreachable without having to clear anything.
 */
export class VerifiedCredentialCache {
  readonly #key = randomBytes(32);
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  // Map iteration follows insertion order, so re-inserting on a hit keeps the oldest use first.
  readonly #expiresAt = new Map<string, number>();

  constructor(opts: VerifiedCredentialCacheOptions = {}) {
    const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`maxEntries must be a non-negative integer, got ${maxEntries}`);
    }
    if (!Number.isFinite(ttlMs) || ttlMs < 0) {
      throw new RangeError(`ttlMs must be a non-negative number, got ${ttlMs}`);
    }
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#expiresAt.size;
  }

  /** A key fingerprint, also usable to coalesce concurrent checks of the same credentials. */
  keyFor(user: string, password: string, hash: PasswordHash): string {
    // Length prefixes keep ("ab","c") and ("a","bc") from producing the same input; the password,
    // last, needs none. One string, one update: this runs on every authenticated request.
    const input = `${user.length}:${user}${hash.scheme.length}:${hash.scheme}${hash.hash.length}:${hash.hash}${password}`;
    return createHmac('sha256', this.#key).update(input, 'utf8').digest('base64');
  }

  has(user: string, password: string, hash: PasswordHash): boolean {
    const key = this.keyFor(user, password, hash);
    const expiresAt = this.#expiresAt.get(key);
    if (expiresAt === undefined) return false;
    this.#expiresAt.delete(key);
    if (this.#now() >= expiresAt) return false;
    this.#expiresAt.set(key, expiresAt);
    return true;
  }

  /** Call only after a successful verification; a failed one must never make a later request pass. */
  add(user: string, password: string, hash: PasswordHash): void {
    if (this.#maxEntries === 0 || this.#ttlMs === 0) return;
    const key = this.keyFor(user, password, hash);
    this.#expiresAt.delete(key);
    this.#expiresAt.set(key, this.#now() + this.#ttlMs);
    this.#evict();
  }

  clear(): void {
    this.#expiresAt.clear();
  }

  #evict(): void {
    const now = this.#now();
    // Trim from the least recently used end: anything while over the limit, plus expired entries
    // met on the way, so stale credentials do not linger just because the cache is not full.
    for (const [key, expiresAt] of this.#expiresAt) {
      if (this.#expiresAt.size <= this.#maxEntries && expiresAt > now) break;
      this.#expiresAt.delete(key);
    }
  }
}
