/**
 * Applies the limits on what one HTTP client may cost the gateway (config/limits.ts has their
 * values): how long it may take to send its headers and its body, how long a connection may sit
 * idle, how many connections there may be. Every refusal names its key under [limits], so an admin
 * who sees it in a client or the log knows what to raise.
 *
 * Node's http server does the work for the connection limits; this module only picks values and
 * passes them the way Fastify 5 and Node 20 expect (see fastifyServerOptions and applyServerLimits
 * for which knob lives where). docs/hardening.md explains the defaults.
 */
import { maxHeaderSize, type Server as HttpServer, type ServerOptions as HttpServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { ServerLimits } from '../config/limits.js';

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
