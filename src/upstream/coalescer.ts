import { GatewayError } from '../errors.js';
import type { ResponseHead } from './response-head.js';
import type { ScgiResponse } from './scgi-client.js';

/** A finished upstream answer that several callers can each send. */
export interface SharedAnswer {
  readonly head: ResponseHead;
  readonly body: Buffer;
}

/** called: this caller's own rtorrent call; joined: one in flight; cached: a finished one within the TTL. */
export type ReadSource = 'called' | 'joined' | 'cached';

/** How the request log of every transport tells where an answer came from. */
export function relayOutcome(source: ReadSource | undefined): 'relayed' | 'coalesced' | 'cached' {
  return source === 'joined' ? 'coalesced' : source === 'cached' ? 'cached' : 'relayed';
}

export interface ReadSharingOptions {
  /** The largest answer read whole to be shared (upstream.coalesce_max_bytes). */
  readonly maxAnswerBytes: number;
  /** How long a finished answer serves identical reads (upstream.read_cache_ttl); 0 keeps none. */
  readonly ttlMs?: number;
  /** Finished answers kept at once, in bytes (upstream.read_cache_max_bytes); the oldest go first. */
  readonly maxCachedBytes?: number;
  readonly now?: () => number;
}

/** What the metrics read at scrape time. */
export interface ReadSharingCounts {
  readonly called: number;
  readonly joined: number;
  readonly cached: number;
  /** Bytes answered from finished answers. */
  readonly cachedBytesServed: number;
  /** Bytes of finished answers held now. */
  readonly cachedBytes: number;
}

interface Finished {
  readonly answer: SharedAnswer;
  readonly expiresAt: number;
}

/**
 * Identical read-only calls to one rtorrent share one upstream call: several dashboards polling the
 * same big d.multicall2 then cost rtorrent (single-threaded, building every answer on the thread
 * that also moves the torrents) one call instead of N. Calls in flight together always share; with a
 * TTL, a finished answer also serves the identical calls that follow within it.
 *
 * A state-changing call to the same rtorrent drops every kept answer and unlinks the calls in flight
 * (invalidate(), once when it is sent and once when it is answered), so a client reads its own change
 * on its next call: a read that overlapped the change may still be answered, but is never kept or
 * joined afterwards.
 *
 * The shared answer is read whole before it is handed out, since callers may read at different
 * speeds; `maxAnswerBytes` bounds that buffer, and a bigger answer fails the shared call rather than
 * grow.
 */
export class ReadCoalescer {
  readonly #inFlight = new Map<string, Promise<SharedAnswer>>();
  /** Insertion order is expiry order (one TTL for all), so the oldest entry is always first. */
  readonly #finished = new Map<string, Finished>();
  readonly #maxAnswerBytes: number;
  readonly #ttlMs: number;
  readonly #maxCachedBytes: number;
  readonly #now: () => number;
  #generation = 0;
  #cachedBytes = 0;
  #counts = { called: 0, joined: 0, cached: 0, cachedBytesServed: 0 };

  constructor(options: ReadSharingOptions) {
    this.#maxAnswerBytes = options.maxAnswerBytes;
    this.#ttlMs = options.ttlMs ?? 0;
    this.#maxCachedBytes = options.maxCachedBytes ?? 0;
    this.#now = options.now ?? Date.now;
  }

  get pending(): number {
    return this.#inFlight.size;
  }

  get counts(): ReadSharingCounts {
    return { ...this.#counts, cachedBytes: this.#cachedBytes };
  }

  /** `joined` tells the caller whether it rode on someone else's call (for logs and metrics). */
  run(key: string, call: () => Promise<ScgiResponse>): { answer: Promise<SharedAnswer>; joined: boolean; source: ReadSource } {
    this.#expire();
    const finished = this.#finished.get(key);
    if (finished !== undefined) {
      this.#counts.cached++;
      this.#counts.cachedBytesServed += finished.answer.body.length;
      return { answer: Promise.resolve(finished.answer), joined: true, source: 'cached' };
    }
    const existing = this.#inFlight.get(key);
    if (existing) {
      this.#counts.joined++;
      return { answer: existing, joined: true, source: 'joined' };
    }
    this.#counts.called++;
    const generation = this.#generation;
    const answer = call()
      .then((response) => this.#collect(response))
      .then((shared) => {
        if (generation === this.#generation) this.#keep(key, shared);
        return shared;
      })
      .finally(() => {
        if (this.#inFlight.get(key) === answer) this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, answer);
    return { answer, joined: false, source: 'called' };
  }

  /** rtorrent's state may have changed: nothing read before now may answer a later call. */
  invalidate(): void {
    this.#generation++;
    this.#inFlight.clear();
    this.#finished.clear();
    this.#cachedBytes = 0;
  }

  #keep(key: string, answer: SharedAnswer): void {
    // Only complete, successful answers: a fault from a passing hiccup must not stick for the TTL.
    if (this.#ttlMs <= 0 || answer.head.status !== 200 || answer.body.length > this.#maxCachedBytes) return;
    this.#finished.set(key, { answer, expiresAt: this.#now() + this.#ttlMs });
    this.#cachedBytes += answer.body.length;
    for (const [oldest, entry] of this.#finished) {
      if (this.#cachedBytes <= this.#maxCachedBytes) break;
      this.#drop(oldest, entry);
    }
  }

  #expire(): void {
    const now = this.#now();
    for (const [key, entry] of this.#finished) {
      if (entry.expiresAt > now) break;
      this.#drop(key, entry);
    }
  }

  #drop(key: string, entry: Finished): void {
    this.#finished.delete(key);
    this.#cachedBytes -= entry.answer.body.length;
  }

  #collect(response: ScgiResponse): Promise<SharedAnswer> {
    if (response.kind === 'whole') {
      if (response.body.length > this.#maxAnswerBytes) return Promise.reject(this.#tooLarge());
      return Promise.resolve({ head: response.head, body: response.body });
    }
    return response.body.readAll(this.#maxAnswerBytes).then((body) => {
      if (body === undefined) throw this.#tooLarge();
      return { head: response.head, body };
    });
  }

  #tooLarge(): GatewayError {
    return new GatewayError('GW_UPSTREAM_BAD_RESPONSE', `shared answer larger than ${this.#maxAnswerBytes} bytes (upstream.coalesce_max_bytes)`);
  }
}
