/**
 * A deliberately small SCGI client for tests and harness code. It is independent of the
 * gateway's own upstream client so the two can be checked against each other.
 */
import { connect, type Socket } from 'node:net';
import { SaxesParser } from 'saxes';

export type ScgiTarget = { path: string } | { host: string; port: number };

export interface ScgiOptions {
  /** Whole-request deadline (connect → close). rtorrent 0.9.8 has no timeouts of its own. */
  timeoutMs?: number;
  /** Extra header pairs, sent after CONTENT_LENGTH, SCGI and CONTENT_TYPE. */
  extraHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Overrides CONTENT_TYPE; `null` leaves the pair out. */
  contentType?: string | null;
}

export interface ScgiResponse {
  /** Everything read until the server closed, head included. */
  raw: Buffer;
  status: number;
  /** Names lower-cased; a repeated name keeps the last value. */
  headers: Record<string, string>;
  body: Buffer;
}

export type ScgiErrorCode = 'TIMEOUT' | 'EMPTY_RESPONSE' | 'NO_HEAD';

/** A response that never became a CGI reply. `raw` holds whatever did arrive. */
export class ScgiError extends Error {
  constructor(
    message: string,
    readonly code: ScgiErrorCode,
    readonly raw: Buffer,
  ) {
    super(message);
    this.name = 'ScgiError';
  }
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Netstring header block + body, lengths in bytes (never string lengths). */
export function encodeScgiRequest(body: Buffer | string, opts: ScgiOptions = {}): Buffer {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const pairs: Array<readonly [string, string]> = [
    ['CONTENT_LENGTH', String(bodyBytes.length)],
    ['SCGI', '1'],
  ];
  const contentType = opts.contentType === undefined ? 'text/xml' : opts.contentType;
  if (contentType !== null) pairs.push(['CONTENT_TYPE', contentType]);
  pairs.push(...(opts.extraHeaders ?? []));
  const block = Buffer.from(pairs.map(([k, v]) => `${k}\0${v}\0`).join(''), 'utf8');
  return Buffer.concat([Buffer.from(`${block.length}:`, 'ascii'), block, Buffer.from(','), bodyBytes]);
}

/** Splits a CGI-style reply the way nginx does: `Status:` first three digits, else 200. */
export function parseScgiResponse(raw: Buffer): ScgiResponse {
  if (raw.length === 0) throw new ScgiError('upstream closed without sending anything', 'EMPTY_RESPONSE', raw);
  const end = raw.indexOf(HEAD_END);
  if (end < 0) throw new ScgiError('upstream reply has no header terminator', 'NO_HEAD', raw);
  const headers: Record<string, string> = {};
  for (const line of raw.toString('latin1', 0, end).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const statusDigits = /^(\d{3})/.exec(headers.status ?? '');
  return {
    raw,
    status: statusDigits?.[1] !== undefined ? Number(statusDigits[1]) : 200,
    headers,
    body: raw.subarray(end + HEAD_END.length),
  };
}

export function scgiRequest(target: ScgiTarget, body: Buffer | string, opts: ScgiOptions = {}): Promise<ScgiResponse> {
  const request = encodeScgiRequest(body, opts);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket: Socket = 'path' in target ? connect({ path: target.path }) : connect({ host: target.host, port: target.port });
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) {
        reject(err);
        return;
      }
      try {
        resolve(parseScgiResponse(Buffer.concat(chunks)));
      } catch (parseErr) {
        reject(parseErr as Error);
      }
    };
    const timer = setTimeout(() => {
      finish(new ScgiError(`SCGI request timed out after ${timeoutMs} ms`, 'TIMEOUT', Buffer.concat(chunks)));
    }, timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after a complete reply still counts as a reply; a reset before any byte does not.
    socket.on('error', (err) => finish(chunks.length > 0 ? undefined : err));
    socket.on('close', () => finish(undefined));
  });
}

// ---------------------------------------------------------------------------------------------
// XML-RPC, just enough for harness code. Not the gateway's encoder/decoder.

export type XmlParam = string | number | bigint | Buffer | readonly XmlParam[];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function encodeParam(value: XmlParam): string {
  if (typeof value === 'string') return `<value><string>${escapeXml(value)}</string></value>`;
  if (typeof value === 'bigint') return `<value><i8>${value}</i8></value>`;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`xmlCall: ${value} is not a safe integer`);
    return `<value><i8>${value}</i8></value>`;
  }
  if (Buffer.isBuffer(value)) return `<value><base64>${value.toString('base64')}</base64></value>`;
  return `<value><array><data>${value.map(encodeParam).join('')}</data></array></value>`;
}

/** A `<methodCall>`; strings escaped, numbers as <i8> (rtorrent's integers are 64-bit). */
export function xmlCall(method: string, params: readonly XmlParam[] = []): string {
  const encoded = params.map((p) => `<param>${encodeParam(p)}</param>`).join('');
  return `<?xml version="1.0"?><methodCall><methodName>${escapeXml(method)}</methodName><params>${encoded}</params></methodCall>`;
}

/** A system.multicall of [method, params] pairs, each member a struct as clients write it. */
export function xmlMulticall(...calls: ReadonlyArray<readonly [string, readonly XmlParam[]]>): string {
  const members = calls.map(
    ([method, params]) =>
      `<value><struct><member><name>methodName</name>${encodeParam(method)}</member><member><name>params</name>${encodeParam(params)}</member></struct></value>`,
  );
  return `<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>${members.join('')}</data></array></value></param></params></methodCall>`;
}

export type XmlRpcDecoded =
  | string
  | number
  | bigint
  | boolean
  | Buffer
  | null
  | XmlRpcDecoded[]
  | { [member: string]: XmlRpcDecoded };

export class XmlRpcFault extends Error {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(`XML-RPC fault ${faultCode}: ${faultString}`);
    this.name = 'XmlRpcFault';
  }
}

interface Element {
  name: string;
  children: Element[];
  text: string;
}

function parseTree(xml: string): Element {
  const parser = new SaxesParser();
  const root: Element = { name: '#document', children: [], text: '' };
  const stack: Element[] = [root];
  const top = (): Element => stack[stack.length - 1] ?? root;
  parser.on('opentag', (tag) => {
    const el: Element = { name: tag.name, children: [], text: '' };
    top().children.push(el);
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', (text) => {
    top().text += text;
  });
  parser.on('cdata', (text) => {
    top().text += text;
  });
  parser.write(xml).close();
  return root;
}

function child(el: Element | undefined, name: string): Element | undefined {
  return el?.children.find((c) => c.name === name);
}

function decodeValue(value: Element): XmlRpcDecoded {
  const typed = value.children[0];
  if (typed === undefined) return value.text;
  const text = typed.text;
  switch (typed.name) {
    case 'string':
    case 'dateTime.iso8601':
      return text;
    case 'i4':
    case 'int':
    case 'i8':
    case 'ex:i8': {
      const n = BigInt(text.trim());
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'boolean':
      return text.trim() === '1';
    case 'double':
      return Number(text.trim());
    case 'base64':
      return Buffer.from(text, 'base64');
    case 'nil':
    case 'ex:nil':
      return null;
    case 'array':
      return (child(typed, 'data')?.children ?? []).filter((c) => c.name === 'value').map(decodeValue);
    case 'struct': {
      const out: { [member: string]: XmlRpcDecoded } = {};
      for (const member of typed.children) {
        const name = child(member, 'name');
        const v = child(member, 'value');
        if (name && v) out[name.text] = decodeValue(v);
      }
      return out;
    }
    default:
      throw new Error(`unknown XML-RPC type <${typed.name}>`);
  }
}

/** The single return value of a `<methodResponse>`; a `<fault>` is thrown as XmlRpcFault. */
export function decodeXmlRpcResponse(body: Buffer | string): XmlRpcDecoded {
  const doc = parseTree(typeof body === 'string' ? body : body.toString('utf8'));
  const response = child(doc, 'methodResponse');
  if (!response) throw new Error('not an XML-RPC methodResponse');
  const faultValue = child(child(response, 'fault'), 'value');
  if (faultValue) {
    const fault = decodeValue(faultValue) as { faultCode?: unknown; faultString?: unknown };
    throw new XmlRpcFault(Number(fault.faultCode), String(fault.faultString));
  }
  const value = child(child(child(response, 'params'), 'param'), 'value');
  if (!value) throw new Error('methodResponse has no params/param/value');
  return decodeValue(value);
}

/** The fault a `<methodResponse>` carries; anything else fails the test. */
export function faultOf(body: Buffer): XmlRpcFault {
  try {
    decodeXmlRpcResponse(body);
  } catch (err) {
    if (err instanceof XmlRpcFault) return err;
    throw err;
  }
  throw new Error(`expected a fault, got ${body.toString('utf8').slice(0, 300)}`);
}
