/**
 * Bounds on one parsed call, whatever carried it (HTTP, an SCGI listener, JSON-RPC): the parser's
 * own limits plus the multicall bound, which the call-decision layer applies.
 */
import { UnsupportedCallError } from '../errors.js';
import type { MethodCall } from './types.js';

/** Bounds on one parsed XML-RPC call, beyond server.body_limit. Shaped like ParseLimits plus the multicall bound. */
export interface XmlLimits {
  readonly maxDepth: number;
  readonly maxValues: number;
  readonly maxStringBytes: number;
  readonly maxMulticallCalls: number;
}

/**
 * - depth 32: real clients nest two levels; xmlrpc-c itself stops at 64.
 * - values 200 000: a 10 000-call system.multicall (ruTorrent's "select all" on a big library)
 *   holds about 60 000; one million empty <value/>s cost ~180 MiB and ~0.8 s to parse and encode.
 * - strings: default server.body_limit (a .torrent in load.raw_start is one base64 value).
 * - multicall calls 10 000: rtorrent 0.9.8 takes 2 MiB bodies, about 10 000 short calls; a
 *   client that needs more should send several calls.
 */
export const DEFAULT_XML_LIMITS: Readonly<Omit<XmlLimits, 'maxStringBytes'>> = Object.freeze({
  maxDepth: 32,
  maxValues: 200_000,
  maxMulticallCalls: 10_000,
});

/**
 * Refuses a system.multicall with more calls than `max`, with a fault naming the limit and its key.
 * For the call-decision layer, after parsing and before the policy walks every member.
 */
export function multicallLimitError(call: MethodCall, max: number | undefined): UnsupportedCallError | undefined {
  if (max === undefined || call.methodName !== 'system.multicall') return undefined;
  const calls = call.params[0];
  if (calls?.kind !== 'array' || calls.items.length <= max) return undefined;
  return new UnsupportedCallError(
    `system.multicall has ${calls.items.length} calls; the gateway takes at most ${max} in one request ` +
      `(limits.max_multicall_calls): send them in several requests`,
  );
}
