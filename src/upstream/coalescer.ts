import { GatewayError } from '../errors.js';
import type { ResponseHead } from './response-head.js';
import type { ScgiResponse } from './scgi-client.js';

/** A finished upstream answer that several callers can each send. */
export interface SharedAnswer {
  readonly head: ResponseHead;
  readonly body: Buffer;
}

/**
 * Identical read-only calls in flight at the same time share one upstream call: several dashboards
 * polling the same big d.multicall2 then cost rtorrent (single-threaded, serving one call at a
 * time) one call instead of N. Nothing is cached: an entry lives only while its call runs, so every
 * caller still gets an answer at least as fresh as its own request.
 *
 * The shared answer is read whole before it is handed out, since followers may read at different
 * speeds; `maxBytes` bounds that buffer, and a bigger answer fails the shared call rather than grow.
 */
export class ReadCoalescer {
  private readonly inFlight = new Map<string, Promise<SharedAnswer>>();

  constructor(private readonly maxBytes: number) {}

  get pending(): number {
    return this.inFlight.size;
  }

  /** `joined` tells the caller whether it rode on someone else's call (for logs and metrics). */
  run(key: string, call: () => Promise<ScgiResponse>): { answer: Promise<SharedAnswer>; joined: boolean } {
    const existing = this.inFlight.get(key);
    if (existing) return { answer: existing, joined: true };
    const answer = call()
      .then((response) => this.collect(response))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, answer);
    return { answer, joined: false };
  }

  private collect(response: ScgiResponse): Promise<SharedAnswer> {
    if (response.kind === 'whole') {
      if (response.body.length > this.maxBytes) return Promise.reject(this.tooLarge());
      return Promise.resolve({ head: response.head, body: response.body });
    }
    return response.body.readAll(this.maxBytes).then((body) => {
      if (body === undefined) throw this.tooLarge();
      return { head: response.head, body };
    });
  }

  private tooLarge(): GatewayError {
    return new GatewayError('GW_UPSTREAM_BAD_RESPONSE', `shared answer larger than ${this.maxBytes} bytes (upstream.coalesce_max_bytes)`);
  }
}
