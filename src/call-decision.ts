import { CostLimitError, GatewayError, PolicyDeniedError } from './errors.js';
import { encodeJsonRpcError, encodeJsonRpcRefusal, encodeJsonRpcRequest, type JsonRpcRefusal } from './jsonrpc/encode.js';
import { parseJsonRpcRequest } from './jsonrpc/parse.js';
import type { CompiledPolicy } from './policy/index.js';
import { CostEstimate, type FanOutSizes } from './policy/cost-estimate.js';
import type { PolicyVerdict } from './policy/types.js';
import { acceptsUntrusted, intersectWindows, type SafeWindow } from './policy/untrusted.js';
import { scgiBodyLimit } from './upstream/request-size.js';
import type { Upstream } from './upstream/upstream.js';
import type { UpstreamVersion } from './upstream/version.js';
import type { TorrentOwners } from './upstream/owners.js';
import { confineTargets, type CallReshape, type ScopedCall } from './policy/scope.js';
import type { AnswerReshape } from './answer-reshape.js';
import { LOAD_METHODS } from './policy/evaluators.js';
import { encodeMethodCall } from './xmlrpc/encode.js';
import { multicallLimitError, type XmlLimits } from './xmlrpc/call-limits.js';
import { parseMethodCall } from './xmlrpc/parse.js';
import type { MethodCall } from './xmlrpc/types.js';

/**
 * The transport-independent heart of the gateway: bytes in, a verdict out. Whatever carries the
 * call (HTTP today, an SCGI listener or JSON-RPC later) goes through here, so every transport
 * gets the same strict parse, the same policy and the same canonical encoding.
 */
export type CallDecision =
  | {
      readonly kind: 'forward';
      readonly canonical: Buffer;
      readonly methods: readonly string[];
      /**
       * The rtorrent releases that take the call with UNTRUSTED_CONNECTION=1 (and then check it
       * against their own safe list too); undefined: send it trusted.
       */
      readonly untrusted: SafeWindow | undefined;
      /** The readonly policy would allow it too: it changes nothing, so identical ones may share an answer. */
      readonly readOnly: boolean;
      /** What it may cost rtorrent, to be weighed against the caller's limit; undefined: not bounded. */
      readonly cost: CostEstimate | undefined;
      /** JSON-RPC only: the error response for a refusal made after this decision (null: notifications only). */
      readonly jsonRefusal?: (error: GatewayError) => Buffer | null;
      /**
       * The call raises rtorrent's XML size limit: that limit is clamped to what the release behind
       * the gateway reads (requestFor()).
       */
      readonly clampsSizeLimit: boolean;
      /**
       * A scope = "own" caller's call that targets info-hashes: the ones the caller does not own
       * are swapped for a hash no torrent has before sending (requestFor()).
       */
      readonly owned?: OwnedTargets;
      /** The canonical form again, with the size limit clamped and foreign targets swapped as requestFor() finds. */
      readonly encodeFor: (upstreamBodyLimit: number | undefined, notOwned: ReadonlySet<string> | undefined) => Buffer;
      /** It may add, erase or reassign torrents: who owns what is learned again afterwards. */
      readonly changesOwners: boolean;
      /** A tenant's download_list or view.size, sent as rows: its answer is turned back (answer-reshape.ts). */
      readonly answer?: AnswerReshape;
    }
  | {
      readonly kind: 'refuse';
      readonly error: GatewayError;
      /** invalid: not a call we can read; denied: the policy refused it; too_costly: its cost did. */
      readonly outcome: 'invalid' | 'denied' | 'too_costly';
      readonly methods: readonly string[];
      /** Set when the policy refused: the offending method and why, for the warn line. */
      readonly denial?: string;
      /** JSON-RPC only: the error response to send (null: notifications only, nothing to answer). */
      readonly jsonBody?: Buffer | null;
    };

export interface OwnedTargets {
  readonly user: string;
  readonly targets: ReadonlySet<string>;
}

export interface Caller {
  readonly user: string;
  readonly policy: CompiledPolicy;
}

export interface DecideOptions {
  readonly limits?: XmlLimits;
  /** When given, forwarded calls are also classified read-only or not by this policy (for coalescing). */
  readonly readOnlyPolicy?: CompiledPolicy;
  /** false: the upstream shares no answers, so reads need not be told apart for that. Default true. */
  readonly sharesReads?: boolean;
  /**
   * The upstream holds owners learned for scoped users: a read by a policy built on full is told
   * apart from a change, so that it leaves them known. Default false.
   */
  readonly knowsOwners?: boolean;
}

/**
 * Whether to weigh the call against the readonly policy: for sharing answers, and for a caller
 * built on full (cost not bounded), whose calls otherwise make the gateway forget who owns what.
 */
function weighsReading(options: DecideOptions, cost: CostEstimate | undefined): boolean {
  return options.readOnlyPolicy !== undefined && (options.sharesReads !== false || (cost === undefined && options.knowsOwners === true));
}

/** A call the readonly policy would allow changes nothing, whoever sends it. */
function readsOnly(call: MethodCall, caller: Caller, options: DecideOptions): boolean {
  const readonly = options.readOnlyPolicy;
  return readonly !== undefined && (caller.policy === readonly || readonly.check(call).allowed);
}

type Refused = Extract<PolicyVerdict, { allowed: false }>;

function refusalError(caller: Caller, verdict: Refused): PolicyDeniedError | CostLimitError {
  return verdict.costly
    ? new CostLimitError(caller.user, caller.policy.name, verdict.method, verdict.reason)
    : new PolicyDeniedError(caller.user, caller.policy.name, verdict.method, verdict.reason);
}

export function decideCall(body: Buffer, caller: Caller, options: DecideOptions = {}): CallDecision {
  let call;
  try {
    call = parseMethodCall(body, options.limits);
  } catch (error) {
    if (error instanceof GatewayError) return { kind: 'refuse', outcome: 'invalid', error, methods: [] };
    throw error;
  }
  // Before the policy walks every member: thousands of calls in one request are refused outright.
  const tooMany = multicallLimitError(call, options.limits?.maxMulticallCalls);
  if (tooMany) return { kind: 'refuse', outcome: 'invalid', error: tooMany, methods: [call.methodName] };
  const verdict = caller.policy.check(call);
  if (!verdict.allowed) {
    const error = refusalError(caller, verdict);
    return { kind: 'refuse', outcome: verdict.costly ? 'too_costly' : 'denied', methods: verdict.methods, denial: `${error.method}: ${error.reason}`, error };
  }
  const scoped = scopedCall(call, caller);
  if ('error' in scoped) return { kind: 'refuse', outcome: 'denied', methods: verdict.methods, denial: `${scoped.error.method}: ${scoped.error.reason}`, error: scoped.error };
  // Forward what was checked: rtorrent gets our encoding of the parsed tree, never the client's bytes.
  const readOnly = weighsReading(options, verdict.cost) && readsOnly(call, caller, options);
  const encodeFor = (limit: number | undefined, notOwned: ReadonlySet<string> | undefined): Buffer => encodeMethodCall(prepared(caller, scoped.call, limit, notOwned));
  return {
    kind: 'forward',
    canonical: encodeFor(undefined, undefined),
    methods: verdict.methods,
    untrusted: scoped.call === call ? verdict.untrusted : undefined,
    readOnly,
    cost: verdict.cost,
    clampsSizeLimit: setsSizeLimit(verdict.methods),
    owned: ownedTargets(caller, scoped.targets),
    encodeFor,
    changesOwners: changesOwners(verdict.reached ?? verdict.methods, verdict.cost === undefined, readOnly),
    ...(scoped.answer === undefined ? {} : { answer: { call: scoped.answer } }),
  };
}

/** The call as sent: foreign targets swapped, the size limit clamped (policy.prepare). */
function prepared(caller: Caller, call: MethodCall, limit: number | undefined, notOwned: ReadonlySet<string> | undefined): MethodCall {
  return caller.policy.prepare(notOwned === undefined ? call : confineTargets(call, notOwned), limit);
}

/**
 * The call as sent for the caller's scope: the same call for scope = "all", narrowed for "own"
 * (policy/scope.ts). A call commands were added to is sent trusted: what rtorrent's untrusted mode
 * would make of the added commands was not weighed.
 */
function scopedCall(call: MethodCall, caller: Caller): ScopedCall | { error: PolicyDeniedError } {
  const scoped = caller.policy.scopeCall(call, caller.user);
  if (scoped === undefined) return { call, targets: NO_TARGETS };
  if ('reason' in scoped) return { error: new PolicyDeniedError(caller.user, caller.policy.name, scoped.method, scoped.reason) };
  return scoped;
}

const NO_TARGETS: ReadonlySet<string> = new Set();

const OWNERSHIP_CHANGERS: ReadonlySet<string> = new Set(['d.erase', 'd.custom.set', ...LOAD_METHODS]);

/**
 * Adds, erases or (re)tags torrents anywhere the policy check reached (top level, system.multicall,
 * command strings), or is a call that is not a plain read from a policy built on full, which is not
 * walked and so may do so anywhere.
 */
function changesOwners(reached: Iterable<string>, unbounded: boolean, readOnly: boolean): boolean {
  if (unbounded && !readOnly) return true;
  for (const command of reached) if (OWNERSHIP_CHANGERS.has(command)) return true;
  return false;
}

function ownedTargets(caller: Caller, targets: ReadonlySet<string>): OwnedTargets | undefined {
  return targets.size === 0 ? undefined : { user: caller.user, targets };
}

const SIZE_LIMIT_SETTER = 'network.xmlrpc.size_limit.set';

/** The setter is allowed at the top level and in system.multicall only, so the method list shows it. */
function setsSizeLimit(methods: readonly string[]): boolean {
  return methods.includes(SIZE_LIMIT_SETTER);
}

/**
 * The same decision for a JSON-RPC body (single call or batch): every element is checked with the
 * same policy, and one refused element refuses the whole batch, so nothing half-runs.
 */
export function decideJsonRpcCall(body: Buffer, caller: Caller, options: DecideOptions = {}): CallDecision {
  let request;
  try {
    request = parseJsonRpcRequest(body, options.limits && { ...options.limits, maxBatchSize: options.limits.maxMulticallCalls });
  } catch (error) {
    if (error instanceof GatewayError) {
      return { kind: 'refuse', outcome: 'invalid', error, methods: [], jsonBody: encodeJsonRpcError(null, error.faultCode, error.message) };
    }
    throw error;
  }
  for (const { call } of request.calls) {
    const tooMany = multicallLimitError(call, options.limits?.maxMulticallCalls);
    if (tooMany) {
      return { kind: 'refuse', outcome: 'invalid', error: tooMany, methods: [call.methodName], jsonBody: encodeJsonRpcError(null, tooMany.faultCode, tooMany.message) };
    }
  }
  const reached = new Set<string>();
  const methods: string[] = [];
  const refusals: JsonRpcRefusal[] = [];
  let untrusted: SafeWindow | undefined;
  let readOnly = options.readOnlyPolicy !== undefined;
  let unbounded = false;
  let cost: CostEstimate | undefined;
  let firstRefused: PolicyDeniedError | CostLimitError | undefined;
  // By the call's place among the answers: rtorrent answers each call that has an id, in order.
  const reshapes = new Map<number, CallReshape>();
  let answered = 0;
  const sent: MethodCall[] = [];
  const targets = new Set<string>();
  const refuse = (index: number, refused: PolicyDeniedError | CostLimitError): void => {
    firstRefused ??= refused;
    refusals.push({ index, code: refused.faultCode, message: refused.message });
  };
  request.calls.forEach(({ call, id }, index) => {
    const verdict = caller.policy.check(call);
    methods.push(...verdict.methods);
    if (verdict.allowed) for (const command of verdict.reached ?? []) reached.add(command);
    if (!verdict.allowed) return refuse(index, refusalError(caller, verdict));
    const scoped = scopedCall(call, caller);
    if ('error' in scoped) return refuse(index, scoped.error);
    sent[index] = scoped.call;
    if (scoped.answer !== undefined && id !== undefined) reshapes.set(answered, scoped.answer);
    if (id !== undefined) answered++;
    for (const target of scoped.targets) targets.add(target);
    const window = scoped.call === call ? verdict.untrusted : undefined;
    untrusted = index === 0 ? window : intersectWindows(untrusted, window);
    unbounded ||= verdict.cost === undefined;
    readOnly &&= weighsReading(options, verdict.cost) && readsOnly(call, caller, options);
    // A batch costs rtorrent what its calls cost together.
    if (verdict.cost !== undefined) (cost ??= new CostEstimate()).addAll(verdict.cost);
  });
  if (firstRefused !== undefined) {
    return {
      kind: 'refuse',
      outcome: firstRefused instanceof CostLimitError ? 'too_costly' : 'denied',
      methods,
      denial: `${firstRefused.method}: ${firstRefused.reason}`,
      error: firstRefused,
      jsonBody: encodeJsonRpcRefusal(request, refusals),
    };
  }
  const encodeFor = (limit: number | undefined, notOwned: ReadonlySet<string> | undefined): Buffer =>
    encodeJsonRpcRequest({ ...request, calls: request.calls.map((entry, index) => ({ ...entry, call: prepared(caller, sent[index] ?? entry.call, limit, notOwned) })) });
  const jsonRefusal = (error: GatewayError): Buffer | null =>
    encodeJsonRpcRefusal(request, request.calls.map((_call, index) => ({ index, code: error.faultCode, message: error.message })));
  return {
    kind: 'forward',
    canonical: encodeFor(undefined, undefined),
    methods,
    untrusted,
    readOnly,
    cost,
    jsonRefusal,
    clampsSizeLimit: setsSizeLimit(methods),
    owned: ownedTargets(caller, targets),
    encodeFor,
    changesOwners: changesOwners([...methods, ...reached], unbounded, readOnly),
    ...(reshapes.size === 0 ? {} : { answer: request.batch ? { batch: reshapes } : { call: reshapes.get(0) as CallReshape } }),
  };
}

/**
 * The bytes to send: the canonical form, or, for a call that raises rtorrent's XML size limit, that
 * limit clamped to what the release reads in one request (2 MiB before 0.10): no larger request
 * can reach it anyway. Only such a call waits for the release to be known.
 */
export async function requestFor(
  decision: Forward,
  upstream: { readonly version: Pick<UpstreamVersion, 'current'>; readonly owners?: Pick<TorrentOwners, 'ownersOf'> },
): Promise<Buffer> {
  const limit = decision.clampsSizeLimit ? scgiBodyLimit(await upstream.version.current()) : undefined;
  const notOwned = decision.owned === undefined ? undefined : await foreignTargets(decision.owned, upstream);
  return limit === undefined && notOwned === undefined ? decision.canonical : decision.encodeFor(limit, notOwned);
}

/** The targets the caller does not own, or undefined when they own them all. */
async function foreignTargets(owned: OwnedTargets, upstream: { readonly owners?: Pick<TorrentOwners, 'ownersOf'> }): Promise<ReadonlySet<string> | undefined> {
  if (upstream.owners === undefined) throw new Error('a scoped call needs the upstream\'s torrent owners');
  const owners = await upstream.owners.ownersOf(owned.targets);
  const notOwned = new Set([...owned.targets].filter((hash) => owners.get(hash) !== owned.user));
  return notOwned.size === 0 ? undefined : notOwned;
}

type Forward = Extract<CallDecision, { kind: 'forward' }>;

/** Whether the lists' sizes are needed to weigh this call against the caller's limit. */
export function needsSizes(decision: Forward, caller: Caller): boolean {
  return decision.cost !== undefined && caller.policy.limits.maxAnswerCells !== undefined && decision.cost.needsSizes;
}

/**
 * The estimated answer against the caller's limit, with the list sizes rtorrent last reported
 * (upstream/shape.ts). Returns the refusal to send, naming the limit and its key, or undefined.
 */
export function costRefusal(decision: Forward, caller: Caller, sizes: FanOutSizes | undefined): CostLimitError | undefined {
  const limit = caller.policy.limits.maxAnswerCells;
  if (decision.cost === undefined || limit === undefined) return undefined;
  const cells = decision.cost.cells(sizes);
  if (cells <= limit.value) return undefined;
  const method = decision.methods[0] ?? '';
  return new CostLimitError(
    caller.user,
    caller.policy.name,
    method,
    `the answer to ${method} would come to about ${cells} cells of 32 bytes (${decision.cost.describe(sizes)}), over the limit of ${limit.value} (${limit.key}); ` +
      'ask for fewer columns or a smaller view, or raise the limit',
  );
}

/** An answer over the caller's size limit (policies below full), for both transports alike. */
export function answerTooLarge(caller: Caller, methods: readonly string[], bytes: number | undefined): GatewayError | undefined {
  const limit = caller.policy.limits.maxAnswerBytes;
  if (limit === undefined || bytes === undefined || bytes <= limit.value) return undefined;
  return new GatewayError(
    'GW_ANSWER_TOO_LARGE',
    `refused by the gateway for user "${caller.user}" (policy "${caller.policy.name}"): rtorrent's answer to ${methods[0] ?? 'the call'} is ${bytes} bytes, ` +
      `over the limit of ${limit.value} (${limit.key}); ask for less or raise the limit`,
  );
}

/**
 * Send with UNTRUSTED_CONNECTION=1? Only to a release whose own safe list holds every command of the
 * call (the *arr apps' lists break on 0.16.9-0.16.15 otherwise, which lack d.complete), never to one
 * older than 0.16.9 nor when upstream.untrusted = "never". The first call after rtorrent (re)appears
 * waits for its version.
 */
export async function sendsUntrusted(decision: Forward, upstream: Pick<Upstream, 'marksUntrusted' | 'version'>): Promise<boolean> {
  if (decision.untrusted === undefined || !upstream.marksUntrusted) return false;
  return acceptsUntrusted(decision.untrusted, await upstream.version.current());
}

/** rtorrent's refusal of a command off its safe list (0.16.9+: fault -507 in XML, -32601 in JSON). */
export function refusedAsUntrusted(answer: Buffer): boolean {
  return answer.includes('for untrusted connections');
}

export const UNTRUSTED_REFUSED =
  'rtorrent refused a call sent with UNTRUSTED_CONNECTION=1: a command in it is not on its own safe list. ' +
  'Set upstream.untrusted = "never" to send every call trusted (the gateway\'s policy still applies), and report the command';
