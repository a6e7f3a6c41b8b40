import { GatewayError, PolicyDeniedError } from './errors.js';
import { encodeJsonRpcError, encodeJsonRpcRefusal, encodeJsonRpcRequest, type JsonRpcRefusal } from './jsonrpc/encode.js';
import { parseJsonRpcRequest } from './jsonrpc/parse.js';
import type { CompiledPolicy } from './policy/index.js';
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
      /** Send with UNTRUSTED_CONNECTION=1: rtorrent ≥ 0.16.9 then checks the call against its own safe list too. */
      readonly untrusted: boolean;
      /** The readonly policy would allow it too: it changes nothing, so identical ones may share an answer. */
      readonly readOnly: boolean;
    }
  | {
      readonly kind: 'refuse';
      readonly error: GatewayError;
      readonly methods: readonly string[];
      /** Set when the policy refused: the offending method and why, for the warn line. */
      readonly denial?: string;
      /** JSON-RPC only: the error response to send (null: notifications only, nothing to answer). */
      readonly jsonBody?: Buffer | null;
    };

export interface Caller {
  readonly user: string;
  readonly policy: CompiledPolicy;
}

export interface DecideOptions {
  readonly limits?: XmlLimits;
  /** When given, forwarded calls are also classified read-only or not by this policy (for coalescing). */
  readonly readOnlyPolicy?: CompiledPolicy;
}

/** A call the readonly policy would allow changes nothing, whoever sends it. */
function readsOnly(call: MethodCall, caller: Caller, options: DecideOptions): boolean {
  const readonly = options.readOnlyPolicy;
  return readonly !== undefined && (caller.policy === readonly || readonly.check(call).allowed);
}

export function decideCall(body: Buffer, caller: Caller, options: DecideOptions = {}): CallDecision {
  let call;
  try {
    call = parseMethodCall(body, options.limits);
  } catch (error) {
    if (error instanceof GatewayError) return { kind: 'refuse', error, methods: [] };
    throw error;
  }
  // Before the policy walks every member: thousands of calls in one request are refused outright.
  const tooMany = multicallLimitError(call, options.limits?.maxMulticallCalls);
  if (tooMany) return { kind: 'refuse', error: tooMany, methods: [call.methodName] };
  const verdict = caller.policy.check(call);
  if (!verdict.allowed) {
    const error = new PolicyDeniedError(caller.user, caller.policy.name, verdict.method, verdict.reason);
    return { kind: 'refuse', methods: verdict.methods, denial: `${error.method}: ${error.reason}`, error };
  }
  // Forward what was checked: rtorrent gets our encoding of the parsed tree, never the client's bytes.
  const readOnly = readsOnly(call, caller, options);
  return {
    kind: 'forward',
    canonical: encodeMethodCall(caller.policy.prepare(call)),
    methods: verdict.methods,
    untrusted: verdict.untrustedSafe,
    readOnly,
  };
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
      return { kind: 'refuse', error, methods: [], jsonBody: encodeJsonRpcError(null, error.faultCode, error.message) };
    }
    throw error;
  }
  for (const { call } of request.calls) {
    const tooMany = multicallLimitError(call, options.limits?.maxMulticallCalls);
    if (tooMany) return { kind: 'refuse', error: tooMany, methods: [call.methodName], jsonBody: encodeJsonRpcError(null, tooMany.faultCode, tooMany.message) };
  }
  const methods: string[] = [];
  const refusals: JsonRpcRefusal[] = [];
  let untrusted = true;
  let readOnly = options.readOnlyPolicy !== undefined;
  let firstRefused: PolicyDeniedError | undefined;
  request.calls.forEach(({ call }, index) => {
    const verdict = caller.policy.check(call);
    methods.push(...verdict.methods);
    if (!verdict.allowed) {
      const refused = new PolicyDeniedError(caller.user, caller.policy.name, verdict.method, verdict.reason);
      firstRefused ??= refused;
      refusals.push({ index, code: refused.faultCode, message: refused.message });
      return;
    }
    untrusted &&= verdict.untrustedSafe;
    readOnly &&= readsOnly(call, caller, options);
  });
  if (firstRefused !== undefined) {
    return {
      kind: 'refuse',
      methods,
      denial: `${firstRefused.method}: ${firstRefused.reason}`,
      error: firstRefused,
      jsonBody: encodeJsonRpcRefusal(request, refusals),
    };
  }
  const prepared = { ...request, calls: request.calls.map((entry) => ({ ...entry, call: caller.policy.prepare(entry.call) })) };
  return { kind: 'forward', canonical: encodeJsonRpcRequest(prepared), methods, untrusted, readOnly };
}
