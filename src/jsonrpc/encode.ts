/**
 * Canonical JSON-RPC for rtorrent, written from the checked tree: no whitespace, members in one
 * order, integers in plain decimal, so rtorrent reads exactly the calls the policy checked.
 * Plus the error responses the gateway sends itself.
 */
import { refusedCharacter } from './parse.js';
import type { JsonRpcId, JsonRpcRequest } from './types.js';
import type { XmlRpcValue } from '../xmlrpc/types.js';
import { I4_MAX, I4_MIN, I8_MAX, I8_MIN, METHOD_NAME_RE } from '../xmlrpc/wire-rules.js';

const LONE_SURROGATE_RE = /\p{Cs}/gu;

/** JSON-RPC's "Internal error", for a code that cannot be written as a JSON integer. */
const FALLBACK_ERROR_CODE = -32603;

function encodeString(text: string): string {
  // The same characters parse.ts refuses: a tree built elsewhere must not smuggle in what a
  // client could not send (a NUL ends a command inside rtorrent).
  const bad = refusedCharacter(text);
  if (bad !== null) throw new RangeError(`a string contains ${bad}`);
  // JSON.stringify escapes exactly the quote, the backslash and C0; everything else is UTF-8.
  return JSON.stringify(text);
}

function encodeValue(value: XmlRpcValue): string {
  switch (value.kind) {
    case 'string':
      return encodeString(value.value);
    case 'i4':
      if (!Number.isInteger(value.value) || value.value < I4_MIN || value.value > I4_MAX) {
        throw new RangeError(`i4 value ${value.value} is not a signed 32-bit integer`);
      }
      // String(-0) is "0".
      return String(value.value);
    case 'i8':
      if (value.value < I8_MIN || value.value > I8_MAX) {
        throw new RangeError(`i8 value ${value.value} is not a signed 64-bit integer`);
      }
      return value.value.toString();
    case 'base64':
      // rtorrent's JSON side has no binary parameter type, and parse.ts never produces one.
      throw new RangeError('JSON-RPC cannot carry a base64 value; send the data as a string');
    case 'array': {
      // Recursion is bounded by the parser's maxDepth for every tree that comes from a client.
      let out = '[';
      for (let i = 0; i < value.items.length; i++) {
        if (i > 0) out += ',';
        out += encodeValue(value.items[i] as XmlRpcValue);
      }
      return `${out}]`;
    }
    case 'struct': {
      let out = '{';
      let first = true;
      for (const [name, member] of value.members) {
        if (!first) out += ',';
        first = false;
        out += `${encodeString(name)}:${encodeValue(member)}`;
      }
      return `${out}}`;
    }
  }
}

function encodeId(id: JsonRpcId): string {
  if (id === null) return 'null';
  if (typeof id === 'string') return encodeString(id);
  if (!Number.isSafeInteger(id)) throw new RangeError(`id ${id} is not an integer a JSON reader keeps exactly`);
  return String(id);
}

/**
 * The canonical request body: one object, or an array for a batch (a one-element batch stays an
 * array, so the client gets the array it expects back). Calls without an id stay notifications.
 * Throws RangeError for a tree JSON-RPC cannot carry.
 */
export function encodeJsonRpcRequest(request: JsonRpcRequest): Buffer {
  const { calls } = request;
  if (calls.length === 0) throw new RangeError('a JSON-RPC request needs at least one call');
  if (!request.batch && calls.length !== 1) throw new RangeError('a request that is not a batch holds exactly one call');
  let out = request.batch ? '[' : '';
  for (let i = 0; i < calls.length; i++) {
    const { id, call } = calls[i] as (typeof calls)[number];
    if (!METHOD_NAME_RE.test(call.methodName)) {
      throw new RangeError(`method name ${JSON.stringify(call.methodName)} is not a valid method name`);
    }
    if (i > 0) out += ',';
    out += '{"jsonrpc":"2.0"';
    if (id !== undefined) out += `,"id":${encodeId(id)}`;
    // The name matches METHOD_NAME_RE, so it needs no escaping.
    out += `,"method":"${call.methodName}","params":[`;
    for (let j = 0; j < call.params.length; j++) {
      if (j > 0) out += ',';
      out += encodeValue(call.params[j] as XmlRpcValue);
    }
    out += ']}';
  }
  if (request.batch) out += ']';
  return Buffer.from(out, 'utf8');
}

/** Error text must always be sendable: lone surrogates become U+FFFD instead of failing. */
function errorObject(id: JsonRpcId, code: number, message: string): string {
  let idText = 'null';
  if (typeof id === 'string') idText = JSON.stringify(id.replace(LONE_SURROGATE_RE, '\ufffd'));
  else if (typeof id === 'number' && Number.isSafeInteger(id)) idText = String(id);
  const codeText = String(Number.isSafeInteger(code) ? code : FALLBACK_ERROR_CODE);
  const text = JSON.stringify(message.replace(LONE_SURROGATE_RE, '\ufffd'));
  return `{"jsonrpc":"2.0","id":${idText},"error":{"code":${codeText},"message":${text}}}`;
}

/**
 * One JSON-RPC error response. Use id null when the request could not be read (JSON-RPC 2.0 §5:
 * parse errors and invalid requests), which is also what rtorrent does.
 */
export function encodeJsonRpcError(id: JsonRpcId, code: number, message: string): Buffer {
  return Buffer.from(errorObject(id, code, message), 'utf8');
}

/** One call the gateway refused: its index in `request.calls`, and the error to report for it. */
export interface JsonRpcRefusal {
  readonly index: number;
  readonly code: number;
  readonly message: string;
}

/**
 * The answer when the gateway refuses a request because some of its calls were refused. A batch
 * is refused as a whole (nothing of it is forwarded): a partial forward would need the answers
 * merged back in order, and running the allowed half of a batch whose author meant it as a unit
 * is no safer than running none. Each call with an id gets an error: the refused ones their own,
 * the others one naming the first refused call and why.
 *
 * Returns null when no call has an id (notifications only): JSON-RPC 2.0 §4.1 forbids answering
 * them, and rtorrent then sends an empty body; the refusal still belongs in the gateway's log.
 */
export function encodeJsonRpcRefusal(request: JsonRpcRequest, refusals: readonly JsonRpcRefusal[]): Buffer | null {
  const first = refusals[0];
  if (first === undefined) throw new RangeError('a refusal needs at least one refused call');
  const byIndex = new Map<number, JsonRpcRefusal>();
  for (const refusal of refusals) {
    if (!Number.isInteger(refusal.index) || refusal.index < 0 || refusal.index >= request.calls.length) {
      throw new RangeError(`refusal index ${refusal.index} is not a call of this request`);
    }
    if (!byIndex.has(refusal.index)) byIndex.set(refusal.index, refusal);
  }
  const firstCall = request.calls[first.index];
  const because =
    `not run: the gateway refuses a batch as a whole, and batch call ${first.index + 1}` +
    ` (${firstCall?.call.methodName ?? '?'}) was refused: ${first.message}`;
  const parts: string[] = [];
  for (let i = 0; i < request.calls.length; i++) {
    const { id } = request.calls[i] as (typeof request.calls)[number];
    if (id === undefined) continue;
    const own = byIndex.get(i);
    parts.push(errorObject(id, own?.code ?? first.code, own?.message ?? because));
  }
  if (parts.length === 0) return null;
  return Buffer.from(request.batch ? `[${parts.join(',')}]` : (parts[0] as string), 'utf8');
}
