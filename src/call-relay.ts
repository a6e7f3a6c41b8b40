import type { Logger } from 'pino';
import { reshapedAnswer } from './answer-reshape.js';
import type { UserBudgets } from './budget/user-budgets.js';
import { answerTooLarge, costRefusal, decideCall, decideJsonRpcCall, needsSizes, refusedAsUntrusted, requestFor, sendsUntrusted, UNTRUSTED_REFUSED, type CallDecision, type Caller } from './call-decision.js';

type Forward = Extract<CallDecision, { kind: 'forward' }>;
import { GatewayError, OverBudgetError, type GatewayErrorCode } from './errors.js';
import type { CompiledPolicy } from './policy/index.js';
import type { CallBudget } from './policy/types.js';
import type { CallSignal } from './upstream/call-signal.js';
import { relayOutcome } from './upstream/coalescer.js';
import type { ScgiResponse } from './upstream/scgi-client.js';
import type { Upstream } from './upstream/upstream.js';
import type { XmlLimits } from './xmlrpc/call-limits.js';

/**
 * One call from its body to rtorrent's answer, whichever transport brought it (HTTP, an SCGI
 * listener): the user's budget, the strict parse and the policy (call-decision.ts), what the call
 * may cost, the untrusted mark, the send, a tenant's list turned back, and the answer's size. A
 * transport only reads the body, then writes what this returns, so every door refuses and relays
 * alike.
 */
export interface CallRequest {
  readonly body: Buffer;
  /** A JSON-RPC body (application/json) rather than XML-RPC. */
  readonly json: boolean;
  readonly caller: Caller;
  readonly upstream: Upstream;
  /** Bounds on one parsed call ([limits]). */
  readonly limits: XmlLimits | undefined;
  /** The readonly policy, to tell reads (which may share answers) from calls that change rtorrent. */
  readonly readOnlyPolicy: CompiledPolicy | undefined;
  /** The user's calls in flight and call rate; `hold` keeps the call counted until the client is done with it. */
  readonly budget?: { readonly budgets: UserBudgets; readonly of: CallBudget; readonly hold: (release: () => void) => void };
  /** Sent to rtorrent as REQUEST_URI and REMOTE_ADDR: it ignores them, its log.xmlrpc shows them. */
  readonly meta: { readonly requestUri: string; readonly remoteAddr: string };
  /** Fires when the client leaves, so the call gives up its queue place and rtorrent's connection. */
  readonly signal?: CallSignal;
  readonly logger: Pick<Logger, 'warn'>;
}

/** Refused by the gateway before or after rtorrent answered; rtorrent saw none of it, or its answer is dropped. */
export interface RefusedCall {
  readonly kind: 'refused';
  readonly outcome: 'over_budget' | 'invalid' | 'denied' | 'too_costly' | 'answer_too_large';
  readonly error: GatewayError;
  readonly methods: readonly string[];
  /** For the log line: the offending method and why, or the error's message. */
  readonly problem: string;
  /** over_budget: which budget ran out (in_flight, rate). */
  readonly budget?: string;
  /** JSON-RPC: the error body to send (null: notifications only, nothing to answer); undefined for XML-RPC. */
  readonly jsonBody?: Buffer | null;
}

export interface AnsweredCall {
  readonly kind: 'answered';
  /** relayed: this call's own answer; coalesced, cached: one shared with identical reads. */
  readonly outcome: 'relayed' | 'coalesced' | 'cached';
  readonly response: ScgiResponse;
  /** The answer is, or may be, handed to identical reads too (read cache, coalescing): so is anything made of it. */
  readonly shared: boolean;
  readonly methods: readonly string[];
  /** The most of rtorrent's answer this caller may receive, for an answer streamed without Content-Length. */
  readonly answerLimit: number | undefined;
  /** The refusal for an answer found too large while streaming it, with the bytes relayed by then. */
  readonly tooLarge: (bytes: number) => GatewayError | undefined;
}

/** rtorrent could not be asked or did not answer usably: unreachable, timed out, busy, a bad answer. */
export interface FailedCall {
  readonly kind: 'failed';
  readonly outcome: GatewayErrorCode;
  readonly error: GatewayError;
  readonly methods: readonly string[];
}

export type CallResult = RefusedCall | AnsweredCall | FailedCall;

function refused(outcome: RefusedCall['outcome'], error: GatewayError, methods: readonly string[], problem: string, jsonBody: Buffer | null | undefined): RefusedCall {
  return { kind: 'refused', outcome, error, methods, problem, ...(jsonBody === undefined ? {} : { jsonBody }) };
}

/** Runs one call; anything but the gateway's own errors (a bug) throws. */
export async function relayCall(request: CallRequest): Promise<CallResult> {
  const { caller, upstream, json } = request;
  // Before the body is even parsed: a user past their budget costs nothing more.
  if (request.budget !== undefined) {
    const admission = request.budget.budgets.admit(caller.user, request.budget.of);
    if (!admission.admitted) {
      const error = new OverBudgetError(admission.message, admission.retryAfterSeconds);
      return { ...refused('over_budget', error, [], admission.message, undefined), budget: admission.reason };
    }
    request.budget.hold(admission.release);
  }
  const decide = json ? decideJsonRpcCall : decideCall;
  const decision = decide(request.body, caller, {
    limits: request.limits,
    readOnlyPolicy: request.readOnlyPolicy,
    sharesReads: upstream.reads !== undefined,
    knowsOwners: upstream.owners.size > 0,
  });
  const methods = decision.methods;
  if (decision.kind === 'refuse') return refused(decision.outcome, decision.error, methods, decision.denial ?? decision.error.message, json ? (decision.jsonBody ?? null) : undefined);
  try {
    return await relayDecided(request, decision);
  } catch (error) {
    if (error instanceof GatewayError) return { kind: 'failed', outcome: error.code, error, methods };
    throw error;
  }
}

async function relayDecided(request: CallRequest, decision: Forward): Promise<RefusedCall | AnsweredCall> {
  const { caller, upstream, json } = request;
  const methods = decision.methods;
  const jsonBody = (error: GatewayError): Buffer | null | undefined => (json && decision.jsonRefusal ? decision.jsonRefusal(error) : undefined);
  // The estimate is weighed with the sizes rtorrent last reported; only the very first call waits for them.
  const tooCostly = costRefusal(decision, caller, needsSizes(decision, caller) ? await upstream.shape.current() : undefined);
  if (tooCostly !== undefined) return refused('too_costly', tooCostly, methods, `${tooCostly.method}: ${tooCostly.reason}`, jsonBody(tooCostly));

  const untrusted = await sendsUntrusted(decision, upstream);
  const meta = { ...request.meta, untrusted, contentType: json ? ('application/json' as const) : ('text/xml' as const) };
  const sent = await upstream.send(await requestFor(decision, upstream), meta, {
    readOnly: decision.readOnly,
    changesOwners: decision.changesOwners,
    ...(request.signal === undefined ? {} : { signal: request.signal }),
  });
  const answerLimit = caller.policy.limits.maxAnswerBytes?.value;
  const tooLarge = (bytes: number | undefined): GatewayError | undefined => answerTooLarge(caller, methods, bytes);
  // Weighed on rtorrent's own answer, before a tenant's list is read whole to be turned back.
  const over = tooLarge(sent.response.kind === 'whole' ? sent.response.body.length : sent.response.head.contentLength);
  if (over !== undefined) {
    if (sent.response.kind === 'streamed') sent.response.body.destroy();
    return refused('answer_too_large', over, methods, over.message, jsonBody(over));
  }
  const response = decision.answer === undefined ? sent.response : await reshapedAnswer(sent.response, decision.answer, json, upstream.address.label, answerLimit);
  if (response.kind === 'whole' && untrusted && refusedAsUntrusted(response.body)) {
    request.logger.warn({ user: caller.user, methods, rtorrent: upstream.version.known }, UNTRUSTED_REFUSED);
  }
  return { kind: 'answered', outcome: relayOutcome(sent.source), response, shared: sent.source !== undefined && response === sent.response, methods, answerLimit, tooLarge };
}

/** Why relaying a streamed answer stopped short, in the words of the log line and the metrics. */
export interface RelayFailure {
  readonly outcome: 'answer_too_large' | 'upstream_truncated' | 'client_gone';
  readonly problem: string;
}

/**
 * A streamed answer that did not go out whole: past the caller's answer limit (an answer without
 * Content-Length can only be refused where the limit is passed), cut by rtorrent, or left by the
 * client. Every transport names it the same way.
 */
export function relayFailure(error: unknown, call: AnsweredCall, bytes: number): RelayFailure {
  if (error instanceof GatewayError && error.code === 'GW_ANSWER_TOO_LARGE') {
    return { outcome: 'answer_too_large', problem: call.tooLarge(bytes)?.message ?? error.message };
  }
  if (error instanceof GatewayError && error.code !== 'GW_CLIENT_CLOSED') return { outcome: 'upstream_truncated', problem: error.message };
  const why = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
  return { outcome: 'client_gone', problem: why };
}
