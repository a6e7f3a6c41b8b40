import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeJsonRpcError, encodeJsonRpcRefusal, encodeJsonRpcRequest } from '../../src/jsonrpc/encode.js';
import { parseJsonRpcRequest, refusedCharacter } from '../../src/jsonrpc/parse.js';
import type { JsonRpcCall, JsonRpcId, JsonRpcRequest } from '../../src/jsonrpc/types.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { fuzzParameters } from '../fuzz/fuzz-runs.js';

const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const i8 = (value: bigint): XmlRpcValue => ({ kind: 'i8', value });
const single = (call: MethodCall, id: JsonRpcId = 1): JsonRpcRequest => ({ batch: false, calls: [{ id, call }] });
const notification = (call: MethodCall): JsonRpcRequest => ({ batch: false, calls: [{ id: undefined, call }] });
const text = (request: JsonRpcRequest): string => encodeJsonRpcRequest(request).toString('utf8');
const one = (value: XmlRpcValue): string => text(single({ methodName: 'x', params: [value] }));
const wrapOne = (inner: string): string => `{"jsonrpc":"2.0","id":1,"method":"x","params":[${inner}]}`;

describe('encodeJsonRpcRequest writes canonical JSON-RPC', () => {
  it('one call: jsonrpc, id, method, params, no whitespace', () => {
    assert.equal(
      text(single({ methodName: 'd.multicall2', params: [str(''), str('main'), str('d.name=')] }, 'a')),
      '{"jsonrpc":"2.0","id":"a","method":"d.multicall2","params":["","main","d.name="]}',
    );
  });

  it('a notification stays a notification (no id member at all)', () => {
    assert.equal(text(notification({ methodName: 'd.stop', params: [str('')] })), '{"jsonrpc":"2.0","method":"d.stop","params":[""]}');
  });

  it('a null id stays null, an integer id stays an integer', () => {
    assert.equal(text(single({ methodName: 'x', params: [] }, null)), '{"jsonrpc":"2.0","id":null,"method":"x","params":[]}');
    assert.equal(text(single({ methodName: 'x', params: [] }, -9007199254740991)), '{"jsonrpc":"2.0","id":-9007199254740991,"method":"x","params":[]}');
  });

  it('a batch stays a batch, a one-element batch included', () => {
    const calls: JsonRpcCall[] = [
      { id: 1, call: { methodName: 'a', params: [] } },
      { id: undefined, call: { methodName: 'b', params: [str('')] } },
    ];
    assert.equal(text({ batch: true, calls }), '[{"jsonrpc":"2.0","id":1,"method":"a","params":[]},{"jsonrpc":"2.0","method":"b","params":[""]}]');
    assert.equal(text({ batch: true, calls: calls.slice(0, 1) }), '[{"jsonrpc":"2.0","id":1,"method":"a","params":[]}]');
  });

  it('absent params were read as [""] and are written that way, which rtorrent runs identically', () => {
    const request = parseJsonRpcRequest(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"system.client_version"}'));
    assert.equal(text(request), '{"jsonrpc":"2.0","id":1,"method":"system.client_version","params":[""]}');
  });

  const cases: Array<[string, XmlRpcValue, string]> = [
    ['quotes, backslashes and controls JSON needs escaped are escaped', str('a"b\\c\n\r\t'), '"a\\"b\\\\c\\n\\r\\t"'],
    ['"/" and "$" are written as they are', str('$d.name=/x'), '"$d.name=/x"'],
    ['non-ASCII is written as UTF-8, not escaped', str('é𝄞\u2028'), '"é𝄞\u2028"'],
    ['i8 keeps all 64 bits', i8(-(2n ** 63n)), '-9223372036854775808'],
    ['i4 is a plain integer, -0 as 0', { kind: 'i4', value: -0 }, '0'],
    ['arrays nest', { kind: 'array', items: [str('a'), { kind: 'array', items: [] }] }, '["a",[]]'],
    [
      'structs keep their member order',
      { kind: 'struct', members: new Map<string, XmlRpcValue>([['methodName', str('d.name')], ['params', { kind: 'array', items: [str('H')] }]]) },
      '{"methodName":"d.name","params":["H"]}',
    ],
  ];
  for (const [behaviour, value, inner] of cases) {
    it(behaviour, () => assert.equal(one(value), wrapOne(inner)));
  }

  const refused: Array<[string, JsonRpcRequest, RegExp]> = [
    ['an empty batch', { batch: true, calls: [] }, /at least one call/],
    ['several calls outside a batch', { batch: false, calls: [{ id: 1, call: { methodName: 'a', params: [] } }, { id: 2, call: { methodName: 'b', params: [] } }] }, /exactly one call/],
    ['a method name with a space', single({ methodName: 'd.name ', params: [] }), /not a valid method name/],
    ['a method name with a quote', single({ methodName: 'a"', params: [] }), /not a valid method name/],
    ['a NUL in a string', single({ methodName: 'x', params: [str('a\0b')] }), /U\+0000/],
    ['a lone surrogate', single({ methodName: 'x', params: [str('\ud800')] }), /lone surrogate/],
    ['a NUL in a member name', single({ methodName: 'x', params: [{ kind: 'struct', members: new Map([['\0', str('')]]) }] }), /U\+0000/],
    ['base64, which JSON-RPC cannot carry', single({ methodName: 'x', params: [{ kind: 'base64', value: Buffer.from('a') }] }), /base64/],
    ['i8 beyond 64 bits', single({ methodName: 'x', params: [i8(2n ** 63n)] }), /signed 64-bit/],
    ['i4 beyond 32 bits', single({ methodName: 'x', params: [{ kind: 'i4', value: 2 ** 31 }] }), /signed 32-bit/],
    ['a fractional id', single({ methodName: 'x', params: [] }, 1.5), /id 1\.5/],
    ['an id beyond 2^53', single({ methodName: 'x', params: [] }, 2 ** 53), /id 9007199254740992/],
    ['an id with a control character', single({ methodName: 'x', params: [] }, '\u0007'), /U\+0007/],
  ];
  for (const [behaviour, request, message] of refused) {
    it(`refuses ${behaviour}`, () => assert.throws(() => encodeJsonRpcRequest(request), (e: unknown) => e instanceof RangeError && message.test(e.message)));
  }
});

describe('encodeJsonRpcError', () => {
  it('writes a JSON-RPC 2.0 error object', () => {
    assert.deepEqual(JSON.parse(encodeJsonRpcError(7, -32403, 'denied by the gateway: execute.throw ...').toString('utf8')), {
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32403, message: 'denied by the gateway: execute.throw ...' },
    });
  });

  it('uses id null for requests that could not be read', () => {
    assert.equal(
      encodeJsonRpcError(null, -32700, 'the request is not valid JSON').toString('utf8'),
      '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"the request is not valid JSON"}}',
    );
  });

  it('is always sendable: lone surrogates become U+FFFD, a bad code becomes -32603', () => {
    const body = JSON.parse(encodeJsonRpcError('\ud800', Number.NaN, 'a\udc00b').toString('utf8')) as { id: string; error: { code: number; message: string } };
    assert.deepEqual(body, { jsonrpc: '2.0', id: '\ufffd', error: { code: -32603, message: 'a\ufffdb' } });
  });
});

describe('encodeJsonRpcRefusal refuses a batch as a whole', () => {
  const call = (methodName: string): MethodCall => ({ methodName, params: [str('')] });
  const batch: JsonRpcRequest = {
    batch: true,
    calls: [
      { id: 1, call: call('d.multicall2') },
      { id: undefined, call: call('d.stop') },
      { id: 'b', call: call('execute.throw') },
      { id: null, call: call('system.client_version') },
    ],
  };
  const parsed = (body: Buffer | null): unknown => (body === null ? null : JSON.parse(body.toString('utf8')));

  it('every call with an id gets an error: refused ones their own, others one naming the refused call', () => {
    const body = encodeJsonRpcRefusal(batch, [{ index: 2, code: -32403, message: 'denied by the gateway: execute.throw is not allowed' }]);
    const because = 'not run: the gateway refuses a batch as a whole, and batch call 3 (execute.throw) was refused: denied by the gateway: execute.throw is not allowed';
    assert.deepEqual(parsed(body), [
      { jsonrpc: '2.0', id: 1, error: { code: -32403, message: because } },
      { jsonrpc: '2.0', id: 'b', error: { code: -32403, message: 'denied by the gateway: execute.throw is not allowed' } },
      { jsonrpc: '2.0', id: null, error: { code: -32403, message: because } },
    ]);
  });

  it('several refusals each keep their own message; the first names the reason for the rest', () => {
    const body = parsed(
      encodeJsonRpcRefusal(batch, [
        { index: 0, code: -32403, message: 'first' },
        { index: 2, code: -32602, message: 'second' },
      ]),
    ) as Array<{ id: JsonRpcId; error: { code: number; message: string } }>;
    assert.deepEqual(body.map((e) => [e.id, e.error.code, e.error.message]), [
      [1, -32403, 'first'],
      ['b', -32602, 'second'],
      [null, -32403, 'not run: the gateway refuses a batch as a whole, and batch call 1 (d.multicall2) was refused: first'],
    ]);
  });

  it('a single call gets a single error object', () => {
    assert.deepEqual(parsed(encodeJsonRpcRefusal(single(call('execute.throw'), 'x'), [{ index: 0, code: -32403, message: 'no' }])), {
      jsonrpc: '2.0',
      id: 'x',
      error: { code: -32403, message: 'no' },
    });
  });

  it('notifications get no answer (JSON-RPC 2.0 §4.1; rtorrent sends an empty body)', () => {
    assert.equal(encodeJsonRpcRefusal(notification(call('execute.throw')), [{ index: 0, code: -32403, message: 'no' }]), null);
    const notifications: JsonRpcRequest = { batch: true, calls: [{ id: undefined, call: call('a') }, { id: undefined, call: call('b') }] };
    assert.equal(encodeJsonRpcRefusal(notifications, [{ index: 1, code: -32403, message: 'no' }]), null);
  });

  it('a batch whose only id-bearing call was allowed still gets its array', () => {
    const request: JsonRpcRequest = { batch: true, calls: [{ id: undefined, call: call('execute.throw') }, { id: 5, call: call('d.name') }] };
    assert.deepEqual(parsed(encodeJsonRpcRefusal(request, [{ index: 0, code: -32403, message: 'no' }])), [
      { jsonrpc: '2.0', id: 5, error: { code: -32403, message: 'not run: the gateway refuses a batch as a whole, and batch call 1 (execute.throw) was refused: no' } },
    ]);
  });

  it('needs at least one refusal, at a real index', () => {
    assert.throws(() => encodeJsonRpcRefusal(batch, []), RangeError);
    assert.throws(() => encodeJsonRpcRefusal(batch, [{ index: 4, code: 1, message: '' }]), RangeError);
  });
});

describe('encode(parse(x)) round trip', () => {
  const goodString = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => refusedCharacter(s) === null);
  const value: fc.Arbitrary<XmlRpcValue> = fc.letrec<{ v: XmlRpcValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      goodString.map(str),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(i8),
      fc.array(tie('v'), { maxLength: 4 }).map((items): XmlRpcValue => ({ kind: 'array', items })),
      fc
        .uniqueArray(fc.tuple(goodString, tie('v')), { maxLength: 3, selector: ([key]) => key })
        .map((members): XmlRpcValue => ({ kind: 'struct', members: new Map(members) })),
    ),
  })).v;
  const id: fc.Arbitrary<JsonRpcId | undefined> = fc.oneof(fc.constant(undefined), fc.constant(null), goodString, fc.maxSafeInteger().map((n) => (n === 0 ? 0 : n)));
  const methodName = fc.stringMatching(/^[A-Za-z0-9_.:/]{1,12}$/);
  const jsonCall: fc.Arbitrary<JsonRpcCall> = fc.record(
    { id, call: fc.record({ methodName, params: fc.array(value, { maxLength: 5 }) }, { noNullPrototype: true }) },
    { noNullPrototype: true },
  );
  const request: fc.Arbitrary<JsonRpcRequest> = fc.oneof(
    jsonCall.map((c): JsonRpcRequest => ({ batch: false, calls: [c] })),
    fc.array(jsonCall, { minLength: 1, maxLength: 4 }).map((calls): JsonRpcRequest => ({ batch: true, calls })),
  );

  it('parse(encode(tree)) is the tree, and encoding again gives the same bytes', () => {
    fc.assert(
      fc.property(request, (tree) => {
        const bytes = encodeJsonRpcRequest(tree);
        const back = parseJsonRpcRequest(bytes);
        assert.deepEqual(back, tree);
        assert.deepEqual(encodeJsonRpcRequest(back), bytes);
      }),
      fuzzParameters(),
    );
  });

  it('whitespace and member order in the client bytes do not reach rtorrent', () => {
    fc.assert(
      fc.property(jsonCall, fc.array(fc.constantFrom(' ', '\n', '\t', '\r'), { maxLength: 3 }), fc.boolean(), (c, space, reorder) => {
        const canonical = encodeJsonRpcRequest({ batch: false, calls: [c] });
        const canonicalText = canonical.toString('utf8');
        const gap = space.join('');
        // The same call by hand, with other spacing and member order. The first "params": is the
        // envelope's: a quote inside the id string would be escaped, and params come last.
        const paramsText = canonicalText.slice(canonicalText.indexOf('"params":') + 9, -1);
        const parts = [
          `${gap}"jsonrpc"${gap}:${gap}"2.0"`,
          `"method":${gap}${JSON.stringify(c.call.methodName)}`,
          `"params":${gap}${paramsText}`,
          ...(c.id === undefined ? [] : [`"id"${gap}:${JSON.stringify(c.id)}`]),
        ];
        if (reorder) parts.reverse();
        const body = Buffer.from(`${gap}{${parts.join(`,${gap}`)}}${gap}`, 'utf8');
        assert.deepEqual(encodeJsonRpcRequest(parseJsonRpcRequest(body)), canonical);
      }),
      fuzzParameters(),
    );
  });
});
