/**
 * The [limits] section: what one HTTP client may cost the gateway (applied by
 * http/server-limits.ts), the bounds on one parsed call (xmlrpc/call-limits.ts) and what policies
 * fall back on. schema.ts validates the keys and calls these; each limit's key is named by every
 * refusal it causes.
 */
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
