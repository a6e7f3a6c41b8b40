import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import type { Call } from './client-calls.js';

/** Shorthand for request trees in policy tests: strings, integers, base64, arrays and structs. */
export type Param = string | number | bigint | Buffer | Param[] | { struct: [string, Param][] };

/** Integers that fit 32 bits become <i4>, larger ones and bigints <i8>, as clients send them. */
export function value(param: Param): XmlRpcValue {
  if (typeof param === 'string') return { kind: 'string', value: param };
  if (typeof param === 'number') {
    return Number.isInteger(param) && Math.abs(param) < 2 ** 31 ? { kind: 'i4', value: param } : { kind: 'i8', value: BigInt(param) };
  }
  if (typeof param === 'bigint') return { kind: 'i8', value: param };
  if (Buffer.isBuffer(param)) return { kind: 'base64', value: param };
  if (Array.isArray(param)) return { kind: 'array', items: param.map(value) };
  return { kind: 'struct', members: new Map(param.struct.map(([key, member]) => [key, value(member)])) };
}

export function call(methodName: string, ...params: Param[]): MethodCall {
  return { methodName, params: params.map(value) };
}

/** One system.multicall member, in the exact shape the policy accepts. */
export function member(methodName: string, ...params: Param[]): Param {
  return { struct: [['methodName', methodName], ['params', params]] };
}

export function multicall(...calls: MethodCall[]): MethodCall {
  const items: XmlRpcValue[] = calls.map((c) => ({
    kind: 'struct',
    members: new Map<string, XmlRpcValue>([
      ['methodName', { kind: 'string', value: c.methodName }],
      ['params', { kind: 'array', items: c.params }],
    ]),
  }));
  return { methodName: 'system.multicall', params: [{ kind: 'array', items }] };
}

/** A call of the client catalogue (client-calls.ts) as the policy engine gets it. */
export function callOf([methodName, params]: Call): MethodCall {
  return call(methodName, ...params);
}

/** Calls of the client catalogue in one system.multicall. */
export function multicallOf(calls: readonly Call[]): MethodCall {
  return multicall(...calls.map(callOf));
}
