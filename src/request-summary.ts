import type { GatewayErrorCode } from './errors.js';

/**
 * How a request ended, in the same words for every transport: the log line's outcome, the metrics'
 * outcome label, what the audit trail keeps.
 */
export type RequestOutcome =
  // rtorrent answered (call-relay.ts): the call's own answer, or one shared with identical reads.
  | 'relayed'
  | 'coalesced'
  | 'cached'
  // Refused by the gateway: unreadable, against the policy, over a budget or a cost limit.
  | 'invalid'
  | 'denied'
  | 'over_budget'
  | 'too_costly'
  | 'answer_too_large'
  // Cut short while the answer was on its way.
  | 'upstream_truncated'
  | 'client_gone'
  // HTTP: before a call is read, and the operations endpoints.
  | 'unauthenticated'
  | 'forbidden'
  | 'throttled'
  | 'cross_site'
  | 'not_found'
  | 'method_not_allowed'
  | 'too_large'
  | 'healthy'
  | 'unhealthy'
  | 'metrics'
  | 'error'
  | 'unknown'
  // SCGI listener: the request itself did not arrive whole, or the gateway failed.
  | 'bad_scgi'
  | 'timeout'
  | 'incomplete'
  | 'internal_error'
  | 'no_request'
  // A failure that has a code of its own (rtorrent unreachable, timed out, busy): the code.
  | GatewayErrorCode;

/**
 * What one finished call amounts to, whichever transport carried it: the log line, and what the
 * metrics and the audit log read.
 */
export interface RequestSummary {
  /** How the call came: HTTP, or an SCGI listener (where the socket is the login). */
  readonly transport: 'http' | 'scgi';
  /** Client address; "unix" for a Unix-socket peer when no proxy address is trusted; the listener's address for SCGI. */
  readonly remote: string;
  readonly method: string;
  readonly path: string;
  /** The user name the client sent, whether or not the password was right. */
  readonly user: string | undefined;
  /** True once the password was verified: only then is `user` more than a claim. */
  readonly authenticated: boolean;
  readonly policy: string | undefined;
  readonly methods: readonly string[];
  readonly outcome: RequestOutcome;
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** "gzip" or "br" when the gateway compressed the answer: bytesOut are compressed bytes then. */
  readonly encoding: string | undefined;
  readonly ms: number;
  readonly denial: string | undefined;
  /** For over_budget: which budget (in_flight, rate). */
  readonly budget: string | undefined;
}
