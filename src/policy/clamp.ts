import type { MethodCall, XmlRpcValue } from '../xmlrpc/types.js';
import { sizeValue } from './arguments.js';
import { ruleArgumentValues } from './check.js';

const SIZE_LIMIT_SETTER = 'network.xmlrpc.size_limit.set';

function clampOne(call: MethodCall, bodyLimit: number): MethodCall {
  if (call.methodName !== SIZE_LIMIT_SETTER || call.params.length !== 2) return call;
  // Read as the policy read it: base64 or a one-element array carry the same number to rtorrent.
  const args = ruleArgumentValues(call.params);
  const value = args?.length === 1 ? sizeValue(args[0]!) : null;
  const target = call.params[0] as XmlRpcValue;
  if (value === null || value <= bodyLimit) return call;
  return { methodName: call.methodName, params: [target, { kind: 'i8', value: BigInt(bodyLimit) }] };
}

/**
 * What the policy allowed, adjusted before it is encoded for rtorrent: a request to raise
 * rtorrent's XML size limit past the gateway's own body limit is lowered to that limit
 * (Transdroid and ruTorrent raise it before big loads; no larger body can pass the gateway).
 */
export function clampForUpstream(call: MethodCall, bodyLimit: number): MethodCall {
  if (call.methodName !== 'system.multicall') return clampOne(call, bodyLimit);
  const [calls] = call.params;
  if (calls?.kind !== 'array') return call;
  // Copied only once a member changes: nearly every multicall goes through untouched.
  let items: XmlRpcValue[] | undefined;
  calls.items.forEach((item, index) => {
    if (item.kind !== 'struct') return;
    const methodName = item.members.get('methodName');
    const params = item.members.get('params');
    if (methodName?.kind !== 'string' || params?.kind !== 'array') return;
    const clamped = clampOne({ methodName: methodName.value, params: params.items }, bodyLimit);
    if (clamped.params === params.items) return;
    items ??= [...calls.items];
    items[index] = {
      kind: 'struct',
      members: new Map<string, XmlRpcValue>([
        ['methodName', methodName],
        ['params', { kind: 'array', items: clamped.params }],
      ]),
    };
  });
  return items === undefined ? call : { methodName: call.methodName, params: [{ kind: 'array', items }] };
}
