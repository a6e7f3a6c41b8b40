/**
 * The typed tree of an XML-RPC request, restricted to what rtorrent accepts as parameters
 * (string, i4/int, i8, base64, array) plus struct, which only system.multicall members use.
 * The gateway checks this tree and forwards a fresh encoding of it, never the client's bytes.
 */
export type XmlRpcValue =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'i4'; readonly value: number }
  | { readonly kind: 'i8'; readonly value: bigint }
  | { readonly kind: 'base64'; readonly value: Buffer }
  | { readonly kind: 'array'; readonly items: readonly XmlRpcValue[] }
  | { readonly kind: 'struct'; readonly members: ReadonlyMap<string, XmlRpcValue> };

export interface MethodCall {
  readonly methodName: string;
  readonly params: readonly XmlRpcValue[];
}
