/**
 * Failed logins are counted per remote address and per user name; past the limit, further
 * attempts are answered 429 without hashing anything. Only failures count: a request without
 * credentials is a challenge (the Sonarr family and Transdroid start every poll that way).
 *
 * The per-user limit must not let an attacker lock a real client out by guessing its name, so
 * credentials already verified recently (the credential cache) pass a user block; an address
 * block stops everything from that address only.
 */
export interface LoginThrottleOptions {
  /** Failures from one address within the window before it is blocked. */
  readonly maxFailuresPerAddress: number;
  /** Failures for one user name, from anywhere, within the window before it is blocked. */
  readonly maxFailuresPerUser: number;
  readonly windowMs: number;
  readonly blockMs: number;
  /** Tracked keys at most; the oldest are forgotten first, so memory stays bounded under a spray. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface Counter {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

export type ThrottleVerdict =
  | { readonly blocked: false }
  | { readonly blocked: true; readonly scope: 'address' | 'user'; readonly retryAfterMs: number };

const OPEN: ThrottleVerdict = { blocked: false };

export class LoginThrottle {
  private readonly counters = new Map<string, Counter>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly options: LoginThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Is this attempt refused before its password is even looked at? */
  check(address: string, user: string): ThrottleVerdict {
    const now = this.now();
    const byAddress = this.blockedFor(`a:${address}`, now);
    if (byAddress > 0) return { blocked: true, scope: 'address', retryAfterMs: byAddress };
    const byUser = this.blockedFor(`u:${user}`, now);
    if (byUser > 0) return { blocked: true, scope: 'user', retryAfterMs: byUser };
    return OPEN;
  }

  recordFailure(address: string, user: string): void {
    const now = this.now();
    this.bump(`a:${address}`, this.options.maxFailuresPerAddress, now);
    this.bump(`u:${user}`, this.options.maxFailuresPerUser, now);
  }

  private blockedFor(key: string, now: number): number {
    const counter = this.counters.get(key);
    return counter && counter.blockedUntil > now ? counter.blockedUntil - now : 0;
  }

  private bump(key: string, limit: number, now: number): void {
    let counter = this.counters.get(key);
    if (!counter || now - counter.windowStart > this.options.windowMs) {
      this.counters.delete(key);
      if (this.counters.size >= this.maxKeys) this.forgetOldest();
      counter = { failures: 0, windowStart: now, blockedUntil: counter?.blockedUntil ?? 0 };
      this.counters.set(key, counter);
    }
    counter.failures++;
    if (counter.failures >= limit) counter.blockedUntil = now + this.options.blockMs;
  }

  private forgetOldest(): void {
    // Map iteration is insertion order, and a key is re-inserted when its window restarts.
    const drop = Math.max(1, Math.floor(this.maxKeys / 10));
    let dropped = 0;
    for (const key of this.counters.keys()) {
      if (dropped++ >= drop) break;
      this.counters.delete(key);
    }
  }
}
