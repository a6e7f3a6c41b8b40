import type { MethodCall } from '../xmlrpc/types.js';

/**
 * A JSON-RPC request id as the gateway carries it. Integers are limited to the range a JavaScript
 * number holds exactly (parse.ts refuses others), so an id always comes back exactly as it was sent.
 */
export type JsonRpcId = string | number | null;

export interface JsonRpcCall {
  /** `undefined` marks a notification (no "id" member): rtorrent runs it and answers nothing. */
  readonly id: JsonRpcId | undefined;
  /** The same tree the XML-RPC side produces, so one policy check serves both transports. */
  readonly call: MethodCall;
}

export interface JsonRpcRequest {
  /** The body was an array. A one-element batch stays a batch: the client expects an array back. */
  readonly batch: boolean;
  /** Never empty; exactly one when `batch` is false. */
  readonly calls: readonly JsonRpcCall[];
}
