/**
 * Limits on what one HTTP client may cost the gateway: how long it may take to send its headers
 * and its body, how long a connection may sit idle, how many connections there may be; and the
 * [limits] section's resolution, which also yields the bounds on one parsed call
 * (src/xmlrpc/call-limits.ts). Each limit has a config key under [limits]; every refusal names
 * that key, so an admin who sees it in a client or the log knows what to raise.
 *
 * Node's http server does the work for the connection limits; this module only picks values and
 * passes them the way Fastify 5 and Node 20 expect (see fastifyServerOptions and applyServerLimits
 * for which knob lives where). docs/hardening.md explains the defaults.
 */
import { maxHeaderSize, type Server as HttpServer, type ServerOptions as HttpServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { PolicyLimitDefaults } from '../policy/types.js';
import type { XmlLimits } from '../xmlrpc/call-limits.js';

export interface ServerLimits {
  /** From the first byte of a request (or the connection's start) to the end of its headers. */
  readonly headersTimeoutMs: number;
  /** From the first byte of a request to the last byte of its body. */
  readonly requestTimeoutMs: number;
  /** How long a connection may wait for its next request after a response. */
  readonly keepAliveTimeoutMs: number;
  /** Socket inactivity (nothing read, nothing written) at any stage, e.g. a client that stops reading. */
  readonly idleTimeoutMs: number;
  /** Open client connections; Node closes any connection accepted past this. */
  readonly maxConnections: number;
  /** Requests served on one keep-alive connection before it is closed; 0 or undefined: no limit. */
  readonly maxRequestsPerSocket?: number;
}

/**
 * - headers 10 s: every real client sends its headers in one write; only a slowloris needs longer.
 * - request 60 s: the whole body, so a 16 MiB load.raw_start must arrive at ≥ 280 KB/s and a
 *   typical torrent file (< 2 MiB) at ≥ 35 KB/s. Shorter would cut off real uploads on slow
 *   links; it would not stop a slowloris either, since the connection cap is what bounds those.
 * - keep-alive 5 s (Node's default; nginx has 75 s): ruTorrent polls every 1–5 s and keeps its
 *   connection, clients polling less often reconnect, which costs less than idle sockets.
 * - idle 120 s: must be longer than upstream.timeout (60 s), since a client waiting for a slow
 *   rtorrent sees no traffic meanwhile; see resolveLimits for when upstream.timeout is raised.
 * - 1024 connections: far above what a household of clients opens, far below the fd limit.
 */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
  maxConnections: 1024,
  maxRequestsPerSocket: 0,
});

/** An idle timeout at least this much longer than upstream.timeout, so a 504 can still be delivered. */
const IDLE_MARGIN_MS = 10_000;

/** Node checks header and request deadlines on a timer, 30 s by default: far too coarse for a 10 s limit. */
function checkingIntervalMs(limits: ServerLimits): number {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

/**
 * Options read by Node's http.createServer / https.createServer. Fastify passes `http` only to
 * http.createServer; with TLS, spread these into the `https` options too, or the TLS server keeps
 * Node's 60 s header timeout and 30 s checking interval.
 */
export function httpServerOptions(limits: ServerLimits): HttpServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // Node refuses headersTimeout > requestTimeout at construction, before Fastify sets its own.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

type ClientErrorHandler = (error: Error & { code?: string }, socket: Socket) => void;

interface SocketWithInternals extends Socket {
  /** Node's in-flight ServerResponse on this socket; its headers may already be out. */
  _httpMessage?: { headersSent?: boolean } | null;
  parser?: { incoming?: { complete?: boolean } | null } | null;
}

/**
 * Answers what Node reports before a request reaches Fastify (timeouts, oversized or broken
 * headers) in plain text naming the limit, like the gateway's other refusals, instead of
 * Fastify's JSON. A timed-out request whose headers had arrived was sending its body.
 */
function clientErrorHandler(limits: ServerLimits, logger: FastifyBaseLogger | undefined): ClientErrorHandler {
  return function (this: { log?: FastifyBaseLogger } | undefined, error, socket) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const s = socket as SocketWithInternals;
    // Headers in, body not: parser.incoming is the request whose body was still arriving.
    const inBody = s.parser?.incoming?.complete === false;
    let status: number;
    let message: string;
    let outcome: string;
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      outcome = inBody ? 'body_timeout' : 'header_timeout';
      message = inBody
        ? `request body not received within ${limits.requestTimeoutMs} ms (limits.request_timeout)`
        : `request headers not received within ${limits.headersTimeoutMs} ms (limits.header_timeout)`;
    } else if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      outcome = 'header_overflow';
      message = `request headers are larger than ${maxHeaderSize} bytes`;
    } else {
      status = 400;
      outcome = 'bad_http';
      message = `malformed HTTP request (${error.code ?? 'parse error'})`;
    }
    const log = this?.log ?? logger;
    // Timeouts are what a slowloris produces: warn, with the address, for fail2ban-style tools.
    log?.warn({ remote: socket.remoteAddress ?? 'unix', outcome, status }, 'connection refused');
    // Answer only when nothing else was or is being said about this request: never into a response
    // under way, and not after a complete one (a 401 sent while the body still trickles in), where
    // the client would read our answer as the one to its next request.
    const inFlight = s._httpMessage;
    const mayAnswer = inFlight ? inFlight.headersSent !== true : !inBody;
    if (socket.writable && mayAnswer) {
      const body = `${message}\n`;
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\n` +
          `Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}

export interface FastifyLimitOptions {
  readonly connectionTimeout: number;
  readonly keepAliveTimeout: number;
  readonly requestTimeout: number;
  readonly maxRequestsPerSocket: number;
  readonly http: HttpServerOptions;
  readonly clientErrorHandler: ClientErrorHandler;
}

/**
 * The Fastify constructor options that carry these limits:
 * - connectionTimeout → server.setTimeout(): socket inactivity, destroyed silently (idle).
 * - keepAliveTimeout → server.keepAliveTimeout (Fastify's default is 72 s).
 * - requestTimeout → server.requestTimeout, the whole request incl. body (Fastify's default 0
 *   turns off Node's 300 s default: a trickled body would otherwise never be cut off).
 * - http.headersTimeout and http.connectionsCheckingInterval exist only at construction.
 * server.maxConnections has no Fastify option: applyServerLimits sets it.
 */
export function fastifyServerOptions(limits: ServerLimits, logger?: FastifyBaseLogger): FastifyLimitOptions {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket ?? 0,
    http: httpServerOptions(limits),
    clientErrorHandler: clientErrorHandler(limits, logger),
  };
}

/** Connections dropped at the cap are logged at most this often, with a count, not one line each. */
const DROP_LOG_INTERVAL_MS = 10_000;
const kDropWatcher = Symbol('rtorrent-gateway.dropWatcher');

/**
 * Sets on the server object what can be set there (before or after listen; call it again after a
 * reload to apply new values to new connections and requests). Works for http and https servers
 * alike, so it also covers a TLS server built without httpServerOptions, except for the checking
 * interval, which Node reads only when it starts listening.
 *
 * Past maxConnections Node accepts and at once closes the connection: the client sees a reset or
 * an empty reply (curl: "Empty reply from server" or "Connection reset by peer"), never a status.
 */
export function applyServerLimits(server: HttpServer, limits: ServerLimits, logger?: FastifyBaseLogger): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket && limits.maxRequestsPerSocket > 0 ? limits.maxRequestsPerSocket : null;
  if (!server.listening) (server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = checkingIntervalMs(limits);

  const tagged = server as HttpServer & { [kDropWatcher]?: { limit: number } };
  if (tagged[kDropWatcher]) {
    tagged[kDropWatcher].limit = limits.maxConnections;
    return;
  }
  const watcher = { limit: limits.maxConnections };
  tagged[kDropWatcher] = watcher;
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
    lastLog = now;
    logger?.warn({ dropped, maxConnections: watcher.limit }, 'connections refused: limits.max_connections reached');
    dropped = 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Configuration: the [limits] section's values (schema.ts validates the keys and calls these).

export interface LimitsSection {
  readonly header_timeout: number;
  readonly request_timeout: number;
  readonly keep_alive_timeout: number;
  readonly idle_timeout?: number | undefined;
  readonly max_connections: number;
  readonly max_requests_per_socket: number;
  readonly max_depth: number;
  readonly max_values: number;
  readonly max_string_bytes?: number | undefined;
  readonly max_multicall_calls: number;
  readonly max_answer_cells: number;
  readonly max_answer_bytes: number;
  readonly max_pattern_length: number;
  readonly max_pattern_wildcards: number;
  readonly max_stored_value_bytes: number;
  readonly calls_in_flight: number;
  readonly call_rate: number;
  readonly call_burst: number;
}

export interface LimitsIssue {
  readonly path: readonly ['limits', string];
  readonly message: string;
}

/** Checks that span sections; schema.ts reports each with ctx.addIssue({ code: 'custom', ...issue }). */
export function limitsIssues(limits: LimitsSection, upstreamTimeoutMs: number): LimitsIssue[] {
  const issues: LimitsIssue[] = [];
  if (limits.header_timeout > limits.request_timeout) {
    issues.push({ path: ['limits', 'header_timeout'], message: 'must not be longer than limits.request_timeout (the headers are part of the request)' });
  }
  if (limits.idle_timeout !== undefined && limits.idle_timeout <= upstreamTimeoutMs) {
    issues.push({
      path: ['limits', 'idle_timeout'],
      message: `must be longer than upstream.timeout (${upstreamTimeoutMs} ms): a client waiting for rtorrent sees no traffic meanwhile`,
    });
  }
  return issues;
}

export interface ResolvedLimits {
  readonly server: ServerLimits;
  readonly xml: XmlLimits;
  /** What policies other than full fall back on: cost of a call, patterns, each user's call budget. */
  readonly policies: PolicyLimitDefaults;
}

export function resolveLimits(limits: LimitsSection, context: { readonly upstreamTimeoutMs: number; readonly bodyLimit: number }): ResolvedLimits {
  return {
    server: {
      headersTimeoutMs: limits.header_timeout,
      requestTimeoutMs: limits.request_timeout,
      keepAliveTimeoutMs: limits.keep_alive_timeout,
      idleTimeoutMs: limits.idle_timeout ?? Math.max(DEFAULT_SERVER_LIMITS.idleTimeoutMs, context.upstreamTimeoutMs + IDLE_MARGIN_MS),
      maxConnections: limits.max_connections,
      maxRequestsPerSocket: limits.max_requests_per_socket,
    },
    xml: {
      maxDepth: limits.max_depth,
      maxValues: limits.max_values,
      maxStringBytes: limits.max_string_bytes ?? context.bodyLimit,
      maxMulticallCalls: limits.max_multicall_calls,
    },
    policies: {
      maxAnswerCells: limits.max_answer_cells,
      maxAnswerBytes: limits.max_answer_bytes,
      maxPatternLength: limits.max_pattern_length,
      maxPatternWildcards: limits.max_pattern_wildcards,
      maxStoredValueBytes: limits.max_stored_value_bytes,
      callsInFlight: limits.calls_in_flight,
      callRate: limits.call_rate,
      callBurst: limits.call_burst,
    },
  };
}
