/**
 * An SCGI listener in front of rtorrent: clients that only speak SCGI (Flood, ruTorrent's PHP side)
 * connect here instead of to rtorrent's own socket, and every call goes through the same strict
 * parse, policy check and canonical encoding as the HTTP side (call-decision.ts).
 *
 * SCGI carries no credentials, so a listener is bound to one user, and whoever may connect acts
 * as that user: the socket file's mode/owner/group (or loopback-only TCP) is the access control.
 *
 * One request per connection, as rtorrent does it: read the head and exactly CONTENT_LENGTH body
 * bytes, answer, close.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { XmlLimits } from '../xmlrpc/call-limits.js';
import type { UserBudgets } from '../budget/user-budgets.js';
import type { Caller } from '../call-decision.js';
import { relayCall, relayFailure } from '../call-relay.js';
import { ConfigError, OverBudgetError } from '../errors.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { CallBudget } from '../policy/types.js';
import { requestLogEntry } from '../request-log-line.js';
import type { RequestOutcome, RequestSummary } from '../request-summary.js';
import { ClientGone } from '../upstream/call-signal.js';
import type { StreamedBody } from '../upstream/scgi-client.js';
import type { Upstream } from '../upstream/upstream.js';
import { faultAnswer, relayedHead, textAnswer } from './replies.js';
import { parseScgiHead, PROBLEM_STATUS, type ScgiRequestLimits } from './request.js';
import { bindUnixSocket, DEFAULT_SOCKET_MODE, removeSocketFile, type BoundSocketFile, type UnixSocketOptions } from './socket-file.js';

export type ScgiListenAddress =
  | ({ readonly kind: 'unix' } & UnixSocketOptions)
  /** Loopback only: TCP has no permissions, so every local user could act as the listener's user. */
  | { readonly kind: 'tcp'; readonly host: '127.0.0.1' | '::1'; readonly port: number };

export interface ScgiListenerOptions {
  readonly listen: ScgiListenAddress;
  /** The identity every call on this listener runs as (logs and fault messages name it). */
  readonly user: string;
  /**
   * The user's policy, or a function returning the current one: looked up per request, so a
   * configuration reload can swap policies without rebinding the socket (a live socket cannot be
   * replaced by a second listener, see socket-file.ts).
   */
  readonly policy: CompiledPolicy | (() => CompiledPolicy);
  readonly upstream: Upstream;
  readonly logger: Logger;
  /** Largest SCGI header block; default 2000, rtorrent's own limit. */
  readonly maxHeaderBytes?: number;
  readonly maxBodyBytes: number;
  /** Bounds on one parsed call ([limits]), as on the HTTP side. */
  readonly limits?: XmlLimits;
  /** No byte read or written for this long while receiving the request or sending the answer: close. Default 10 s. */
  readonly idleTimeoutMs?: number;
  /** The whole request (head and body) must arrive within this, however steadily it trickles. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Connections beyond this are closed on accept, as rtorrent does when its 100 slots are busy. Default 128. */
  readonly maxConnections?: number;
  /** The user's calls in flight and call rate, shared with their HTTP calls; unbounded when absent. */
  readonly budgets?: UserBudgets;
  readonly budgetOf?: (user: string, policy: CompiledPolicy) => CallBudget;
  /** The readonly policy, to tell reads (which may share answers) from calls that change rtorrent. */
  readonly readOnlyPolicy?: () => CompiledPolicy | undefined;
  /** Called once per finished call, as for HTTP requests (metrics, the audit file). */
  readonly observers?: ReadonlyArray<(summary: RequestSummary) => void>;
  /** Marks the log line as an audit record. */
  readonly audited?: (summary: RequestSummary) => boolean;
}

export interface ScgiListener {
  /** "unix:/path" or "tcp://127.0.0.1:port" (the real port when 0 was asked for). */
  readonly address: string;
  /**
   * Stops accepting and removes the socket file. Connections owed nothing (no complete request
   * yet, or answered already) are dropped; calls in flight finish first.
   */
  close(): Promise<void>;
}

const DEFAULT_MAX_HEADER_BYTES = 2000;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_CONNECTIONS = 128;
/** Bytes after the body are ignored (rtorrent never reads them either), but not without end. */
const MAX_TRAILING_BYTES = 64 * 1024;
/** Sent to rtorrent as REQUEST_URI/REMOTE_ADDR: it ignores them, its log.xmlrpc shows them. */
const UPSTREAM_META = { requestUri: '/RPC2', remoteAddr: 'scgi-listener' } as const;

interface Context {
  readonly user: string;
  readonly policy: () => CompiledPolicy;
  readonly upstream: Upstream;
  readonly logger: Logger;
  readonly limits: ScgiRequestLimits;
  readonly callLimits: XmlLimits | undefined;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly budgets: UserBudgets | undefined;
  readonly budgetOf: ((user: string, policy: CompiledPolicy) => CallBudget) | undefined;
  readonly readOnlyPolicy: (() => CompiledPolicy | undefined) | undefined;
  readonly address: string;
  readonly observers: ReadonlyArray<(summary: RequestSummary) => void>;
  readonly audited: ((summary: RequestSummary) => boolean) | undefined;
}

/** One accepted connection, from the first byte to the close. */
class ScgiConnection {
  private phase: 'reading' | 'calling' | 'answering' | 'done' = 'reading';
  private chunks: Buffer[] = [];
  private received = 0;
  private head: { contentLength: number; bodyStart: number } | undefined;
  private trailing = 0;
  private readonly started = performance.now();
  private readonly requestTimer: NodeJS.Timeout;
  private methods: readonly string[] = [];
  private outcome: RequestOutcome = 'no_request';
  private status: number | undefined;
  private problem: string | undefined;
  /** over_budget: which budget ran out (in_flight, rate). */
  private budget: string | undefined;
  private upstreamBody: StreamedBody | undefined;
  /** Fires when the client leaves, so its call gives up its queue place and rtorrent's connection. */
  private readonly gone = new ClientGone();
  private policyName: string | undefined;
  /** The line is written once both the socket has closed and the handler has returned. */
  private handlerRunning = false;
  private closed = false;
  private logged = false;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: Context,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(ctx.idleTimeoutMs);
    this.requestTimer = setTimeout(() => this.onTimeout('the request did not arrive completely in time'), ctx.requestTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // Flood half-closes right after writing its request; that is not a goodbye, so only the
    // reading phase cares (allowHalfOpen keeps our side writable).
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.onTimeout('the client sent nothing for too long'));
    // Every error is followed by 'close', where the line gets logged.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (this.phase === 'calling' || this.phase === 'answering') this.clientGone(error.code ?? error.message);
    });
    socket.once('close', () => {
      this.closed = true;
      clearTimeout(this.requestTimer);
      // A client that leaves must not keep one of rtorrent's SCGI slots busy.
      this.upstreamBody?.destroy();
      if (this.phase === 'calling') this.gone.abort();
      if (this.phase === 'calling' && this.outcome === 'no_request') this.clientGone('closed before the answer');
      this.writeLogLine();
    });
  }

  /** Nothing is owed to this client: no complete request yet, or our whole answer is already out. */
  get idle(): boolean {
    return this.phase === 'reading' || (this.phase === 'done' && this.socket.writableFinished);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.phase !== 'reading') {
      this.trailing += chunk.length;
      if (this.trailing > MAX_TRAILING_BYTES) this.socket.destroy();
      return;
    }
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.head === undefined) {
      // The head is at most ~2 KB, so re-joining while it trickles in costs nothing.
      const buffered = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.received);
      this.chunks = [buffered];
      const parsed = parseScgiHead(buffered, this.ctx.limits);
      if (parsed.state === 'incomplete') return;
      if (parsed.state === 'invalid') {
        this.outcome = 'bad_scgi';
        this.problem = parsed.message;
        const status = PROBLEM_STATUS[parsed.problem];
        this.answer(status, textAnswer(status, parsed.message));
        return;
      }
      this.head = { contentLength: parsed.contentLength, bodyStart: parsed.bodyStart };
    }
    const { contentLength, bodyStart } = this.head;
    if (this.received - bodyStart < contentLength) return;
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.received);
    // Extra bytes are ignored, as rtorrent ignores them; the log line counts them.
    this.trailing = this.received - bodyStart - contentLength;
    this.endReading();
    this.handlerRunning = true;
    this.handleRequest(all.subarray(bodyStart, bodyStart + contentLength))
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.handlerRunning = false;
        this.writeLogLine();
      });
  }

  private onEnd(): void {
    if (this.phase !== 'reading') return;
    if (this.received === 0) {
      this.endReading();
      this.phase = 'done';
      this.socket.end();
      return;
    }
    this.outcome = 'incomplete';
    this.problem = `half-closed after ${this.received} bytes`;
    this.answer(400, textAnswer(400, `the connection was half-closed after ${this.received} bytes, before the SCGI request was complete`));
  }

  private onTimeout(why: string): void {
    if (this.phase === 'reading') {
      this.outcome = 'timeout';
      this.problem = why;
      this.answer(
        408,
        textAnswer(408, `${why}: an SCGI request must arrive within ${this.ctx.requestTimeoutMs} ms, with no pause over ${this.ctx.idleTimeoutMs} ms`),
      );
      return;
    }
    // A client that does not read our answer, or keeps a finished connection open.
    if (this.phase === 'answering') this.clientGone('stopped reading the answer');
    this.socket.destroy();
  }

  private clientGone(why: string): void {
    // The first reason is the real one; the stream errors that follow it only echo it.
    if (this.outcome === 'upstream_truncated' || this.outcome === 'client_gone') return;
    this.outcome = 'client_gone';
    this.problem = why;
  }

  private endReading(): void {
    clearTimeout(this.requestTimer);
    this.chunks = [];
    if (this.phase === 'reading') this.phase = 'calling';
  }

  /**
   * Writes a complete answer of our own and half-closes. The socket closes itself once the
   * client has closed its side too; one that never does is dropped by the idle timeout.
   */
  private answer(status: number, bytes: Buffer): void {
    this.endReading();
    this.phase = 'done';
    if (this.closed || this.socket.destroyed) return;
    this.status = status;
    this.socket.setTimeout(this.ctx.idleTimeoutMs);
    this.socket.end(bytes);
  }

  private async handleRequest(body: Buffer): Promise<void> {
    // rtorrent's wait is bounded by upstream.timeout; meanwhile the client may rightly be silent.
    this.socket.setTimeout(0);
    if (body.length === 0) {
      this.outcome = 'invalid';
      this.problem = 'empty body';
      this.answer(400, textAnswer(400, 'empty request body: expected an XML-RPC <methodCall>'));
      return;
    }
    const policy = this.ctx.policy();
    this.policyName = policy.name;
    const caller: Caller = { user: this.ctx.user, policy };
    const upstream = this.ctx.upstream;
    // Shared with the HTTP side's identical reads: Flood's polls and a browser's get one answer.
    const result = await relayCall({
      body,
      json: false,
      caller,
      upstream,
      limits: this.ctx.callLimits,
      readOnlyPolicy: this.ctx.readOnlyPolicy?.(),
      ...(this.ctx.budgets === undefined
        ? {}
        : { budget: { budgets: this.ctx.budgets, of: this.ctx.budgetOf?.(caller.user, policy) ?? policy.limits.budget, hold: (release) => this.socket.once('close', release) } }),
      meta: UPSTREAM_META,
      signal: this.gone,
      logger: this.ctx.logger,
    });
    this.methods = result.methods;
    if (this.closed) {
      // The client left while rtorrent was asked: it is client_gone (set on close), whatever came back.
      if (result.kind === 'answered' && result.response.kind === 'streamed') result.response.body.destroy();
      return;
    }
    this.outcome = result.outcome;
    if (result.kind === 'failed') {
      // 502 unreachable or bad answer, 503 busy, 504 timeout: the same table and outcome as the HTTP side.
      this.problem = result.error.message;
      this.answer(result.error.status, textAnswer(result.error.status, result.error.message));
      return;
    }
    if (result.kind === 'refused') {
      this.problem = result.problem;
      this.budget = result.budget;
      if (result.error instanceof OverBudgetError) this.answer(429, textAnswer(429, result.error.message, { 'Retry-After': String(result.error.retryAfterSeconds) }));
      else this.answer(200, faultAnswer(result.error));
      return;
    }
    const { response } = result;
    if (response.kind === 'whole') {
      this.answer(response.head.status, Buffer.concat([relayedHead(response.head), response.body]));
      return;
    }
    this.phase = 'answering';
    this.status = response.head.status;
    this.upstreamBody = response.body;
    this.socket.setTimeout(this.ctx.idleTimeoutMs);
    this.socket.write(relayedHead(response.head));
    // pipeTo keeps backpressure end to end: a slow reader slows rtorrent's socket, not our memory.
    try {
      await response.body.pipeTo(this.socket, result.answerLimit);
      this.phase = 'done';
      this.socket.end();
    } catch (error) {
      const failure = relayFailure(error, result, response.body.bytes);
      if (failure.outcome === 'client_gone') this.clientGone(failure.problem);
      else {
        this.outcome = failure.outcome;
        this.problem = failure.problem;
      }
      // The head promised Content-Length bytes; closing is the only honest signal left.
      this.socket.destroy();
    }
  }

  /** A bug in the handler: answer 500 if we still can, never leave the client hanging. */
  private fail(error: unknown): void {
    this.outcome = 'internal_error';
    this.problem = error instanceof Error ? (error.stack ?? error.message) : String(error);
    if (this.phase === 'calling' && !this.closed) this.answer(500, textAnswer(500, 'internal error in the gateway; see its log'));
    else this.socket.destroy();
  }

  private writeLogLine(): void {
    if (this.logged || !this.closed || this.handlerRunning) return;
    this.logged = true;
    const log = this.ctx.logger;
    if (this.outcome === 'no_request') {
      // Probes (our own stale-socket check, monitoring) connect and leave without a byte.
      if (this.received === 0) {
        log.debug({ user: this.ctx.user }, 'connection closed without a request');
        return;
      }
      this.outcome = 'incomplete';
    }
    const summary: RequestSummary = {
      transport: 'scgi',
      remote: this.ctx.address,
      method: 'POST',
      path: this.ctx.address,
      user: this.ctx.user,
      // The socket's permissions are the login: whoever could connect is this user.
      authenticated: true,
      policy: this.policyName ?? this.ctx.policy().name,
      methods: this.methods,
      outcome: this.outcome,
      status: this.status ?? 0,
      bytesIn: this.socket.bytesRead,
      bytesOut: this.socket.bytesWritten,
      encoding: undefined,
      ms: Math.round((performance.now() - this.started) * 100) / 100,
      denial: this.problem,
      budget: this.budget,
    };
    const entry = requestLogEntry(summary, { audited: this.ctx.audited?.(summary) === true, extra: this.trailing > 0 ? { trailingBytes: this.trailing } : undefined });
    log[entry.level](entry.fields, entry.message);
    for (const observe of this.ctx.observers) {
      try {
        observe(summary);
      } catch (error) {
        // A broken counter or a full disk under the audit file must not take the listener down.
        log.error({ err: error }, 'request observer failed');
      }
    }
  }
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Starts one listener. Rejects (ConfigError for configuration problems) without leaving a socket behind. */
export async function startScgiListener(options: ScgiListenerOptions): Promise<ScgiListener> {
  const listen = options.listen;
  if (listen.kind === 'tcp' && listen.host !== '127.0.0.1' && listen.host !== '::1') {
    throw new ConfigError(`SCGI listener: TCP is only offered on loopback (127.0.0.1 or ::1), not ${String(listen.host)}`);
  }
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  // 17 bytes is the smallest head there is: "CONTENT_LENGTH\0" "0\0".
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 17) throw new ConfigError(`SCGI listener: maxHeaderBytes must be an integer ≥ 17, not ${String(maxHeaderBytes)}`);
  if (!Number.isSafeInteger(options.maxBodyBytes) || options.maxBodyBytes < 1) throw new ConfigError(`SCGI listener: maxBodyBytes must be a positive integer, not ${String(options.maxBodyBytes)}`);

  const listenerAddress = listen.kind === 'unix' ? `unix:${listen.path}` : `tcp://${listen.host}:${listen.port}`;
  const logger = options.logger.child({ listener: listenerAddress });
  const ctx: Context = {
    user: options.user,
    policy: typeof options.policy === 'function' ? options.policy : () => options.policy as CompiledPolicy,
    upstream: options.upstream,
    logger,
    limits: { maxHeaderBytes, maxBodyBytes: options.maxBodyBytes },
    callLimits: options.limits,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    budgets: options.budgets,
    budgetOf: options.budgetOf,
    readOnlyPolicy: options.readOnlyPolicy,
    address: listenerAddress,
    observers: options.observers ?? [],
    audited: options.audited,
  };

  const connections = new Set<ScgiConnection>();
  // allowHalfOpen: a client's FIN after its request (Flood's stream.end()) must not end our answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const connection = new ScgiConnection(socket, ctx);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.on('drop', () => logger.warn({ maxConnections: server.maxConnections }, 'connection refused: too many open SCGI connections'));

  let bound: BoundSocketFile | undefined;
  let address: string;
  if (listen.kind === 'unix') {
    bound = await bindUnixSocket(server, listen);
    address = `unix:${listen.path}`;
    if (((listen.mode ?? DEFAULT_SOCKET_MODE) & 0o002) !== 0) {
      logger.warn({ user: options.user }, `SCGI socket is writable by every local user: anyone on this host can call rtorrent as "${options.user}"`);
    }
  } else {
    await listenTcp(server, listen.host, listen.port);
    const info = server.address();
    const port = typeof info === 'object' && info !== null ? info.port : listen.port;
    address = listen.host === '::1' ? `tcp://[::1]:${port}` : `tcp://${listen.host}:${port}`;
    logger.warn({ user: options.user }, `SCGI over TCP has no access control: every local user can call rtorrent as "${options.user}"`);
  }
  // After listening, errors are accept() failures (EMFILE…): worth a line, not a crash of the gateway.
  server.on('error', (error) => logger.error({ err: error }, 'SCGI listener error'));
  // "SCGI listener ready" is the caller's line (gateway.ts): one here as well printed each listener twice.

  let closing: Promise<void> | undefined;
  return {
    address,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const connection of connections) if (connection.idle) connection.destroy();
        await closed;
        if (bound) await removeSocketFile(bound);
      })();
      return closing;
    },
  };
}
