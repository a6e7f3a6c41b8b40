import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeFaultResponse, encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { parseMethodCall } from '../../src/xmlrpc/parse.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const i4 = (value: number): XmlRpcValue => ({ kind: 'i4', value });
const i8 = (value: bigint): XmlRpcValue => ({ kind: 'i8', value });

const HEAD = '<?xml version="1.0"?><methodCall><methodName>';
const encode = (call: MethodCall): string => encodeMethodCall(call).toString('utf8');
const encodeOne = (value: XmlRpcValue): string => encode({ methodName: 'x', params: [value] });
const wrapOne = (inner: string): string =>
  `${HEAD}x</methodName><params><param><value>${inner}</value></param></params></methodCall>`;

describe('encodeMethodCall writes canonical XML-RPC', () => {
  it('a call without params still has an empty <params>', () => {
    assert.equal(encode({ methodName: 'system.client_version', params: [] }), `${HEAD}system.client_version</methodName><params></params></methodCall>`);
  });

  it('every value carries an explicit type', () => {
    const parsed = parseMethodCall(Buffer.from('<methodCall><methodName>x</methodName><params><param><value>untyped</value></param></params></methodCall>'));
    assert.equal(encode(parsed), wrapOne('<string>untyped</string>'));
  });

  const cases: Array<[string, XmlRpcValue, string]> = [
    ['&, < and > are escaped', str('a&b<c>d'), '<string>a&amp;b&lt;c&gt;d</string>'],
    ['"]]>" cannot survive as text and is escaped', str(']]>'), '<string>]]&gt;</string>'],
    ['CR is written as &#13; so that line-end normalisation cannot turn it into LF', str('a\r\nb\r'), '<string>a&#13;\nb&#13;</string>'],
    ['tab and LF are written as they are', str('a\tb\nc'), '<string>a\tb\nc</string>'],
    ['quotes need no escaping in element content', str(`"'`), `<string>"'</string>`],
    ['non-BMP characters are written as UTF-8', str('𝄞'), '<string>𝄞</string>'],
    ['the empty string is an empty <string>', str(''), '<string></string>'],
    ['i4 is written in decimal', i4(-2147483648), '<i4>-2147483648</i4>'],
    ['-0 is written as 0', i4(-0), '<i4>0</i4>'],
    ['i8 is written in decimal', i8(-(2n ** 63n)), '<i8>-9223372036854775808</i8>'],
    ['base64 is standard and padded', { kind: 'base64', value: Buffer.from([0xfb, 0xff]) }, '<base64>+/8=</base64>'],
    ['an empty array has an empty <data>', { kind: 'array', items: [] }, '<array><data></data></array>'],
    [
      'struct members keep their order and their names are escaped',
      { kind: 'struct', members: new Map<string, XmlRpcValue>([['b&', i4(1)], ['a', str('x')]]) },
      '<struct><member><name>b&amp;</name><value><i4>1</i4></value></member><member><name>a</name><value><string>x</string></value></member></struct>',
    ],
  ];
  for (const [behaviour, value, inner] of cases) {
    it(behaviour, () => {
      assert.equal(encodeOne(value), wrapOne(inner));
    });
  }

  it('long base64 has no line breaks', () => {
    const out = encodeOne({ kind: 'base64', value: Buffer.alloc(3000, 0xab) });
    assert.ok(!/[\r\n]/.test(out));
  });

  const refused: Array<[string, MethodCall]> = [
    ['a method name outside the XML-RPC alphabet', { methodName: ' d.name', params: [] }],
    ['an empty method name', { methodName: '', params: [] }],
    ['a lone surrogate', { methodName: 'x', params: [str('\ud800')] }],
    ['a reversed surrogate pair', { methodName: 'x', params: [str('\udc00\ud800')] }],
    ['a control character', { methodName: 'x', params: [str('\u0000')] }],
    ['U+FFFE', { methodName: 'x', params: [str('\ufffe')] }],
    ['a control character in a member name', { methodName: 'x', params: [{ kind: 'struct', members: new Map([['\u0001', str('')]]) }] }],
    ['an i4 that is not an integer', { methodName: 'x', params: [i4(1.5)] }],
    ['an i4 out of range', { methodName: 'x', params: [i4(2 ** 31)] }],
    ['an i8 out of range', { methodName: 'x', params: [i8(2n ** 63n)] }],
  ];
  for (const [what, call] of refused) {
    it(`refuses ${what} rather than send something else`, () => {
      assert.throws(() => encodeMethodCall(call), RangeError);
    });
  }
});

// The xmlrpc package stands in for a client that reads our fault responses.
interface XmlRpcDeserializer {
  deserializeMethodResponse(stream: Readable, cb: (err: (Error & { faultCode?: number; faultString?: string }) | null) => void): void;
}
const require = createRequire(import.meta.url);
const Deserializer = require('xmlrpc/lib/deserializer.js') as new () => XmlRpcDeserializer;

function readFault(body: Buffer): Promise<{ faultCode?: number; faultString?: string }> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from([body]), (err) => {
      if (err === null) reject(new Error('expected a fault'));
      else resolve({ faultCode: err.faultCode, faultString: err.faultString });
    });
  });
}

describe('encodeFaultResponse', () => {
  it('has the shape rtorrent sends: faultCode as <i4>, faultString as <string>', () => {
    assert.equal(
      encodeFaultResponse(-506, "Method 'x' not defined").toString('utf8'),
      '<?xml version="1.0" encoding="UTF-8"?><methodResponse><fault><value><struct>' +
        '<member><name>faultCode</name><value><i4>-506</i4></value></member>' +
        "<member><name>faultString</name><value><string>Method 'x' not defined</string></value></member>" +
        '</struct></value></fault></methodResponse>',
    );
  });

  it('a stock XML-RPC client reads code and message back, escaping included', async () => {
    const message = 'bad <value> & "stuff"\r\n]]> 𝄞';
    assert.deepStrictEqual(await readFault(encodeFaultResponse(-32700, message)), { faultCode: -32700, faultString: message });
  });

  it('characters XML cannot carry become U+FFFD instead of breaking the response', async () => {
    assert.deepStrictEqual(await readFault(encodeFaultResponse(-1, 'a\u0000b\ud800c')), { faultCode: -1, faultString: 'a\ufffdb\ufffdc' });
  });

  it('a fault code that is not an i4 becomes -32500', () => {
    assert.match(encodeFaultResponse(2 ** 40, 'x').toString('utf8'), /<i4>-32500<\/i4>/);
    assert.match(encodeFaultResponse(Number.NaN, 'x').toString('utf8'), /<i4>-32500<\/i4>/);
  });
});

// Characters XML 1.0 can carry, weighted towards the ones that need care.
const xmlChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('\r', '\n', '\t', '\r\n', ' ', '&', '<', '>', ']]>', ']]', '"', "'", '&amp;', '&#13;', '<![CDATA[') },
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xd7ff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCodePoint(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const xmlString = fc.array(xmlChar, { maxLength: 12 }).map((parts) => parts.join(''));
const methodName = fc.stringMatching(/^[A-Za-z0-9_.:/]{1,24}$/);
const I8_MIN = -(2n ** 63n);
const I8_MAX = 2n ** 63n - 1n;

const { value: xmlRpcValue } = fc.letrec<{ value: XmlRpcValue; array: XmlRpcValue; struct: XmlRpcValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    xmlString.map((value): XmlRpcValue => ({ kind: 'string', value })),
    fc
      .oneof(fc.constantFrom(-2147483648, 2147483647, 0, -1, 1), fc.integer())
      .map((value): XmlRpcValue => ({ kind: 'i4', value })),
    fc
      .oneof(fc.constantFrom(I8_MIN, I8_MAX, 0n, -1n), fc.bigInt({ min: I8_MIN, max: I8_MAX }))
      .map((value): XmlRpcValue => ({ kind: 'i8', value })),
    fc.uint8Array({ maxLength: 24 }).map((bytes): XmlRpcValue => ({ kind: 'base64', value: Buffer.from(bytes) })),
    tie('array'),
    tie('struct'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items): XmlRpcValue => ({ kind: 'array', items })),
  struct: fc
    .uniqueArray(fc.tuple(xmlString, tie('value')), { selector: ([name]) => name, maxLength: 4 })
    .map((members): XmlRpcValue => ({ kind: 'struct', members: new Map(members) })),
}));
// A tuple rather than fc.record: records come with a null prototype, which deepStrictEqual sees.
const methodCall = fc
  .tuple(methodName, fc.array(xmlRpcValue, { maxLength: 5 }))
  .map(([name, params]): MethodCall => ({ methodName: name, params }));

describe('round trip', () => {
  it('parseMethodCall(encodeMethodCall(t)) deep-equals t for any tree', () => {
    fc.assert(
      fc.property(methodCall, (call) => {
        assert.deepStrictEqual(parseMethodCall(encodeMethodCall(call)), call);
      }),
      { numRuns: 400 },
    );
  });

  it('encoding is canonical: re-encoding what was parsed gives the same bytes', () => {
    fc.assert(
      fc.property(methodCall, (call) => {
        const once = encodeMethodCall(call);
        assert.deepStrictEqual(encodeMethodCall(parseMethodCall(once)), once);
      }),
      { numRuns: 200 },
    );
  });
});
