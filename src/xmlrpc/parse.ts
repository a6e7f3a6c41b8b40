/**
 * Strict reader for XML-RPC requests. The gateway checks the tree this returns and forwards a
 * fresh encoding of it (encode.ts), so anything we cannot read exactly as rtorrent's xmlrpc-c would
 * (protocol.md 3.5, 5.2) is refused here rather than guessed at.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { SaxesParser, type XMLDecl } from 'saxes';
import { GatewayError, MalformedCallError, UnsupportedCallError } from '../errors.js';
import type { MethodCall, XmlRpcValue } from './types.js';
import { clip, quoted } from '../text-snippet.js';
import { I4_MAX, I4_MIN, I8_MAX, I8_MIN, METHOD_NAME_RE } from './wire-rules.js';
import { DEFAULT_XML_LIMITS } from './call-limits.js';
import { base64Digit, decodeSetAside, setAsideLargeBase64, type SetAside } from './base64-bytes.js';

export interface ParseLimits {
  /** Deepest nesting of <array>/<struct> values (xmlrpc-c's own limit is 64). */
  readonly maxDepth?: number;
  /** Most <value> elements in one request, counted across all nesting levels. */
  readonly maxValues?: number;
  /** Longest string, struct member name or decoded base64 value, in bytes. */
  readonly maxStringBytes?: number;
}

/** The [limits] defaults (call-limits.ts), so a parser used without a configuration holds the same bounds. */
export const DEFAULT_PARSE_LIMITS: Readonly<Required<ParseLimits>> = Object.freeze({
  maxDepth: DEFAULT_XML_LIMITS.maxDepth,
  maxValues: DEFAULT_XML_LIMITS.maxValues,
  maxStringBytes: Number.POSITIVE_INFINITY,
});

// The same shape xmlrpc-c accepts via strtol/strtoll once it has refused leading whitespace;
// trailing whitespace is "non-numerical junk" there too.
const INTEGER_RE = /^[+-]?[0-9]+$/;
const XML_SPACE_ONLY_RE = /^[ \t\r\n]*$/;
const BASE64_SPACE_RE = /[ \t\r\n]/;
const BASE64_SPACES_RE = /[ \t\r\n]+/g;
const BASE64_BAD_CHAR_RE = /[^A-Za-z0-9+/=]/;

const enum Kind {
  Doc,
  MethodCall,
  MethodName,
  Params,
  Param,
  Value,
  String,
  I4,
  I8,
  Base64,
  Array,
  Data,
  Struct,
  Member,
  Name,
  /** An element of a type rtorrent does not take; its content is skipped, the error deferred. */
  Unsupported,
}

const KIND_TAG: readonly string[] = [
  '(document)',
  'methodCall',
  'methodName',
  'params',
  'param',
  'value',
  'string',
  'i4',
  'i8',
  'base64',
  'array',
  'data',
  'struct',
  'member',
  'name',
  '(unsupported)',
];

/** Kinds whose content is character data only; the others hold elements and whitespace. */
function isTextKind(kind: Kind): boolean {
  return (
    kind === Kind.MethodName ||
    kind === Kind.String ||
    kind === Kind.I4 ||
    kind === Kind.I8 ||
    kind === Kind.Base64 ||
    kind === Kind.Name
  );
}

/** Reused per nesting level so that a parse allocates only what ends up in the tree. */
class Frame {
  kind: Kind = Kind.Doc;
  childCount = 0;
  text = '';
  value: XmlRpcValue | null = null;
  items: XmlRpcValue[] | null = null;
  members: Map<string, XmlRpcValue> | null = null;
  memberName: string | null = null;

  reset(kind: Kind): void {
    this.kind = kind;
    this.childCount = 0;
    this.text = '';
    this.value = null;
    this.items = null;
    this.members = null;
    this.memberName = null;
  }
}

// Stands in for a skipped unsupported value so that the surrounding structure can still be
// checked; the deferred UnsupportedCallError is thrown before any tree is returned.
const SKIPPED: XmlRpcValue = Object.freeze({ kind: 'string', value: '' });

function unsupportedMessage(tag: string): string {
  const head = `rtorrent does not accept <${tag}> parameters`;
  switch (tag) {
    case 'boolean':
      return `${head}; send 0 or 1 as <i4>`;
    case 'double':
      return `${head}; send whole numbers as <i4> or <i8>, anything else as <string>`;
    case 'dateTime.iso8601':
      return `${head}; send a Unix time as <i8>`;
    case 'nil':
    case 'ex:nil':
      return `${head}; send an empty <string> instead`;
    case 'i1':
    case 'i2':
    case 'ex:i1':
    case 'ex:i2':
      return `${head}; send the number as <i4>`;
    default:
      return `${head} (Apache ex: extension types are not supported); use <string>, <i4>, <i8>, <base64> or <array>`;
  }
}

function isUnsupportedType(tag: string): boolean {
  switch (tag) {
    case 'boolean':
    case 'double':
    case 'dateTime.iso8601':
    case 'nil':
    // xmlrpc-c reads these as ints, but no client has a reason to send them.
    case 'i1':
    case 'i2':
      return true;
    default:
      // xmlrpc-c matches "ex:" literally, without namespace processing (protocol.md 3.5).
      return tag.startsWith('ex:');
  }
}

class CallReader {
  private readonly frames: Frame[] = [new Frame()];
  private depth = 0;
  private skipDepth = 0;
  private nesting = 0;
  private valueCount = 0;
  private rootSeen = false;
  private methodName: string | null = null;
  private params: XmlRpcValue[] = [];
  private unsupported: UnsupportedCallError | null = null;
  private readonly maxDepth: number;
  private readonly maxValues: number;
  private readonly maxStringBytes: number;
  private readonly parser: SaxesParser<{ xmlns: false }>;
  /** Set-aside values read as <base64> values: all of them, or the body is read again without. */
  consumed = 0;

  constructor(
    private readonly body: Buffer,
    limits: ParseLimits | undefined,
    /** Large base64 values read from the bytes rather than through the parser (base64-bytes.ts). */
    private readonly setAside?: SetAside,
  ) {
    this.maxDepth = limits?.maxDepth ?? DEFAULT_PARSE_LIMITS.maxDepth;
    this.maxValues = limits?.maxValues ?? DEFAULT_PARSE_LIMITS.maxValues;
    this.maxStringBytes = limits?.maxStringBytes ?? DEFAULT_PARSE_LIMITS.maxStringBytes;
    // Forcing 1.0 rules keeps line-end handling identical to expat (XML 1.1 would also fold NEL
    // and U+2028 into LF); a version="1.1" declaration is refused in checkXmlDecl anyway.
    const parser = new SaxesParser({ xmlns: false, defaultXMLVersion: '1.0', forceXMLVersion: true });
    // Keep the handler count at six. saxes stores each handler as a new property on the parser;
    // past seven of them V8 turns parser objects into slow dictionaries and every saxes parser in
    // the process, ours or not, drops from ~50k to ~7k parses/s (measured on saxes 6.0.0, Node
    // 20). Hence no 'attribute' handler (see onOpen) and no 'xmldecl' handler (see checkXmlDecl).
    parser.on('doctype', () => this.fail('a DOCTYPE is not allowed in an XML-RPC request'));
    parser.on('processinginstruction', (pi) =>
      this.fail(`processing instructions are not allowed (<?${clip(pi.target)} …?>)`),
    );
    parser.on('opentag', (tag) => this.onOpen(tag.name, tag.attributes));
    parser.on('closetag', () => this.onClose());
    parser.on('text', (text) => this.onText(text));
    parser.on('cdata', (text) => this.onText(text));
    // Comments get no handler: expat, and so xmlrpc-c, skips them and joins the text around them,
    // which is what saxes' separate text events add up to in onText.
    this.parser = parser;
  }

  read(): MethodCall {
    try {
      this.parser.write(this.setAside?.text ?? this.body.toString('utf8')).close();
    } catch (err) {
      // saxes reports well-formedness errors as plain Errors; ours are GatewayErrors and anything
      // else is a bug that should surface as such.
      if (err instanceof Error && Object.getPrototypeOf(err) === Error.prototype) {
        throw new MalformedCallError(`the request is not well-formed XML: ${clip(saxesMessage(err.message), 200)}`);
      }
      throw err;
    }
    if (this.methodName === null) {
      // Unreachable once the root closed, but keeps the type honest.
      throw new MalformedCallError('the request has no <methodCall> element');
    }
    if (this.unsupported !== null) throw this.unsupported;
    return { methodName: this.methodName, params: this.params };
  }

  private fail(message: string): never {
    throw new MalformedCallError(`${message} (line ${this.parser.line}, column ${this.parser.column})`);
  }

  /** Runs when the root element opens: the declaration, if any, has been read by then. */
  private checkXmlDecl(decl: XMLDecl): void {
    if (decl.version === undefined) return;
    if (decl.version !== '1.0') {
      this.fail(`only XML version 1.0 is accepted, not ${quoted(decl.version)}`);
    }
    const encoding = decl.encoding?.toLowerCase();
    if (encoding === undefined || encoding === 'utf-8') return;
    if (encoding === 'us-ascii' || encoding === 'ascii') {
      // expat would refuse non-ASCII bytes under this label; decoding them as UTF-8 would read
      // something the client did not declare.
      if (!isAscii(this.body)) this.fail(`the request declares encoding ${quoted(encoding)} but is not ASCII`);
      return;
    }
    this.fail(`the request must be UTF-8; encoding ${quoted(decl.encoding ?? '')} is not accepted`);
  }

  private push(kind: Kind): void {
    const depth = ++this.depth;
    let frame = this.frames[depth];
    if (frame === undefined) {
      frame = new Frame();
      this.frames.push(frame);
    }
    frame.reset(kind);
  }

  private onOpen(name: string, attributes: Record<string, string>): void {
    // Every XML-RPC element name is short, so a clipped name still fails each comparison below.
    const tag = clip(name);
    for (const attr in attributes) this.fail(`attributes are not allowed (<${tag} ${clip(attr)}="…">)`);
    if (this.skipDepth > 0) {
      this.skipDepth++;
      return;
    }
    const parent = this.frames[this.depth] as Frame;
    const kind = parent.kind;
    if (isTextKind(kind)) {
      this.fail(`<${KIND_TAG[kind]}> may hold only text, not <${tag}>`);
    }
    if (kind === Kind.Unsupported) {
      this.skipDepth = 1;
      return;
    }
    if (parent.text !== '' && kind === Kind.Value && !XML_SPACE_ONLY_RE.test(parent.text)) {
      this.fail(`<value> mixes text with a <${tag}> element`);
    }
    const position = parent.childCount++;
    switch (kind) {
      case Kind.Doc:
        if (this.rootSeen) this.fail('the document has more than one root element');
        this.rootSeen = true;
        this.checkXmlDecl(this.parser.xmlDecl);
        if (tag !== 'methodCall') this.fail(`the root element must be <methodCall>, not <${tag}>`);
        return this.push(Kind.MethodCall);
      case Kind.MethodCall:
        if (tag === 'methodName') {
          if (position !== 0) this.fail('<methodCall> has a second <methodName>');
          return this.push(Kind.MethodName);
        }
        if (tag === 'params') {
          if (position === 0) this.fail('<params> must come after <methodName>');
          if (position !== 1) this.fail('<methodCall> has a second <params>');
          return this.push(Kind.Params);
        }
        return this.fail(`<${tag}> is not allowed in <methodCall>; expected <methodName> then <params>`);
      case Kind.Params:
        if (tag !== 'param') this.fail(`<${tag}> is not allowed in <params>; expected <param>`);
        return this.push(Kind.Param);
      case Kind.Param:
        if (tag !== 'value') this.fail(`<${tag}> is not allowed in <param>; expected <value>`);
        if (position !== 0) this.fail('<param> has more than one <value>');
        return this.openValue();
      case Kind.Data:
        if (tag !== 'value') this.fail(`<${tag}> is not allowed in <data>; expected <value>`);
        return this.openValue();
      case Kind.Member:
        if (tag === 'name') {
          if (position !== 0) this.fail('<member> must hold exactly <name> then <value>');
          return this.push(Kind.Name);
        }
        if (tag === 'value') {
          if (position !== 1) this.fail('<member> must hold exactly <name> then <value>');
          return this.openValue();
        }
        return this.fail(`<${tag}> is not allowed in <member>; expected <name> then <value>`);
      case Kind.Array:
        if (tag !== 'data') this.fail(`<${tag}> is not allowed in <array>; expected <data>`);
        if (position !== 0) this.fail('<array> has more than one <data>');
        return this.push(Kind.Data);
      case Kind.Struct:
        if (tag !== 'member') this.fail(`<${tag}> is not allowed in <struct>; expected <member>`);
        return this.push(Kind.Member);
      case Kind.Value:
        if (position !== 0) this.fail(`<value> holds more than one element (<${tag}>)`);
        return this.openTyped(tag);
    }
  }

  private openValue(): void {
    if (++this.valueCount > this.maxValues) {
      this.fail(`the request has more than ${this.maxValues} values`);
    }
    this.push(Kind.Value);
  }

  private openTyped(tag: string): void {
    switch (tag) {
      case 'string':
        return this.push(Kind.String);
      case 'i4':
      case 'int':
        return this.push(Kind.I4);
      case 'i8':
      case 'ex:i8':
        return this.push(Kind.I8);
      case 'base64':
        return this.push(Kind.Base64);
      case 'array':
      case 'struct':
        if (++this.nesting > this.maxDepth) {
          this.fail(`arrays and structs are nested more than ${this.maxDepth} deep`);
        }
        return this.push(tag === 'array' ? Kind.Array : Kind.Struct);
    }
    if (!isUnsupportedType(tag)) this.fail(`<${tag}> is not an XML-RPC value type`);
    // Deferred so that a body that is also malformed is reported as malformed, and the first
    // unsupported type is the one named.
    this.unsupported ??= new UnsupportedCallError(unsupportedMessage(tag));
    this.push(Kind.Unsupported);
  }

  private onText(text: string): void {
    if (this.skipDepth > 0) return;
    const frame = this.frames[this.depth] as Frame;
    switch (frame.kind) {
      case Kind.Value:
        if (frame.childCount !== 0 && !XML_SPACE_ONLY_RE.test(text)) {
          this.fail('<value> mixes text with an element');
        }
        frame.text += text;
        return;
      case Kind.Unsupported:
        return;
      default:
        if (isTextKind(frame.kind)) {
          frame.text += text;
        } else if (!XML_SPACE_ONLY_RE.test(text)) {
          this.fail(
            frame.kind === Kind.Doc
              ? 'text is not allowed outside the root element'
              : `text ${quoted(text.trim())} is not allowed in <${KIND_TAG[frame.kind]}>`,
          );
        }
    }
  }

  private checkSize(bytes: number, what: string): void {
    if (bytes > this.maxStringBytes) {
      this.fail(`${what} is longer than ${this.maxStringBytes} bytes`);
    }
  }

  private stringValue(text: string): XmlRpcValue {
    if (this.maxStringBytes !== Number.POSITIVE_INFINITY) this.checkSize(Buffer.byteLength(text), 'a string');
    return { kind: 'string', value: text };
  }

  private onClose(): void {
    if (this.skipDepth > 0) {
      this.skipDepth--;
      return;
    }
    const frame = this.frames[this.depth--] as Frame;
    const parent = this.frames[this.depth] as Frame;
    switch (frame.kind) {
      case Kind.MethodCall:
        if (this.methodName === null) this.fail('<methodCall> has no <methodName>');
        return;
      case Kind.MethodName:
        return this.setMethodName(frame.text);
      case Kind.Params:
        this.params = frame.items ?? [];
        return;
      case Kind.Param:
        if (frame.value === null) this.fail('<param> has no <value>');
        (parent.items ??= []).push(frame.value);
        return;
      case Kind.Value: {
        // Untyped content is a string, whitespace and all (xmlrpc-c parse_value.c:719).
        const value = frame.value ?? this.stringValue(frame.text);
        if (parent.kind === Kind.Data) (parent.items ??= []).push(value);
        else parent.value = value;
        return;
      }
      case Kind.String:
        parent.value = this.stringValue(frame.text);
        return;
      case Kind.I4:
        parent.value = { kind: 'i4', value: this.parseI4(frame.text) };
        return;
      case Kind.I8:
        parent.value = { kind: 'i8', value: this.parseI8(frame.text) };
        return;
      case Kind.Base64:
        parent.value = { kind: 'base64', value: this.parseBase64(frame.text) };
        return;
      case Kind.Array:
        if (frame.value === null) this.fail('<array> has no <data>');
        this.nesting--;
        parent.value = frame.value;
        return;
      case Kind.Data:
        parent.value = { kind: 'array', items: frame.items ?? [] };
        return;
      case Kind.Struct:
        this.nesting--;
        parent.value = { kind: 'struct', members: frame.members ?? new Map<string, XmlRpcValue>() };
        return;
      case Kind.Member: {
        const name = frame.memberName;
        if (name === null || frame.value === null) this.fail('<member> must hold exactly <name> then <value>');
        const members = (parent.members ??= new Map<string, XmlRpcValue>());
        // xmlrpc-c lets the last duplicate win (xmlrpc_struct.c:599); a checker reading the first
        // would approve a different call than rtorrent runs.
        if (members.has(name)) this.fail(`<struct> has two members named ${quoted(name)}`);
        members.set(name, frame.value);
        return;
      }
      case Kind.Name:
        if (this.maxStringBytes !== Number.POSITIVE_INFINITY) {
          this.checkSize(Buffer.byteLength(frame.text), 'a member name');
        }
        parent.memberName = frame.text;
        return;
      case Kind.Unsupported:
        parent.value = SKIPPED;
        return;
    }
  }

  private setMethodName(name: string): void {
    if (!METHOD_NAME_RE.test(name)) {
      this.fail(
        name === ''
          ? '<methodName> is empty'
          : `method name ${quoted(name)} may contain only A-Z a-z 0-9 _ . : / (no spaces)`,
      );
    }
    this.methodName = name;
  }

  private parseI4(text: string): number {
    if (!INTEGER_RE.test(text)) this.fail(`<i4> must be a decimal integer without spaces, not ${quoted(text)}`);
    const n = Number(text);
    if (n < I4_MIN || n > I4_MAX) this.fail(`<i4> value ${quoted(text)} is outside the signed 32-bit range`);
    // `| 0` turns "-0" into 0 so that the tree holds one representation per value.
    return n | 0;
  }

  private parseI8(text: string): bigint {
    if (!INTEGER_RE.test(text)) this.fail(`<i8> must be a decimal integer without spaces, not ${quoted(text)}`);
    // Bound the digits before BigInt() so that a megabyte of digits costs nothing.
    let start = text.charCodeAt(0) === 0x2b || text.charCodeAt(0) === 0x2d ? 1 : 0;
    while (start < text.length - 1 && text.charCodeAt(start) === 0x30) start++;
    const n = text.length - start <= 19 ? BigInt(text) : null;
    if (n === null || n < I8_MIN || n > I8_MAX) {
      this.fail(`<i8> value ${quoted(text)} is outside the signed 64-bit range`);
    }
    return n;
  }

  private parseBase64(text: string): Buffer {
    const s = BASE64_SPACE_RE.test(text) ? text.replace(BASE64_SPACES_RE, '') : text;
    const setAside = this.setAside?.values.get(s);
    if (setAside !== undefined) {
      this.consumed++;
      const decoded = decodeSetAside(this.body, setAside.start, setAside.end);
      if (typeof decoded === 'string') this.fail(`<base64> ${decoded}`);
      if (this.maxStringBytes !== Number.POSITIVE_INFINITY) this.checkSize(decoded.length, 'a <base64> value');
      return decoded;
    }
    // Buffer.from(…, 'base64') skips junk silently, as does xmlrpc-c (base64.c:298); only
    // canonical text has exactly one reading, so anything else is refused.
    if (BASE64_BAD_CHAR_RE.test(s)) this.fail('<base64> contains characters outside A-Z a-z 0-9 + / =');
    if (s.length % 4 !== 0) this.fail('<base64> length is not a multiple of 4 (missing padding?)');
    const firstPad = s.indexOf('=');
    if (firstPad !== -1) {
      const pads = s.length - firstPad;
      if (pads > 2 || (pads === 2 && s.charCodeAt(s.length - 1) !== 0x3d)) {
        this.fail('<base64> has "=" padding in the wrong place');
      }
      // Non-zero bits under the padding would decode the same as zero bits: a second spelling.
      const last = base64Digit(s.charCodeAt(firstPad - 1));
      if ((pads === 2 && (last & 0x0f) !== 0) || (pads === 1 && (last & 0x03) !== 0)) {
        this.fail('<base64> is not canonical (non-zero bits before the padding)');
      }
    }
    const bytes = Buffer.from(s, 'base64');
    if (this.maxStringBytes !== Number.POSITIVE_INFINITY) this.checkSize(bytes.length, 'a <base64> value');
    return bytes;
  }
}


/** saxes prefixes "line:column: "; restate it in the same form as our own messages. */
function saxesMessage(message: string): string {
  const m = /^(\d+):(\d+): ([^]*)$/.exec(message);
  if (m === null) return message;
  return `${(m[3] as string).replace(/\.$/, '')} (line ${m[1]}, column ${m[2]})`;
}

/**
 * Reads an XML-RPC <methodCall> the way rtorrent's xmlrpc-c would, or throws:
 * MalformedCallError for anything malformed or ambiguous, UnsupportedCallError for well-formed
 * values of a type rtorrent does not take as a parameter.
 */
export function parseMethodCall(body: Buffer, limits?: ParseLimits): MethodCall {
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
    throw new MalformedCallError('the request starts with a byte order mark; send UTF-8 without one');
  }
  // Node would replace invalid sequences with U+FFFD while expat refuses them: a differential.
  if (!isUtf8(body)) throw new MalformedCallError('the request body is not valid UTF-8');
  const setAside = setAsideLargeBase64(body);
  if (setAside !== undefined) {
    const reader = new CallReader(body, limits, setAside);
    try {
      const call = reader.read();
      // A stand-in left unread stood in a comment or CDATA, where its text belongs to the reading.
      if (reader.consumed === setAside.values.size) return call;
    } catch (error) {
      // The ordinary reading names the problem, and where it is.
      if (!(error instanceof GatewayError)) throw error;
    }
  }
  return new CallReader(body, limits).read();
}
