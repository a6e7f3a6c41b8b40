import type { Logger } from 'pino';
import type { Upstream } from '../upstream/upstream.js';

/** The cheapest call every rtorrent answers, and one no policy question hangs on. */
const PROBE = Buffer.from('<?xml version="1.0"?>\n<methodCall><methodName>system.client_version</methodName><params/></methodCall>\n');
/** system.client_version's answer is ~150 bytes; anything this long is not it. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface HealthOptions {
  /** How long one probe's verdict is reused (default 1 s): Docker, Kubernetes and a load balancer polling together still make one call. */
  readonly maxAgeMs?: number;
  /** A probe that takes longer counts as down (default 3 s, under Docker's default 30 s and any sane probe timeout). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/**
 * Is rtorrent answering? Asked by /healthz, which anyone may call, so the answer is cached and
 * shared: however many requests arrive, rtorrent sees at most one probe per maxAgeMs, and never a
 * second one while the first is still hanging.
 */
export class HealthCheck {
  readonly #upstream: Pick<Upstream, 'call'>;
  readonly #maxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  #last: { readonly ok: boolean; readonly at: number } | undefined;
  #pending: Promise<boolean> | undefined;
  /** The upstream call itself, which can outlive a probe that already timed out. */
  #outstanding = false;
  #probes = 0;
  /** Why the last probe failed, for the log line when health changes; never sent to clients. */
  #reason = 'no answer';

  constructor(upstream: Pick<Upstream, 'call'>, options: HealthOptions = {}) {
    this.#upstream = upstream;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Upstream calls made so far (tests check the rate limit with it). */
  get probes(): number {
    return this.#probes;
  }

  check(): Promise<boolean> {
    const last = this.#last;
    if (last !== undefined && this.#now() - last.at < this.#maxAgeMs) return Promise.resolve(last.ok);
    this.#pending ??= this.#probe().then((ok) => {
      this.#record(ok);
      this.#pending = undefined;
      return ok;
    });
    return this.#pending;
  }

  #record(ok: boolean): void {
    const was = this.#last?.ok;
    this.#last = { ok, at: this.#now() };
    if (was === ok) return;
    if (ok) this.#logger?.info('rtorrent answers health probes');
    else this.#logger?.warn({ reason: this.#reason }, 'rtorrent does not answer health probes');
  }

  async #probe(): Promise<boolean> {
    if (this.#outstanding) {
      this.#reason = `the previous probe has not been answered after ${this.#timeoutMs} ms`;
      return false;
    }
    this.#outstanding = true;
    this.#probes++;
    const call = this.#ask().finally(() => {
      this.#outstanding = false;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        this.#reason = `no answer within ${this.#timeoutMs} ms`;
        resolve(false);
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #ask(): Promise<boolean> {
    try {
      const response = await this.#upstream.call(PROBE, { requestUri: '/RPC2', remoteAddr: '127.0.0.1' });
      if (response.head.status !== 200) {
        if (response.kind === 'streamed') response.body.destroy();
        this.#reason = `HTTP status ${response.head.status}`;
        return false;
      }
      const answer = (response.kind === 'whole' ? response.body : await response.body.readAll(MAX_ANSWER_BYTES))?.toString('utf8') ?? '';
      if (!answer.includes('<methodResponse>') || answer.includes('<fault>')) {
        this.#reason = 'not an XML-RPC answer to system.client_version';
        return false;
      }
      return true;
    } catch (error) {
      this.#reason = error instanceof Error ? error.message : String(error);
      return false;
    }
  }
}
