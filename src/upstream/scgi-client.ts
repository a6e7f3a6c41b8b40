import type { Writable } from 'node:stream';
import type { SocketAddress } from '../config/address.js';
import { UpstreamError } from '../errors.js';
import type { CallSignal } from './call-signal.js';
import type { ConnectionEvents, ConnectionPool, UpstreamConnection } from './connection-pool.js';
import { parseResponseHead, type ResponseHead } from './response-head.js';
import { encodeScgiHead, type ScgiRequestMeta } from './scgi-request.js';

export interface ScgiCallOptions {
  /** Whole-call limit, from connect to the last body byte: rtorrent 0.9.8 has no timeouts of its own. */
  readonly timeoutMs: number;
  /** The client went away: drop the connection so rtorrent's slot is freed. */
  readonly signal?: CallSignal;
  /** Where the call borrows its connection, and gives it back. */
  readonly connections: ConnectionPool;
}

/** A small answer, read whole: exactly Content-Length bytes, the upstream connection already closed. */
export interface WholeAnswer {
  readonly kind: 'whole';
  readonly head: ResponseHead;
  readonly body: Buffer;
}

/**
 * A large answer's body, still on rtorrent's connection. Exactly one of `pipeTo` or `readAll`
 * takes it; until then rtorrent's socket is not read further.
 */
export interface StreamedBody {
  /** Body bytes taken from rtorrent so far (never more than Content-Length). */
  readonly bytes: number;
  /**
   * Writes the body into `sink` one read at a time: the next read waits until the previous chunk
   * is flushed, so a slow client slows rtorrent's socket, not our memory. Resolves after exactly
   * Content-Length bytes (or rtorrent's end, when it sent none); rejects with an UpstreamError if
   * rtorrent stops short or times out, or with the sink's own error. A truncated answer is never
   * passed off as complete. Past `maxBytes` (an answer without Content-Length) it stops and
   * rejects with GW_ANSWER_TOO_LARGE.
   */
  pipeTo(sink: Writable, maxBytes?: number): Promise<void>;
  /** The whole body as one buffer, or undefined (and the connection dropped) once it passes `maxBytes`. */
  readAll(maxBytes: number): Promise<Buffer | undefined>;
  /** The client left: drop rtorrent's connection; a pending pipeTo rejects. */
  destroy(): void;
  /** Called once when the body is done: no error when relayed in full, else why not. */
  onSettled(listener: (error: UpstreamError | undefined) => void): void;
}

export interface StreamedAnswer {
  readonly kind: 'streamed';
  readonly head: ResponseHead;
  readonly body: StreamedBody;
}

export type ScgiResponse = WholeAnswer | StreamedAnswer;

/** nginx gives up on heads larger than its 4 KiB scgi_buffer_size; rtorrent's is ~70 bytes. */
const MAX_HEAD_BYTES = 8192;
/**
 * Most calls (a version, a speed, one torrent's fields) answer in a few hundred bytes and arrive
 * in one read. Handing those on as one buffer costs less than relaying a stream; answers above
 * this size are relayed chunk by chunk and never held whole.
 */
export const WHOLE_ANSWER_MAX_BYTES = 64 * 1024;
const COPY_REQUEST_MAX_BYTES = 64 * 1024;

function connectError(address: SocketAddress, error: NodeJS.ErrnoException): UpstreamError {
  const where = address.label;
  let message: string;
  switch (error.code) {
    case 'ENOENT':
      message = `rtorrent's SCGI socket ${where} does not exist: is rtorrent running with network.scgi.open_local pointing there?`;
      break;
    case 'ECONNREFUSED':
      message = `connection refused by ${where}: rtorrent is not listening there (stopped rtorrent or stale socket file)`;
      break;
    case 'EACCES':
    case 'EPERM':
      message =
        `permission denied connecting to ${where}: the gateway's user needs write permission on the socket ` +
        `(add it to the socket's group and make the socket group-writable, e.g. chgrp rtorrent + chmod 660)`;
      break;
    default:
      message = `cannot connect to rtorrent at ${where}: ${error.code ?? ''} ${error.message}`.trim();
  }
  return new UpstreamError('GW_UPSTREAM_UNREACHABLE', where, message, { cause: error });
}

type Phase = 'head' | 'whole' | 'body' | 'settled';

interface Consumer {
  /** Takes one chunk, a view into the read buffer, and calls `written` once it no longer needs it. */
  readonly take: (chunk: Buffer, written: (error?: Error | null) => void) => void;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * One call on one connection. Every read lands in the same borrowed buffer (the socket's
 * `onread`), so a chunk handed on is a view that stays valid only until the socket reads again:
 * the socket is paused while a chunk is out and resumed when its write has completed.
 */
class ScgiCall implements StreamedBody, ConnectionEvents {
  readonly #where: string;
  readonly #address: SocketAddress;
  /** Until it is written: then the socket holds what it still needs, and a large upload can go. */
  #request: readonly Buffer[];
  readonly #connection: UpstreamConnection;
  readonly #options: ScgiCallOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #resolveCall: (response: ScgiResponse) => void;
  readonly #rejectCall: (error: UpstreamError) => void;
  #phase: Phase = 'head';
  #connected = false;
  #headParts: Buffer[] = [];
  #headBytes = 0;
  #responseHead: ResponseHead | undefined;
  #expected: number | undefined;
  #whole: Buffer | undefined;
  #bytes = 0;
  /** A chunk read but not yet taken by a consumer. */
  #pending: Buffer | undefined;
  #consumer: Consumer | undefined;
  /** A chunk that is a view into the read buffer is still being written somewhere. */
  #writing = false;
  #closed = false;
  #connectionReturned = false;
  #error: UpstreamError | undefined;
  #settledListeners: Array<(error: UpstreamError | undefined) => void> = [];

  constructor(
    address: SocketAddress,
    request: readonly Buffer[],
    options: ScgiCallOptions,
    resolve: (response: ScgiResponse) => void,
    reject: (error: UpstreamError) => void,
  ) {
    this.#where = address.label;
    this.#address = address;
    this.#request = request;
    this.#options = options;
    this.#resolveCall = resolve;
    this.#rejectCall = reject;
    this.#timer = setTimeout(() => {
      this.#fail(
        new UpstreamError('GW_UPSTREAM_TIMEOUT', this.#where, `rtorrent at ${this.#where} did not answer within ${options.timeoutMs} ms (upstream.timeout)`),
      );
    }, options.timeoutMs);
    this.#connection = options.connections.open(this);
    // After the connection exists: a signal that has already fired runs the listener at once.
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  onConnect(): void {
    this.#connected = true;
    const socket = this.#connection.socket;
    socket.cork();
    for (const part of this.#request) socket.write(part);
    socket.uncork();
    this.#request = [];
  }

  onClose(): void {
    this.#closed = true;
    this.#returnConnection();
  }

  get bytes(): number {
    return this.#bytes;
  }

  pipeTo(sink: Writable, maxBytes = Number.POSITIVE_INFINITY): Promise<void> {
    return this.#consume((chunk, written) => {
      if (this.#bytes > maxBytes) {
        written(new UpstreamError('GW_ANSWER_TOO_LARGE', this.#where, `the answer from rtorrent at ${this.#where} passed ${maxBytes} bytes, the most this caller may receive`));
        return;
      }
      sink.write(chunk, written);
    });
  }

  async readAll(maxBytes: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    await this.#consume((chunk, written) => {
      size += chunk.length;
      if (size > maxBytes) {
        tooLarge = true;
        written(new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', this.#where, `the answer from rtorrent at ${this.#where} is larger than ${maxBytes} bytes`));
        return;
      }
      parts.push(Buffer.from(chunk));
      written();
    }).catch((error: unknown) => {
      if (!tooLarge) throw error;
    });
    return tooLarge ? undefined : Buffer.concat(parts, size);
  }

  destroy(): void {
    this.#fail(new UpstreamError('GW_CLIENT_CLOSED', this.#where, `the client closed the connection while rtorrent at ${this.#where} was answering`));
  }

  onSettled(listener: (error: UpstreamError | undefined) => void): void {
    if (this.#phase === 'settled') listener(this.#error);
    else this.#settledListeners.push(listener);
  }

  #consume(take: Consumer['take']): Promise<void> {
    if (this.#consumer) return Promise.reject(new Error('the answer body is already being read'));
    if (this.#phase === 'settled') return this.#error ? Promise.reject(this.#error) : Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#consumer = { take, resolve, reject };
      this.#handOn();
    });
  }

  readonly #onAbort = (): void => {
    this.#fail(new UpstreamError('GW_CLIENT_CLOSED', this.#where, `the client closed the connection while rtorrent at ${this.#where} was being called`));
  };

  /** Returns false to pause the socket: the read buffer then holds a chunk someone still needs. */
  onRead(length: number): boolean {
    const view = this.#connection.buffer.subarray(0, length);
    switch (this.#phase) {
      case 'head':
        return this.#readHead(view);
      case 'whole':
        this.#fillWhole(view);
        return true;
      case 'body':
        return this.#offer(view);
      default:
        return false;
    }
  }

  #readHead(view: Buffer): boolean {
    // The head nearly always comes in the first read; only a split one is copied out of the read buffer.
    let buffered = view;
    if (this.#headParts.length > 0) {
      this.#headParts.push(Buffer.from(view));
      buffered = Buffer.concat(this.#headParts);
      this.#headParts = [buffered];
    }
    this.#headBytes += view.length;
    const parsed = parseResponseHead(buffered.subarray(0, Math.min(buffered.length, MAX_HEAD_BYTES + 3)));
    if (parsed.state === 'incomplete') {
      if (this.#headBytes > MAX_HEAD_BYTES) {
        this.#fail(new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', this.#where, `rtorrent at ${this.#where} sent a response head over ${MAX_HEAD_BYTES} bytes`));
        return false;
      }
      if (this.#headParts.length === 0) this.#headParts.push(Buffer.from(view));
      return true;
    }
    if (parsed.state === 'invalid') {
      this.#fail(new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', this.#where, `rtorrent at ${this.#where} sent an invalid response head: ${parsed.reason}`));
      return false;
    }
    this.#headParts = [];
    const { head } = parsed;
    const rest = buffered.subarray(parsed.bodyStart);
    this.#responseHead = head;
    this.#expected = head.contentLength;
    if (head.contentLength !== undefined && head.contentLength <= WHOLE_ANSWER_MAX_BYTES) {
      this.#phase = 'whole';
      // Pooled for small sizes, so a small answer allocates nothing of its own.
      this.#whole = Buffer.allocUnsafe(head.contentLength);
      this.#fillWhole(rest);
      return true;
    }
    this.#phase = 'body';
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#resolveCall({ kind: 'streamed', head, body: this });
    return rest.length === 0 ? true : this.#offer(rest);
  }

  #fillWhole(chunk: Buffer): void {
    const whole = this.#whole as Buffer;
    // Anything past Content-Length is dropped, as nginx does.
    this.#bytes += chunk.copy(whole, this.#bytes, 0, Math.min(chunk.length, whole.length - this.#bytes));
    if (this.#bytes < whole.length) return;
    this.#phase = 'settled';
    this.#stop();
    this.#resolveCall({ kind: 'whole', head: this.#responseHead as ResponseHead, body: whole });
  }

  #offer(chunk: Buffer): boolean {
    const room = this.#expected === undefined ? chunk.length : this.#expected - this.#bytes;
    const taken = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.#bytes += taken.length;
    this.#pending = taken;
    this.#handOn();
    // A consumer that copied the chunk at once (readAll) has released the buffer already: keep
    // reading, since a resume() from inside this read callback would be lost.
    return this.#pending === undefined && !this.#writing && this.#phase === 'body';
  }

  #handOn(): void {
    const consumer = this.#consumer;
    const chunk = this.#pending;
    if (!consumer || chunk === undefined || this.#writing || this.#phase !== 'body') return;
    this.#pending = undefined;
    this.#writing = true;
    consumer.take(chunk, (error) => this.#written(error ?? undefined));
  }

  #written(error: Error | undefined): void {
    this.#writing = false;
    this.#returnConnection();
    if (this.#phase !== 'body') return;
    if (error) {
      this.#fail(error);
      return;
    }
    if (this.#expected !== undefined && this.#bytes >= this.#expected) {
      this.#complete();
      return;
    }
    this.#connection.socket.resume();
  }

  onEnd(): void {
    switch (this.#phase) {
      case 'head':
        this.#fail(
          new UpstreamError(
            'GW_UPSTREAM_BAD_RESPONSE',
            this.#where,
            this.#headBytes === 0
              ? `rtorrent at ${this.#where} closed the connection without answering; it does this when the request is too large or all of its SCGI slots are busy`
              : `rtorrent at ${this.#where} closed the connection in the middle of the response head`,
          ),
        );
        return;
      case 'body':
        if (this.#expected === undefined) {
          // No Content-Length: the end of the connection is the end of the answer. Nothing is
          // pending here, since the socket reads (and so sees its end) only once a chunk is flushed.
          this.#complete();
          return;
        }
        break;
      case 'settled':
        return;
    }
    this.#fail(
      new UpstreamError(
        'GW_UPSTREAM_BAD_RESPONSE',
        this.#where,
        `rtorrent at ${this.#where} closed the connection after ${this.#bytes} of ${this.#expected} body bytes`,
      ),
    );
  }

  onError(error: NodeJS.ErrnoException): void {
    if (!this.#connected) {
      this.#fail(connectError(this.#address, error));
      return;
    }
    this.#fail(
      new UpstreamError(
        'GW_UPSTREAM_BAD_RESPONSE',
        this.#where,
        this.#phase === 'head'
          ? `rtorrent at ${this.#where} reset the connection before answering (${error.code ?? error.message}); ` +
            `it does this when the request is too large or all of its SCGI slots are busy`
          : `rtorrent at ${this.#where} broke the connection mid-response (${error.code ?? error.message})`,
        { cause: error },
      ),
    );
  }

  #complete(): void {
    this.#phase = 'settled';
    this.#stop();
    const consumer = this.#consumer;
    this.#consumer = undefined;
    consumer?.resolve();
    this.#settle(undefined);
  }

  /** `error` is an UpstreamError, or a sink's own error while writing the body out. */
  #fail(error: Error): void {
    if (this.#phase === 'settled') return;
    const resolved = this.#phase === 'body';
    this.#phase = 'settled';
    this.#pending = undefined;
    this.#stop();
    const upstreamError =
      error instanceof UpstreamError
        ? error
        : new UpstreamError('GW_CLIENT_CLOSED', this.#where, `the answer from rtorrent at ${this.#where} could not be written on: ${error.message}`, { cause: error });
    if (!resolved) {
      this.#rejectCall(upstreamError);
      return;
    }
    const consumer = this.#consumer;
    this.#consumer = undefined;
    consumer?.reject(error);
    this.#settle(upstreamError);
  }

  #settle(error: UpstreamError | undefined): void {
    this.#error = error;
    const listeners = this.#settledListeners;
    this.#settledListeners = [];
    for (const listener of listeners) listener(error);
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#connection.socket.destroy();
  }

  /** Back to the pool only once closed, with no write still pointing into its buffer. */
  #returnConnection(): void {
    if (!this.#closed || this.#writing || this.#connectionReturned) return;
    this.#connectionReturned = true;
    this.#options.connections.give(this.#connection);
  }
}

/**
 * One XML-RPC call over one SCGI connection (rtorrent serves one request per connection and
 * closes it). Resolves with the whole answer when it is small, else once the response head has
 * arrived, with a body still to be relayed.
 */
export function callScgi(address: SocketAddress, body: Buffer, meta: ScgiRequestMeta, options: ScgiCallOptions): Promise<ScgiResponse> {
  // Head and body leave in one syscall either way (one buffer, or two corked into one writev);
  // a large upload, such as the load.raw_start of a 1 MiB torrent, is not copied for that.
  const head = encodeScgiHead(body.length, meta);
  const request = body.length <= COPY_REQUEST_MAX_BYTES ? [Buffer.concat([head, body])] : [head, body];
  return new Promise<ScgiResponse>((resolve, reject) => {
    new ScgiCall(address, request, options, resolve, reject);
  });
}
