import type { RequestOutcome, RequestSummary } from './request-summary.js';

/**
 * The one line a finished request leaves, for every transport alike: which level and words it
 * gets, and its fields. Refusals and failed logins are at warn so they stand out (and feed
 * fail2ban-style tooling); a 401 asking for credentials and health probes at debug; failures of
 * rtorrent or of the gateway at error; everything else, a client that left included, at info.
 */

/** Calls refused or cut for what they would cost: a user's budget, the estimated answer, the answer itself. */
export const LIMITED_OUTCOMES: ReadonlySet<RequestOutcome> = new Set(['over_budget', 'too_costly', 'answer_too_large']);

/** Health probes and metric scrapes arrive every few seconds; they would drown the call log at info. */
export const QUIET_OUTCOMES: ReadonlySet<RequestOutcome> = new Set(['healthy', 'unhealthy', 'metrics']);

/** The request never became a call the gateway could judge. */
const REFUSED_REQUESTS: ReadonlySet<RequestOutcome> = new Set(['invalid', 'cross_site', 'bad_scgi', 'timeout', 'incomplete']);

const FAILURES: ReadonlySet<RequestOutcome> = new Set(['upstream_truncated', 'internal_error']);

export interface RequestLogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface RequestLogContext {
  /** A 401 that only asks for credentials (no Authorization yet, or a stale Digest nonce): the protocol at work. */
  readonly challenge?: boolean;
  /** The line is an audit record: `grep '"audit":true'` finds the trail in the main log. */
  readonly audited: boolean;
  /** Fields of the transport's own, such as bytes an SCGI client sent after its request. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export function requestLogEntry(summary: RequestSummary, context: RequestLogContext): RequestLogEntry {
  const { denial, authenticated: _authenticated, budget, ...fields } = summary;
  const line = { ...fields, ...context.extra, ...(context.audited ? { audit: true } : {}) };
  const { outcome, status } = summary;
  const quiet = QUIET_OUTCOMES.has(outcome);
  const problem = denial === undefined ? {} : { problem: denial };
  if (outcome === 'denied') return { level: 'warn', message: 'call denied', fields: { ...line, denial } };
  if (LIMITED_OUTCOMES.has(outcome)) return { level: 'warn', message: 'call over a limit', fields: { ...line, ...problem, ...(budget ? { budget } : {}) } };
  if (REFUSED_REQUESTS.has(outcome)) return { level: 'warn', message: 'request refused', fields: { ...line, ...problem } };
  // A closed tab or a client's own timeout, as nginx's 499: the client's doing, not a problem here.
  if (outcome === 'client_gone') return { level: 'info', message: 'client went away before the answer was complete', fields: { ...line, ...problem } };
  if (FAILURES.has(outcome) || (status >= 500 && !quiet)) return { level: 'error', message: 'request failed', fields: { ...line, ...problem } };
  if (status === 401 && context.challenge === true) return { level: 'debug', message: 'credentials requested', fields: line };
  if (status === 401 && summary.user !== undefined) return { level: 'warn', message: 'authentication failed', fields: line };
  if (status >= 400 && !quiet) return { level: 'warn', message: 'request refused', fields: { ...line, ...problem } };
  return { level: quiet ? 'debug' : 'info', message: 'request', fields: line };
}
