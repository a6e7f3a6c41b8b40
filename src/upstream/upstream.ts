import type { SocketAddress } from '../config/address.js';
import { UpstreamError, UpstreamRequestTooLargeError } from '../errors.js';
import { ReadCoalescer, type ReadSharingOptions, type ReadSource } from './coalescer.js';
import { ConcurrencyLimiter } from './limiter.js';
import { ConnectionPool } from './connection-pool.js';
import { callScgi, type ScgiResponse } from './scgi-client.js';
import type { ScgiRequestMeta } from './scgi-request.js';
import type { CallSignal } from './call-signal.js';
import { TorrentOwners } from './owners.js';
import { UpstreamShape } from './shape.js';
import { scgiBodyLimit, SMALLEST_SCGI_BODY_LIMIT } from './request-size.js';
import { UpstreamVersion } from './version.js';

export interface UpstreamOptions {
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly maxQueue: number;
  /** rtorrent ≥ 0.15.2 also speaks JSON-RPC on the same socket; off unless the admin says so. */
  readonly jsonrpc?: boolean;
  /**
   * "auto": mark calls UNTRUSTED_CONNECTION=1 where this rtorrent's release takes them so;
   * "never": send every call trusted. Default "auto".
   */
  readonly untrusted?: 'auto' | 'never';
  /** Identical read-only calls share answers (upstream.coalesce_reads, upstream.read_cache_ttl); absent: never. */
  readonly sharedReads?: ReadSharingOptions;
}

/** One rtorrent instance: its address, its connection cap and queue. */
export class Upstream {
  private readonly limiter: ConcurrencyLimiter;
  /** Closed connections, reconnected by the next calls. */
  private readonly connections: ConnectionPool;
  /** How many torrents (files, trackers…) this rtorrent holds, for estimating what a call costs it. */
  readonly shape: UpstreamShape;
  /** Which release answers here, for what it accepts untrusted. */
  readonly version: UpstreamVersion;
  /** Answers shared by identical read-only calls to this rtorrent, when configured. */
  readonly reads: ReadCoalescer | undefined;
  /** Who owns which torrent, for users whose policy keeps them to their own (scope = "own"). */
  readonly owners: TorrentOwners;

  constructor(
    readonly address: SocketAddress,
    private readonly options: UpstreamOptions,
  ) {
    this.limiter = new ConcurrencyLimiter(options.maxConnections, options.maxQueue);
    this.connections = new ConnectionPool(address, options.maxConnections);
    this.version = new UpstreamVersion(this);
    this.shape = new UpstreamShape(this, { onVersion: (version) => this.version.note(version) });
    this.reads = options.sharedReads === undefined ? undefined : new ReadCoalescer(options.sharedReads);
    this.owners = new TorrentOwners(this);
  }

  /** Whether calls may be marked untrusted at all (upstream.untrusted). */
  get marksUntrusted(): boolean {
    return this.options.untrusted !== 'never';
  }

  get acceptsJsonRpc(): boolean {
    return this.options.jsonrpc === true;
  }

  get inFlight(): number {
    return this.limiter.inFlight;
  }

  get queued(): number {
    return this.limiter.queued;
  }

  /**
   * A call the policy allowed, from any transport. A read (`readOnly`) to an rtorrent that shares
   * answers may be answered by an identical call (same bytes, same trust) in flight or kept; it goes
   * without the caller's abort signal, since others may be waiting on it. Any other call drops the
   * shared answers.
   */
  async send(
    body: Buffer,
    meta: ScgiRequestMeta,
    how: { readonly readOnly: boolean; readonly changesOwners?: boolean; readonly signal?: CallSignal },
  ): Promise<{ response: ScgiResponse; source: ReadSource | undefined }> {
    if (how.changesOwners !== true) return this.#send(body, meta, how);
    // It may add, erase or reassign torrents: the owners learned before it are forgotten.
    let source: ReadSource | undefined;
    const response = await forgettingAround(
      () => this.owners.invalidate(),
      async () => {
        const sent = await this.#send(body, meta, how);
        source = sent.source;
        return sent.response;
      },
    );
    return { response, source };
  }

  async #send(body: Buffer, meta: ScgiRequestMeta, how: { readonly readOnly: boolean; readonly signal?: CallSignal }): Promise<{ response: ScgiResponse; source: ReadSource | undefined }> {
    const reads = this.reads;
    if (reads === undefined) return { response: await this.call(body, meta, how.signal), source: undefined };
    // A call that may change rtorrent's state: the next read must see the change.
    if (!how.readOnly) return { response: await forgettingAround(() => reads.invalidate(), () => this.call(body, meta, how.signal)), source: undefined };
    // Untrusted and trusted calls are different calls to rtorrent ≥ 0.16.9, so they never share.
    const run = reads.run(`${meta.untrusted ? 'u' : 't'}${body.toString('latin1')}`, () => this.call(body, meta));
    const answer = await run.answer;
    return { response: { kind: 'whole', head: answer.head, body: answer.body }, source: run.source };
  }

  /** A call holds its slot until the body has been fully relayed or abandoned. */
  async call(body: Buffer, meta: ScgiRequestMeta, signal?: CallSignal): Promise<ScgiResponse> {
    // Only a body past the smallest cap waits for the release to be known.
    if (body.length > SMALLEST_SCGI_BODY_LIMIT) {
      const version = await this.version.current();
      const limit = scgiBodyLimit(version);
      if (body.length > limit) throw new UpstreamRequestTooLargeError(this.address.label, version, body.length, limit);
    }
    const acquired = this.limiter.acquire(this.options.timeoutMs, signal);
    const release = acquired instanceof Promise ? await acquired : acquired;
    if (signal?.aborted) {
      release?.();
      throw new UpstreamError('GW_CLIENT_CLOSED', this.address.label, 'the client closed the connection before rtorrent was called');
    }
    if (!release) {
      throw new UpstreamError(
        'GW_UPSTREAM_BUSY',
        this.address.label,
        `rtorrent at ${this.address.label} is busy: ${this.limiter.inFlight} calls in flight and ${this.limiter.queued} waiting ` +
          `(upstream.max_connections, upstream.max_queue); retry shortly`,
      );
    }
    try {
      const response = await callScgi(this.address, body, meta, { timeoutMs: this.options.timeoutMs, signal, connections: this.connections });
      if (response.kind === 'whole') release();
      else response.body.onSettled(release);
      return response;
    } catch (error) {
      release();
      // Whatever answers when it is back may be another release.
      if (error instanceof UpstreamError && error.code === 'GW_UPSTREAM_UNREACHABLE') this.version.forget();
      throw error;
    }
  }
}

/**
 * Runs a call that may change what `forget` drops (shared answers, known owners): dropped when the
 * call is sent, since it may be answered while others read, and again once it is answered or failed.
 */
async function forgettingAround(forget: () => void, call: () => Promise<ScgiResponse>): Promise<ScgiResponse> {
  forget();
  let response: ScgiResponse;
  try {
    response = await call();
  } catch (error) {
    forget();
    throw error;
  }
  if (response.kind === 'whole') forget();
  else response.body.onSettled(forget);
  return response;
}
