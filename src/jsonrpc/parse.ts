/**
 * Strict reader for JSON-RPC 2.0 requests, as rtorrent ≥ 0.15.2 takes them on its SCGI socket
 * (src/rpc/jsonrpc.cc; rtorrent-rpc.md §5.2 and §7). It produces the same MethodCall tree as the
 * XML-RPC reader, so one policy check serves both transports, and the gateway forwards a fresh
 * encoding of that tree (encode.ts), never the client's bytes.
 *
 * The reader is hand-written rather than JSON.parse because JSON.parse cannot be made strict
 * enough: it keeps the last of two duplicate keys silently, rounds integers beyond 2^53, and
 * recurses without a depth bound of ours. This one is iterative (no stack overflow however deep
 * the text nests), refuses duplicate keys, and keeps every integer's digits.
 */
import { isUtf8 } from 'node:buffer';
import { MalformedCallError, UnsupportedCallError } from '../errors.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../xmlrpc/parse.js';
import type { XmlRpcValue } from '../xmlrpc/types.js';
import type { JsonRpcCall, JsonRpcId, JsonRpcRequest } from './types.js';
import { clip, quoted } from '../text-snippet.js';
import { I8_MAX, I8_MIN, METHOD_NAME_RE } from '../xmlrpc/wire-rules.js';

export interface JsonRpcParseLimits extends ParseLimits {
  /** Most calls in one batch. Each one is checked and run, so this bounds the work per request. */
  readonly maxBatchSize?: number;
}

/**
 * maxDepth counts nesting inside params, as on the XML side (a parameter that is an array is one
 * level). maxValues counts every JSON value in the body, and maxStringBytes bounds every string,
 * the envelope's and member names included. maxBatchSize defaults to the XML side's bound on
 * system.multicall (limits.max_multicall_calls), a batch being JSON-RPC's multicall.
 */
export const DEFAULT_JSONRPC_PARSE_LIMITS: Readonly<Required<JsonRpcParseLimits>> = Object.freeze({
  ...DEFAULT_PARSE_LIMITS,
  maxBatchSize: 10_000,
});

// The batch array, the request object and the params array sit above the parameters.
const ENVELOPE_LEVELS = 3;
const ENVELOPE_KEYS: ReadonlySet<string> = new Set(['jsonrpc', 'method', 'params', 'id']);
// As on the XML side: rtorrent looks the name up with c_str(), so an embedded NUL would cut it
// short, and whitespace makes it a different (undefined) command. Refusing beats normalising.
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
// Characters a JSON string may hold unescaped: everything but the quote, backslash and C0.
const PLAIN_RE = /[^"\\\x00-\x1f]*/y;
const HEX4_RE = /^[0-9A-Fa-f]{4}$/;

/**
 * Characters refused in every string: exactly those XML 1.0 cannot carry (C0 controls other than
 * tab, LF and CR; lone surrogates; U+FFFE and U+FFFF). The policy was built for the strings the
 * XML-RPC side can deliver, so JSON-RPC gets no string XML-RPC could not have sent; that is also
 * what makes every accepted JSON-RPC call have an XML-RPC twin with the same verdict. NUL matters
 * most: rtorrent's command parser stops a command at it (rtorrent-rpc.md §5.2).
 */
const REFUSED_CHAR_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|\p{Cs}/u;

/** Names the first refused character in `text`, or returns null when there is none. */
export function refusedCharacter(text: string): string | null {
  const match = REFUSED_CHAR_RE.exec(text);
  if (match === null) return null;
  const code = match[0].charCodeAt(0);
  const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code === 0) return 'U+0000 (NUL), which rtorrent reads as the end of a command';
  if (code < 0x20) return `the control character ${name}, which XML-RPC cannot carry either`;
  if (code >= 0xd800 && code <= 0xdfff) return `a lone surrogate ${name}, which is not a character`;
  return `the noncharacter ${name}, which XML-RPC cannot carry either`;
}

/** A JSON value before it is given a meaning: numbers keep their text, objects their key order. */
type Raw =
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'number'; readonly text: string; readonly integer: boolean }
  | { readonly t: 'boolean'; readonly v: boolean }
  | { readonly t: 'null' }
  | RawArray
  | RawObject;
interface RawArray {
  readonly t: 'array';
  readonly items: Raw[];
}
interface RawObject {
  readonly t: 'object';
  readonly members: Map<string, Raw>;
}

/** An array or object whose elements are still being read, and the member name being filled. */
interface Open {
  readonly node: RawArray | RawObject;
  key: string;
}

function rawKind(raw: Raw): string {
  switch (raw.t) {
    case 'number':
      return raw.integer ? 'an integer' : 'a number';
    case 'boolean':
      return raw.v ? 'true' : 'false';
    case 'null':
      return 'null';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
  }
}

/** RFC 8259 JSON, read without recursion. Syntax errors name the line and column. */
class JsonReader {
  private pos = 0;
  private values = 0;

  constructor(
    private readonly text: string,
    /** The limit for params; the envelope's own levels come on top. */
    private readonly maxDepth: number,
    private readonly maxValues: number,
    private readonly maxStringBytes: number,
  ) {}

  read(): Raw {
    const stack: Open[] = [];
    this.skipSpace();
    for (;;) {
      let value = this.openValue(stack);
      // null: a non-empty array or object was opened; its first element comes next.
      if (value === null) continue;
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          this.skipSpace();
          if (this.pos !== this.text.length) this.fail('unexpected text after the JSON value');
          return value;
        }
        if (top.node.t === 'array') top.node.items.push(value);
        else top.node.members.set(top.key, value);
        this.skipSpace();
        const c = this.text.charCodeAt(this.pos);
        if (c === 0x2c) {
          this.pos++;
          this.skipSpace();
          if (top.node.t === 'object') top.key = this.readKey(top.node);
          break;
        }
        if (c === (top.node.t === 'array' ? 0x5d : 0x7d)) {
          this.pos++;
          stack.pop();
          value = top.node;
          continue;
        }
        this.fail(
          top.node.t === 'array' ? 'expected "," or "]" after an array element' : 'expected "," or "}" after an object member',
        );
      }
    }
  }

  /** Reads a scalar or an empty container; opens (and returns null for) a non-empty one. */
  private openValue(stack: Open[]): Raw | null {
    if (++this.values > this.maxValues) this.fail(`the request has more than ${this.maxValues} values`);
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x22:
        return { t: 'string', v: this.readString() };
      case 0x5b: {
        this.openContainer(stack);
        const node: RawArray = { t: 'array', items: [] };
        if (this.text.charCodeAt(this.pos) === 0x5d) {
          this.pos++;
          return node;
        }
        stack.push({ node, key: '' });
        return null;
      }
      case 0x7b: {
        this.openContainer(stack);
        const node: RawObject = { t: 'object', members: new Map() };
        if (this.text.charCodeAt(this.pos) === 0x7d) {
          this.pos++;
          return node;
        }
        stack.push({ node, key: this.readKey(node) });
        return null;
      }
      case 0x74:
        return this.literal('true', { t: 'boolean', v: true });
      case 0x66:
        return this.literal('false', { t: 'boolean', v: false });
      case 0x6e:
        return this.literal('null', { t: 'null' });
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.readNumber();
        return this.fail(Number.isNaN(c) ? 'the text ends where a value was expected' : 'expected a JSON value');
    }
  }

  private openContainer(stack: Open[]): void {
    // Checked before anything is pushed, so memory stays bounded by the limit, not the text.
    if (stack.length >= this.maxDepth + ENVELOPE_LEVELS) {
      this.fail(`arrays and objects are nested too deeply (params may nest ${this.maxDepth} levels)`);
    }
    this.pos++;
    this.skipSpace();
  }

  private readKey(node: RawObject): string {
    if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a member name in double quotes');
    const at = this.pos;
    const key = this.readString();
    if (node.members.has(key)) {
      // rtorrent's JSON reader keeps the last duplicate (as JSON.parse does); a checker reading the
      // first would approve a different call than rtorrent runs.
      this.pos = at;
      this.fail(`an object has two members named ${quoted(key)}`);
    }
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail('expected ":" after a member name');
    this.pos++;
    this.skipSpace();
    return key;
  }

  private literal(word: string, value: Raw): Raw {
    if (!this.text.startsWith(word, this.pos)) this.fail('expected a JSON value');
    this.pos += word.length;
    return value;
  }

  private readNumber(): Raw {
    NUMBER_RE.lastIndex = this.pos;
    const match = NUMBER_RE.exec(this.text);
    if (match === null) this.fail('invalid number');
    const end = NUMBER_RE.lastIndex;
    // What the grammar cannot continue with: "01", "1.", "1e", "1.5.2", "--1".
    const next = this.text.charCodeAt(end);
    if ((next >= 0x30 && next <= 0x39) || next === 0x2e || next === 0x65 || next === 0x45 || next === 0x2b || next === 0x2d) {
      this.pos = end;
      this.fail('invalid number');
    }
    this.pos = end;
    return { t: 'number', text: match[0], integer: match[1] === undefined && match[2] === undefined };
  }

  private readString(): string {
    const text = this.text;
    let pos = this.pos + 1;
    let out = '';
    for (;;) {
      PLAIN_RE.lastIndex = pos;
      PLAIN_RE.test(text);
      const end = PLAIN_RE.lastIndex;
      if (end !== pos) out += text.slice(pos, end);
      pos = end;
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        break;
      }
      this.pos = pos;
      if (c !== 0x5c) {
        this.fail(
          Number.isNaN(c)
            ? 'a string is not closed'
            : `the control character U+${c.toString(16).toUpperCase().padStart(4, '0')} must be escaped in a string`,
        );
      }
      const [decoded, length] = this.readEscape(pos);
      out += decoded;
      pos += length;
    }
    this.pos = pos;
    if (this.maxStringBytes !== Number.POSITIVE_INFINITY && Buffer.byteLength(out) > this.maxStringBytes) {
      this.fail(`a string is longer than ${this.maxStringBytes} bytes`);
    }
    return out;
  }

  /** The escape at `pos` (a backslash): what it stands for and how many characters it took. */
  private readEscape(pos: number): [string, number] {
    switch (this.text.charCodeAt(pos + 1)) {
      case 0x22:
        return ['"', 2];
      case 0x5c:
        return ['\\', 2];
      case 0x2f:
        return ['/', 2];
      case 0x62:
        return ['\b', 2];
      case 0x66:
        return ['\f', 2];
      case 0x6e:
        return ['\n', 2];
      case 0x72:
        return ['\r', 2];
      case 0x74:
        return ['\t', 2];
      case 0x75: {
        const unit = this.hex4(pos + 2);
        if (unit < 0) this.fail('\\u must be followed by four hexadecimal digits');
        if (unit >= 0xdc00 && unit <= 0xdfff) this.fail('a \\u escape is a low surrogate without a high one before it');
        if (unit < 0xd800 || unit > 0xdbff) return [String.fromCharCode(unit), 6];
        // rtorrent's JSON reader refuses a lone surrogate; so do we, before it could reach anything.
        const paired = this.text.charCodeAt(pos + 6) === 0x5c && this.text.charCodeAt(pos + 7) === 0x75;
        const low = paired ? this.hex4(pos + 8) : -1;
        if (low < 0xdc00 || low > 0xdfff) this.fail('a \\u escape is a high surrogate without a low one after it');
        return [String.fromCharCode(unit, low), 12];
      }
      default:
        return this.fail('invalid escape sequence in a string');
    }
  }

  private hex4(at: number): number {
    const digits = this.text.slice(at, at + 4);
    return HEX4_RE.test(digits) ? parseInt(digits, 16) : -1;
  }

  private skipSpace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      pos++;
    }
    this.pos = pos;
  }

  private fail(message: string): never {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    throw new MalformedCallError(`the request is not valid JSON: ${message} (line ${line}, column ${column})`);
  }
}

/**
 * A problem inside one parameter. Each array or object level it passes adds its position to
 * `path`, so the final message says where; nothing is allocated for this unless it fails.
 */
class ValueProblem {
  path = '';
  constructor(
    readonly message: string,
    readonly unsupported: boolean,
  ) {}
}

/**
 * JSON integers become i8, which is what rtorrent makes of every one (json_to_object: int64_t).
 * Its reader stores 2^63…2^64-1 as unsigned and get<int64_t>() wraps them negative, and anything
 * larger becomes a float: so only the signed 64-bit range has one meaning, and it is exactly kept.
 */
function integerValue(text: string): bigint {
  const digits = text.charCodeAt(0) === 0x2d ? text.length - 1 : text.length;
  const n = digits <= 19 ? BigInt(text) : null;
  if (n === null || n < I8_MIN || n > I8_MAX) {
    throw new ValueProblem(`the integer ${clip(text)} is outside the signed 64-bit range rtorrent works in`, true);
  }
  return n;
}

function nestedTooDeeply(maxDepth: number): ValueProblem {
  return new ValueProblem(`arrays and objects are nested too deeply (params may nest ${maxDepth} levels)`, false);
}

function toValue(raw: Raw, depth: number, maxDepth: number): XmlRpcValue {
  switch (raw.t) {
    case 'string': {
      const bad = refusedCharacter(raw.v);
      if (bad !== null) throw new ValueProblem(`a string contains ${bad}`, true);
      return { kind: 'string', value: raw.v };
    }
    case 'number':
      if (!raw.integer) {
        // rtorrent refuses floats ("unexpected data type float"), 1.0 and 1e3 included.
        throw new ValueProblem(
          `rtorrent does not accept floating-point numbers (${clip(raw.text)}); send whole numbers without a fraction or exponent, anything else as a string`,
          true,
        );
      }
      return { kind: 'i8', value: integerValue(raw.text) };
    case 'boolean':
      // rtorrent would read true/false as 1/0, but xmlrpc-c refuses <boolean> and so does the XML
      // side of the gateway; one rule for both transports.
      throw new ValueProblem(`JSON booleans are not accepted (${raw.v}); send 1 or 0`, true);
    case 'null':
      throw new ValueProblem('rtorrent does not accept null parameters; send an empty string instead', true);
    case 'array': {
      if (depth >= maxDepth) throw nestedTooDeeply(maxDepth);
      const items: XmlRpcValue[] = [];
      for (let i = 0; i < raw.items.length; i++) {
        try {
          items.push(toValue(raw.items[i] as Raw, depth + 1, maxDepth));
        } catch (error) {
          if (error instanceof ValueProblem) error.path = `[${i}]${error.path}`;
          throw error;
        }
      }
      return { kind: 'array', items };
    }
    case 'object': {
      if (depth >= maxDepth) throw nestedTooDeeply(maxDepth);
      // Kept as a struct rather than refused here: rtorrent makes a map of it, which call_object
      // may walk and run, and the policy refuses structs everywhere but in system.multicall, with
      // the same message as for an XML-RPC <struct>.
      const members = new Map<string, XmlRpcValue>();
      for (const [key, item] of raw.members) {
        const bad = refusedCharacter(key);
        if (bad !== null) throw new ValueProblem(`a member name contains ${bad}`, true);
        try {
          members.set(key, toValue(item, depth + 1, maxDepth));
        } catch (error) {
          if (error instanceof ValueProblem) error.path = `[${quoted(key)}]${error.path}`;
          throw error;
        }
      }
      return { kind: 'struct', members };
    }
  }
}

function toId(raw: Raw | undefined, where: string): JsonRpcId | undefined {
  if (raw === undefined) return undefined;
  switch (raw.t) {
    case 'null':
      return null;
    case 'string': {
      const bad = refusedCharacter(raw.v);
      if (bad !== null) throw new MalformedCallError(`${where}: the id contains ${bad}`);
      return raw.v;
    }
    case 'number': {
      if (!raw.integer) throw new MalformedCallError(`${where}: the id ${clip(raw.text)} is not an integer; use an integer, a string or null`);
      const n = Number(raw.text);
      // Beyond 2^53 a number is no longer the id that was sent; a string id carries any value.
      if (!Number.isSafeInteger(n)) {
        throw new MalformedCallError(`${where}: the id ${clip(raw.text)} is too large to pass on exactly; use a string id`);
      }
      // -0 and 0 are the same id; keep one spelling.
      return n === 0 ? 0 : n;
    }
    default:
      throw new MalformedCallError(`${where}: "id" must be a string, an integer or null, not ${rawKind(raw)}`);
  }
}

function toCall(request: RawObject, index: number | null, maxDepth: number): JsonRpcCall {
  const where = index === null ? 'the request' : `batch call ${index + 1}`;
  const { members } = request;
  for (const key of members.keys()) {
    if (!ENVELOPE_KEYS.has(key)) {
      throw new MalformedCallError(`${where} has an unknown member ${quoted(key)}; a JSON-RPC 2.0 request has only jsonrpc, method, params and id`);
    }
  }
  // rtorrent itself ignores "jsonrpc"; requiring it keeps out bodies that are not meant as JSON-RPC.
  const version = members.get('jsonrpc');
  if (version?.t !== 'string' || version.v !== '2.0') throw new MalformedCallError(`${where} must have "jsonrpc": "2.0"`);
  const method = members.get('method');
  if (method === undefined) throw new MalformedCallError(`${where} has no "method"`);
  if (method.t !== 'string') throw new MalformedCallError(`${where}: "method" must be a string, not ${rawKind(method)}`);
  if (!METHOD_NAME_RE.test(method.v)) {
    throw new MalformedCallError(
      method.v === ''
        ? `${where}: "method" is empty`
        : `${where}: method name ${quoted(method.v)} may contain only A-Z a-z 0-9 _ . : / (no spaces)`,
    );
  }
  const id = toId(members.get('id'), where);
  const label = index === null ? method.v : `batch call ${index + 1} (${method.v})`;

  const params = members.get('params');
  let values: XmlRpcValue[];
  if (params === undefined) {
    // rtorrent runs a call without params as if it had sent [""] (handle_request and
    // handle_notification pass json::array({""})), "" being the generic target. The tree says so,
    // so the policy checks, and the encoding forwards, exactly that.
    values = [{ kind: 'string', value: '' }];
  } else if (params.t === 'array') {
    // Kept as sent, [] included: rtorrent then supplies the "" target itself for commands that take
    // one, which is how the policy already reads an XML-RPC call with no params.
    values = [];
    for (let i = 0; i < params.items.length; i++) {
      try {
        values.push(toValue(params.items[i] as Raw, 0, maxDepth));
      } catch (error) {
        if (!(error instanceof ValueProblem)) throw error;
        const message = `${label} parameter ${i + 1}${error.path}: ${error.message}`;
        throw error.unsupported ? new UnsupportedCallError(message) : new MalformedCallError(message);
      }
    }
  } else if (params.t === 'object') {
    throw new UnsupportedCallError(`${label}: rtorrent does not take named parameters; send "params" as an array, the target first`);
  } else {
    throw new MalformedCallError(`${label}: "params" must be an array, not ${rawKind(params)}`);
  }
  return { id, call: { methodName: method.v, params: values } };
}

/**
 * Reads a JSON-RPC 2.0 request (one call or a batch, notifications included) the way rtorrent
 * would run it, or throws: MalformedCallError for anything malformed, ambiguous or outside JSON-RPC
 * 2.0; UnsupportedCallError for well-formed parameters rtorrent does not take (floats, booleans,
 * null, integers outside 64 bits, named params) or strings XML-RPC could not carry either.
 */
export function parseJsonRpcRequest(body: Buffer, limits?: JsonRpcParseLimits): JsonRpcRequest {
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
    // rtorrent's JSON reader skips a byte order mark; there is no reason for a client to send one.
    throw new MalformedCallError('the request starts with a byte order mark; send UTF-8 without one');
  }
  // Node would replace invalid sequences with U+FFFD while rtorrent's reader refuses them.
  if (!isUtf8(body)) throw new MalformedCallError('the request body is not valid UTF-8');
  const maxDepth = limits?.maxDepth ?? DEFAULT_JSONRPC_PARSE_LIMITS.maxDepth;
  const maxBatchSize = limits?.maxBatchSize ?? DEFAULT_JSONRPC_PARSE_LIMITS.maxBatchSize;
  const root = new JsonReader(
    body.toString('utf8'),
    maxDepth,
    limits?.maxValues ?? DEFAULT_JSONRPC_PARSE_LIMITS.maxValues,
    limits?.maxStringBytes ?? DEFAULT_JSONRPC_PARSE_LIMITS.maxStringBytes,
  ).read();

  if (root.t === 'object') return { batch: false, calls: [toCall(root, null, maxDepth)] };
  if (root.t !== 'array') {
    throw new MalformedCallError(`a JSON-RPC request must be an object, or an array of them (a batch), not ${rawKind(root)}`);
  }
  // rtorrent answers an empty batch with an error; nothing would run.
  if (root.items.length === 0) throw new MalformedCallError('an empty batch ([]) is not a JSON-RPC request');
  if (root.items.length > maxBatchSize) {
    throw new MalformedCallError(`the batch has ${root.items.length} calls; the gateway takes at most ${maxBatchSize}`);
  }
  const calls: JsonRpcCall[] = [];
  for (let i = 0; i < root.items.length; i++) {
    const item = root.items[i] as Raw;
    // rtorrent skips such elements silently; a client sending one has a bug worth hearing about.
    if (item.t !== 'object') throw new MalformedCallError(`batch call ${i + 1} is ${rawKind(item)}, not a request object`);
    calls.push(toCall(item, i, maxDepth));
  }
  return { batch: true, calls };
}
