import { connect, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import type { SocketAddress } from '../config/address.js';
import { UpstreamError } from '../errors.js';
import { parseResponseHead, type ResponseHead } from './response-head.js';
import { encodeScgiHead, type ScgiRequestMeta } from './scgi-request.js';
import type { CallSignal } from './call-signal.js';

export interface ScgiCallOptions {
  /** Whole-call limit, from connect to the last body byte: rtorrent 0.9.8 has no timeouts of its own. */
  readonly timeoutMs: number;
  /** nginx gives up on heads larger than its 4 KiB scgi_buffer_size; rtorrent's is ~70 bytes. */
  readonly maxHeadBytes?: number;
  /** The client went away: drop the connection so rtorrent's slot is freed. */
  readonly signal?: CallSignal;
  /** Answers declaring at most this many body bytes are read whole before the call resolves. */
  readonly wholeAnswerMaxBytes?: number;
}

/** A small answer, read whole: exactly Content-Length bytes, the upstream connection already closed. */
export interface WholeAnswer {
  readonly kind: 'whole';
  readonly head: ResponseHead;
  readonly body: Buffer;
}

export interface StreamedAnswer {
  readonly kind: 'streamed';
  readonly head: ResponseHead;
  /**
   * The body, relayed with backpressure. It ends only after exactly Content-Length bytes and
   * errors if rtorrent stops short, so a truncated answer is never passed off as complete.
   * Destroying it closes the upstream connection.
   */
  readonly body: Transform;
}

export type ScgiResponse = WholeAnswer | StreamedAnswer;

const DEFAULT_MAX_HEAD_BYTES = 8192;
/**
 * Most calls (a version, a speed, one torrent's fields) answer in a few hundred bytes and arrive
 * in one read. Handing those on as one buffer skips a stream per call, which costs more than the
 * call itself; answers above this size still stream with backpressure and are never held whole.
 */
export const DEFAULT_WHOLE_ANSWER_MAX_BYTES = 64 * 1024;

/** Counts body bytes against Content-Length, dropping any excess as nginx does. */
class BodyRelay extends Transform {
  private received = 0;
  constructor(
    private readonly expected: number | undefined,
    private readonly upstream: string,
  ) {
    super();
  }
  get bytes(): number {
    return this.received;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.expected !== undefined && this.received + chunk.length > this.expected) {
      chunk = chunk.subarray(0, this.expected - this.received);
    }
    this.received += chunk.length;
    callback(null, chunk.length > 0 ? chunk : undefined);
  }
  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.received < this.expected) {
      callback(
        new UpstreamError(
          'GW_UPSTREAM_BAD_RESPONSE',
          this.upstream,
          `rtorrent at ${this.upstream} closed the connection after ${this.received} of ${this.expected} body bytes`,
        ),
      );
      return;
    }
    callback();
  }
}

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

/**
 * One XML-RPC call over one SCGI connection (rtorrent serves one request per connection and
 * closes it). Resolves once the response head has arrived; the body then streams.
 */
export function callScgi(
  address: SocketAddress,
  body: Buffer,
  meta: ScgiRequestMeta,
  options: ScgiCallOptions,
): Promise<ScgiResponse> {
  const maxHeadBytes = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
  const wholeMax = options.wholeAnswerMaxBytes ?? DEFAULT_WHOLE_ANSWER_MAX_BYTES;
  const where = address.label;

  return new Promise<ScgiResponse>((resolve, reject) => {
    const socket: Socket =
      address.kind === 'unix' ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    let connected = false;
    let headChunks: Buffer[] = [];
    let headBytes = 0;
    let relay: BodyRelay | undefined;
    let settled = false;
    let headRead = false;

    const fail = (error: UpstreamError): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (relay) relay.destroy(error);
      else if (!settled) {
        settled = true;
        reject(error);
      }
    };

    const timer = setTimeout(() => {
      fail(
        new UpstreamError(
          'GW_UPSTREAM_TIMEOUT',
          where,
          `rtorrent at ${where} did not answer within ${options.timeoutMs} ms (upstream.timeout)`,
        ),
      );
    }, options.timeoutMs);

    const onAbort = (): void => {
      fail(new UpstreamError('GW_CLIENT_CLOSED', where, `the client closed the connection while rtorrent at ${where} was being called`));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    if (address.kind === 'tcp') socket.setNoDelay(true);
    socket.once('connect', () => {
      connected = true;
      // One write, so the request leaves in one syscall.
      socket.write(Buffer.concat([encodeScgiHead(body.length, meta), body]));
    });

    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!connected) {
        fail(connectError(address, error));
        return;
      }
      fail(
        new UpstreamError(
          'GW_UPSTREAM_BAD_RESPONSE',
          where,
          headRead
            ? `rtorrent at ${where} broke the connection mid-response (${error.code ?? error.message})`
            : `rtorrent at ${where} reset the connection before answering (${error.code ?? error.message}); ` +
              `it does this when the request is too large or all of its SCGI slots are busy`,
          { cause: error },
        ),
      );
    });

    const onHeadData = (chunk: Buffer): void => {
      headChunks.push(chunk);
      headBytes += chunk.length;
      const buffered = headChunks.length === 1 ? chunk : Buffer.concat(headChunks, headBytes);
      headChunks = [buffered];
      const parsed = parseResponseHead(buffered.subarray(0, Math.min(buffered.length, maxHeadBytes + 3)));
      if (parsed.state === 'incomplete') {
        if (headBytes > maxHeadBytes) {
          fail(new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `rtorrent at ${where} sent a response head over ${maxHeadBytes} bytes`));
        }
        return;
      }
      if (parsed.state === 'invalid') {
        fail(new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `rtorrent at ${where} sent an invalid response head: ${parsed.reason}`));
        return;
      }
      socket.removeListener('data', onHeadData);
      socket.removeListener('end', onEndBeforeHead);
      headRead = true;
      const rest = buffered.subarray(parsed.bodyStart);
      const length = parsed.head.contentLength;
      if (length !== undefined && length <= wholeMax) readWhole(parsed.head, length, rest);
      else stream(parsed.head, rest);
    };

    const readWhole = (head: ResponseHead, length: number, first: Buffer): void => {
      const chunks = [first];
      let received = first.length;
      const finish = (): void => {
        if (received < length) return;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        settled = true;
        // Anything past Content-Length is dropped, as nginx does.
        const whole = chunks.length === 1 ? first : Buffer.concat(chunks, received);
        resolve({ kind: 'whole', head, body: whole.subarray(0, length) });
      };
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        finish();
      });
      socket.once('end', () => {
        if (received < length) {
          fail(
            new UpstreamError(
              'GW_UPSTREAM_BAD_RESPONSE',
              where,
              `rtorrent at ${where} closed the connection after ${received} of ${length} body bytes`,
            ),
          );
        }
      });
      finish();
    };

    const stream = (head: ResponseHead, rest: Buffer): void => {
      socket.pause();
      relay = new BodyRelay(head.contentLength, where);
      const current = relay;
      options.signal?.removeEventListener('abort', onAbort);
      current.once('close', () => {
        clearTimeout(timer);
        socket.destroy();
      });
      if (rest.length > 0) current.write(rest);
      socket.pipe(current);
      settled = true;
      resolve({ kind: 'streamed', head, body: current });
    };

    const onEndBeforeHead = (): void => {
      fail(
        new UpstreamError(
          'GW_UPSTREAM_BAD_RESPONSE',
          where,
          headBytes === 0
            ? `rtorrent at ${where} closed the connection without answering; it does this when the request is too large or all of its SCGI slots are busy`
            : `rtorrent at ${where} closed the connection in the middle of the response head`,
        ),
      );
    };

    socket.on('data', onHeadData);
    socket.once('end', onEndBeforeHead);
  });
}
