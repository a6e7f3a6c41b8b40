/**
 * Failed logins are counted where a guess comes from, so that one client's failures cannot lock
 * another client out. Past a limit, further attempts are answered 429 before their password is
 * looked at. Only failures count: a request without credentials is a challenge (the Sonarr family
 * and Transdroid start every poll that way).
 *
 * - Per name and address pair: a client with a stale password (Sonarr after a password change)
 *   blocks its own name from its own address, never the other users there. On a seedbox every
 *   client comes from 127.0.0.1, so a per-address block would lock the owner out too.
 * - Per name from anywhere: bounds guessing spread over many addresses.
 * - Per address, for names that do not exist only: each one costs a dummy hash, so this bounds
 *   the CPU a name spray takes. A name that exists is never refused by this counter.
 *
 * An address a name has logged in from recently is a known one for that name: the real client is
 * there. The per-name block does not apply at a known address (its own pair limit does), and
 * credentials shown right already (verified recently, a correct Digest) pass a pair block there.
 * Elsewhere, a block refuses right credentials too. Letting them through everywhere would let a
 * blocked guesser keep testing guesses against the credential cache at the speed of requests: a
 * cached password is one an active client uses, and that is most of them. Someone who shares a
 * known address with the real client (another tenant behind the same proxy) keeps that power
 * while the pair is blocked; that is the price of never locking the real client out.
 */
export interface LoginThrottleOptions {
  /** Wrong passwords for one name from one address within the window before that pair is blocked. */
  readonly maxFailuresPerPair: number;
  /** Wrong passwords for one name, from anywhere, within the window before it is blocked at addresses it is not known at. */
  readonly maxFailuresPerUser: number;
  /** Failed logins with names that do not exist, from one address within the window, before the address is blocked for such names. */
  readonly maxFailuresPerAddress: number;
  readonly windowMs: number;
  readonly blockMs: number;
  /** How long an address stays a known one for a name after its last login there. Default one day. */
  readonly trustMs?: number;
  /** Entries per table at most (default 50 000); idle ones, then the oldest, are forgotten first, so memory stays bounded under a spray. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

export type ThrottleScope = 'pair' | 'user' | 'address';

export interface ThrottleBlock {
  readonly blocked: true;
  readonly scope: ThrottleScope;
  readonly retryAfterMs: number;
}

export type ThrottleVerdict = { readonly blocked: false } | ThrottleBlock;

/** An attempt the throttle let through; `settle` must follow with what the password check said. */
export interface OpenAttempt {
  readonly blocked: false;
  /** true: right password; false: wrong; undefined: neither (the check itself failed). */
  settle(right: boolean | undefined): void;
}

export type Attempt = OpenAttempt | ThrottleBlock;

const OPEN: ThrottleVerdict = { blocked: false };
const JOINED: OpenAttempt = { blocked: false, settle: () => undefined };
const DAY_MS = 24 * 60 * 60 * 1000;

/** While the limit is taken up by checks still running, come back in a second: a check ends by then. */
const IN_FLIGHT_RETRY_MS = 1000;

interface Counter {
  failures: number;
  /** In the future while blocked: the window after a block starts when the block ends. */
  windowStart: number;
  blockedUntil: number;
  /** Checks let through and not yet settled. */
  pending: number;
}

/** Drops idle entries, then the oldest, until a tenth of the room is free: a full sweep is paid once per maxKeys/10 insertions. */
function makeRoom<V>(map: Map<string, V>, maxKeys: number, idle: (value: V) => boolean): void {
  if (map.size < maxKeys) return;
  const target = maxKeys - Math.max(1, Math.floor(maxKeys / 10));
  for (const [key, value] of map) if (idle(value)) map.delete(key);
  // Map iteration is insertion order, and a key is re-inserted when it is renewed (a new window, a new login).
  for (const key of map.keys()) {
    if (map.size <= target) break;
    map.delete(key);
  }
}

/** Failures per key within a window, a block past the limit, and the checks still running. */
class Counters {
  readonly #counters = new Map<string, Counter>();

  constructor(
    private readonly limit: number,
    private readonly options: LoginThrottleOptions,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.#counters.size;
  }

  blockedFor(key: string, now: number): number {
    const counter = this.#counters.get(key);
    return counter !== undefined && counter.blockedUntil > now ? counter.blockedUntil - now : 0;
  }

  /** How long before `key` may have a password checked; 0 for now. */
  waitFor(key: string, now: number): number {
    const counter = this.#counters.get(key);
    if (counter === undefined) return 0;
    if (counter.blockedUntil > now) return counter.blockedUntil - now;
    // Checks in flight count as failures until they settle: otherwise a burst of parallel guesses
    // would all pass this point before the first one fails.
    const failures = this.#expired(counter, now) ? 0 : counter.failures;
    return failures + counter.pending >= this.limit ? IN_FLIGHT_RETRY_MS : 0;
  }

  reserve(key: string, now: number): void {
    this.#current(key, now).pending++;
  }

  settle(key: string, reserved: boolean, failed: boolean, now: number): void {
    const counter = failed ? this.#current(key, now) : this.#counters.get(key);
    if (counter === undefined) return;
    if (reserved && counter.pending > 0) counter.pending--;
    if (!failed) return;
    counter.failures++;
    if (counter.failures >= this.limit && counter.blockedUntil <= now) {
      counter.blockedUntil = now + this.options.blockMs;
      counter.failures = 0;
      counter.windowStart = counter.blockedUntil;
    }
  }

  #expired(counter: Counter, now: number): boolean {
    return now - counter.windowStart > this.options.windowMs;
  }

  #idle(counter: Counter, now: number): boolean {
    return counter.pending === 0 && counter.blockedUntil <= now && this.#expired(counter, now);
  }

  /** The key's counter, with a fresh window if its last one is over. */
  #current(key: string, now: number): Counter {
    const counter = this.#counters.get(key);
    if (counter !== undefined && !this.#expired(counter, now)) return counter;
    if (counter !== undefined) this.#counters.delete(key);
    else makeRoom(this.#counters, this.maxKeys, (c) => this.#idle(c, now));
    const fresh: Counter = { failures: 0, windowStart: now, blockedUntil: counter?.blockedUntil ?? 0, pending: counter?.pending ?? 0 };
    this.#counters.set(key, fresh);
    return fresh;
  }
}

interface Reservation {
  readonly user: string;
  /** Set for a name that exists: its pair was reserved, and its name counter unless the address is known. */
  readonly pair?: string;
  readonly userReserved: boolean;
}

/** Address first: it never holds a newline, so the pair cannot be confused with another. */
function pairKey(address: string, user: string): string {
  return `${address}\n${user}`;
}

export class LoginThrottle {
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #trustMs: number;
  readonly #pairs: Counters;
  readonly #users: Counters;
  /** Names that do not exist have counters of their own, so spraying them cannot push out a real name's block. */
  readonly #unknownUsers: Counters;
  readonly #addresses: Counters;
  /** Pair → until when that address is a known one for that name. */
  readonly #known = new Map<string, number>();
  /** Checks running, by address and credentials: identical ones share one reservation, as they share one hash. */
  readonly #inFlight = new Map<string, Reservation>();

  constructor(options: LoginThrottleOptions) {
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 50_000;
    this.#trustMs = options.trustMs ?? DAY_MS;
    this.#pairs = new Counters(options.maxFailuresPerPair, options, this.#maxKeys);
    this.#users = new Counters(options.maxFailuresPerUser, options, this.#maxKeys);
    this.#unknownUsers = new Counters(options.maxFailuresPerUser, options, this.#maxKeys);
    this.#addresses = new Counters(options.maxFailuresPerAddress, options, this.#maxKeys);
  }

  /** Entries held across all tables (for tests). */
  get trackedKeys(): number {
    return this.#pairs.size + this.#users.size + this.#unknownUsers.size + this.#addresses.size + this.#known.size + this.#inFlight.size;
  }

  /**
   * Before a password is checked: refused, or let through until `settle`. `exists` says whether
   * the name could log in at all; `credentials` (the Authorization header) lets identical
   * requests in flight count once.
   */
  begin(address: string, user: string, exists: boolean, credentials: string): Attempt {
    const now = this.#now();
    const inFlightKey = pairKey(address, credentials);
    if (this.#inFlight.has(inFlightKey)) return JOINED;

    let reservation: Reservation;
    if (exists) {
      const pair = pairKey(address, user);
      const pairWait = this.#pairs.waitFor(pair, now);
      if (pairWait > 0) return { blocked: true, scope: 'pair', retryAfterMs: pairWait };
      const known = this.#isKnown(pair, now);
      if (!known) {
        const userWait = this.#users.waitFor(user, now);
        if (userWait > 0) return { blocked: true, scope: 'user', retryAfterMs: userWait };
        this.#users.reserve(user, now);
      }
      this.#pairs.reserve(pair, now);
      reservation = { user, pair, userReserved: !known };
    } else {
      const addressWait = this.#addresses.waitFor(address, now);
      if (addressWait > 0) return { blocked: true, scope: 'address', retryAfterMs: addressWait };
      const userWait = this.#unknownUsers.waitFor(user, now);
      if (userWait > 0) return { blocked: true, scope: 'user', retryAfterMs: userWait };
      this.#addresses.reserve(address, now);
      this.#unknownUsers.reserve(user, now);
      reservation = { user, userReserved: true };
    }
    this.#inFlight.set(inFlightKey, reservation);

    let settled = false;
    return {
      blocked: false,
      settle: (right) => {
        if (settled) return;
        settled = true;
        this.#inFlight.delete(inFlightKey);
        this.#settle(address, reservation, right);
      },
    };
  }

  /**
   * For credentials already shown right (verified recently, a correct Digest): let in unless the
   * pair or the name is blocked and the address is not a known one for the name. Letting them in
   * makes or keeps the address a known one.
   */
  admitKnownGood(address: string, user: string): ThrottleVerdict {
    return this.#knownGood(address, user, true);
  }

  /** As admitKnownGood, for a right password that does not log in (a Digest stale nonce, a replay). */
  checkKnownGood(address: string, user: string): ThrottleVerdict {
    return this.#knownGood(address, user, false);
  }

  #knownGood(address: string, user: string, loggedIn: boolean): ThrottleVerdict {
    const now = this.#now();
    const pair = pairKey(address, user);
    const until = this.#known.get(pair);
    if (until !== undefined && until > now) {
      // Re-inserted only now and then, so the common case writes nothing and eviction still
      // goes roughly by last use.
      if (loggedIn && until - now < this.#trustMs / 2) this.#remember(pair, now);
      return OPEN;
    }
    const pairBlock = this.#pairs.blockedFor(pair, now);
    if (pairBlock > 0) return { blocked: true, scope: 'pair', retryAfterMs: pairBlock };
    const userBlock = this.#users.blockedFor(user, now);
    if (userBlock > 0) return { blocked: true, scope: 'user', retryAfterMs: userBlock };
    if (loggedIn) this.#remember(pair, now);
    return OPEN;
  }

  #settle(address: string, reservation: Reservation, right: boolean | undefined): void {
    const now = this.#now();
    const failed = right === false;
    const { user, pair } = reservation;
    if (pair !== undefined) {
      this.#pairs.settle(pair, true, failed, now);
      // Failures at a known address count for the name too: they are guesses all the same.
      this.#users.settle(user, reservation.userReserved, failed, now);
      if (right === true) this.#remember(pair, now);
    } else {
      this.#addresses.settle(address, true, failed, now);
      this.#unknownUsers.settle(user, true, failed, now);
    }
  }

  #isKnown(pair: string, now: number): boolean {
    const until = this.#known.get(pair);
    return until !== undefined && until > now;
  }

  #remember(pair: string, now: number): void {
    if (!this.#known.delete(pair)) makeRoom(this.#known, this.#maxKeys, (until) => until <= now);
    this.#known.set(pair, now + this.#trustMs);
  }
}
