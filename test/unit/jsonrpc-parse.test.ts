/**
 * The JSON-RPC reader: what rtorrent ≥ 0.15.2 would run (src/rpc/jsonrpc.cc), as the same tree the
 * XML-RPC side produces, and a refusal naming the problem for anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GatewayError, MalformedCallError, UnsupportedCallError } from '../../src/errors.js';
import { encodeJsonRpcRequest } from '../../src/jsonrpc/encode.js';
import { parseJsonRpcRequest, refusedCharacter } from '../../src/jsonrpc/parse.js';
import type { JsonRpcRequest } from '../../src/jsonrpc/types.js';
import type { XmlRpcValue } from '../../src/xmlrpc/types.js';
import { fuzzParameters } from '../fuzz/fuzz-runs.js';

const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const i8 = (value: bigint): XmlRpcValue => ({ kind: 'i8', value });
const arr = (...items: XmlRpcValue[]): XmlRpcValue => ({ kind: 'array', items });

const parse = (text: string): JsonRpcRequest => parseJsonRpcRequest(Buffer.from(text, 'utf8'));
/** One call with the given params text, e.g. `[1, "a"]`. */
const withParams = (params: string): string => `{"jsonrpc":"2.0","id":1,"method":"x","params":${params}}`;
const paramsOf = (params: string): readonly XmlRpcValue[] => {
  const request = parse(withParams(params));
  return (request.calls[0] as JsonRpcRequest['calls'][number]).call.params;
};

function refuses(text: string | Buffer, kind: typeof MalformedCallError | typeof UnsupportedCallError, message: RegExp, limits?: Parameters<typeof parseJsonRpcRequest>[1]): void {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  assert.throws(
    () => parseJsonRpcRequest(body, limits),
    (error: unknown) => {
      assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
      assert.match((error as Error).message, message);
      return true;
    },
  );
}

describe('parseJsonRpcRequest reads single calls', () => {
  it('a call with an id and params', () => {
    assert.deepEqual(parse('{"jsonrpc":"2.0","id":7,"method":"d.multicall2","params":["","main","d.name="]}'), {
      batch: false,
      calls: [{ id: 7, call: { methodName: 'd.multicall2', params: [str(''), str('main'), str('d.name=')] } }],
    });
  });

  it('members may come in any order, with JSON whitespace around them', () => {
    const request = parse(' \t\r\n{ "params" : [ "" ] ,\n"method":"d.name", "id":"a" , "jsonrpc":"2.0" }\n');
    assert.deepEqual(request.calls, [{ id: 'a', call: { methodName: 'd.name', params: [str('')] } }]);
  });

  const ids: Array<[string, string, unknown]> = [
    ['a string id is kept exactly', '"x-1 ü"', 'x-1 ü'],
    ['an integer id is kept', '-42', -42],
    ['the largest exact integer is kept', '9007199254740991', 9007199254740991],
    ['a null id is a request, not a notification (rtorrent answers it)', 'null', null],
    ['-0 is the id 0', '-0', 0],
  ];
  for (const [behaviour, id, expected] of ids) {
    it(behaviour, () => {
      const call = parse(`{"jsonrpc":"2.0","id":${id},"method":"x","params":[]}`).calls[0];
      assert.ok(call !== undefined);
      assert.ok(Object.is(call.id, expected), `got ${String(call.id)}`);
    });
  }

  it('a call without "id" is a notification', () => {
    const request = parse('{"jsonrpc":"2.0","method":"d.stop","params":["0123456789ABCDEF0123456789ABCDEF01234567"]}');
    assert.equal(request.calls[0]?.id, undefined);
    assert.ok(!('id' in (request.calls[0]?.call ?? {})));
  });

  it('absent params become [""], the generic target rtorrent substitutes (jsonrpc.cc handle_request)', () => {
    assert.deepEqual(parse('{"jsonrpc":"2.0","id":1,"method":"system.client_version"}').calls[0]?.call.params, [str('')]);
  });

  it('empty params stay empty: rtorrent adds the "" target itself, only for commands that take one', () => {
    assert.deepEqual(paramsOf('[]'), []);
  });
});

describe('parseJsonRpcRequest maps values the way rtorrent does', () => {
  const cases: Array<[string, string, XmlRpcValue[]]> = [
    ['strings are strings, escapes decoded', '["a\\"b\\\\c\\/d\\n\\t\\r", "\\u00e9\\ud834\\udd1e", "é𝄞"]', [str('a"b\\c/d\n\t\r'), str('é𝄞'), str('é𝄞')]],
    ['an escaped "$" is still a "$" to the policy', '["\\u0024execute.throw=sh"]', [str('$execute.throw=sh')]],
    ['integers are i8, as rtorrent makes every one int64_t', '[0, -1, 2147483648]', [i8(0n), i8(-1n), i8(2147483648n)]],
    ['-0 is 0', '[-0]', [i8(0n)]],
    ['the signed 64-bit extremes are exact, beyond what JSON.parse keeps', '[9223372036854775807, -9223372036854775808]', [i8(9223372036854775807n), i8(-9223372036854775808n)]],
    ['arrays nest', '[["a", [1]], []]', [arr(str('a'), arr(i8(1n))), arr()]],
  ];
  for (const [behaviour, params, expected] of cases) {
    it(behaviour, () => assert.deepEqual(paramsOf(params), expected));
  }

  it('objects become structs with their key order, for the policy to refuse outside system.multicall', () => {
    const [value] = paramsOf('[{"b":1,"a":"x","__proto__":[]}]');
    assert.ok(value?.kind === 'struct');
    assert.deepEqual([...value.members.keys()], ['b', 'a', '__proto__']);
    assert.deepEqual(value.members.get('__proto__'), arr());
  });
});

describe('parseJsonRpcRequest reads batches', () => {
  it('a batch keeps order, ids and notifications', () => {
    const request = parse(
      '[{"jsonrpc":"2.0","id":1,"method":"d.name","params":["H"]},{"jsonrpc":"2.0","method":"d.stop","params":[""]},{"jsonrpc":"2.0","id":"z","method":"system.pid"}]',
    );
    assert.equal(request.batch, true);
    assert.deepEqual(
      request.calls.map((c) => [c.id, c.call.methodName]),
      [[1, 'd.name'], [undefined, 'd.stop'], ['z', 'system.pid']],
    );
  });

  it('a one-element batch stays a batch (the client expects an array back)', () => {
    assert.equal(parse('[{"jsonrpc":"2.0","id":1,"method":"x"}]').batch, true);
  });

  it('a batch of notifications only is read like any batch', () => {
    const request = parse('[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]');
    assert.deepEqual(request.calls.map((c) => c.id), [undefined, undefined]);
  });

  it('the batch size limit is inclusive', () => {
    const two = '[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]';
    assert.equal(parseJsonRpcRequest(Buffer.from(two), { maxBatchSize: 2 }).calls.length, 2);
    refuses(two, MalformedCallError, /the batch has 2 calls; the gateway takes at most 1/, { maxBatchSize: 1 });
  });
});

describe('parseJsonRpcRequest refuses, naming the problem', () => {
  const P = MalformedCallError;
  const U = UnsupportedCallError;
  const rows: Array<[string, string, typeof P | typeof U, RegExp]> = [
    // Ambiguity
    ['duplicate keys (rtorrent would take the last, a checker the first)', '{"jsonrpc":"2.0","id":1,"method":"d.name","method":"execute.throw"}', P, /two members named "method" \(line 1, column 43\)/],
    ['duplicate keys inside a parameter', withParams('[{"a":1,"a":2}]'), P, /two members named "a"/],
    ['duplicate keys spelled differently', '{"jsonrpc":"2.0","id":1,"method":"a","m\\u0065thod":"b"}', P, /two members named "method"/],
    // JSON syntax
    ['an empty body', '', P, /the text ends where a value was expected/],
    ['trailing text', '{"jsonrpc":"2.0","method":"x"} {}', P, /unexpected text after the JSON value \(line 1, column 32\)/],
    ['a trailing comma', withParams('[1,]'), P, /expected a JSON value/],
    ['single quotes', "{'jsonrpc':'2.0'}", P, /expected a member name in double quotes/],
    ['a leading zero', withParams('[01]'), P, /invalid number/],
    ['a bare minus', withParams('[-]'), P, /invalid number/],
    ['NaN', withParams('[NaN]'), P, /expected a JSON value/],
    ['a raw control character in a string', withParams('["a\tb"]'), P, /U\+0009 must be escaped/],
    ['an unknown escape', withParams('["\\x41"]'), P, /invalid escape/],
    ['a short \\u escape', withParams('["\\u12"]'), P, /four hexadecimal digits/],
    ['a lone high surrogate (rtorrent refuses it too)', withParams('["\\ud834"]'), P, /high surrogate without a low one/],
    ['a lone low surrogate', withParams('["\\udd1e"]'), P, /low surrogate without a high one/],
    ['an unclosed string', '{"jsonrpc":"2.0', P, /a string is not closed/],
    ['an unclosed object', '{"jsonrpc":"2.0"', P, /expected "," or "}"/],
    ['a comment', '{"jsonrpc":"2.0",/*x*/"method":"x"}', P, /expected a member name/],
    // JSON-RPC envelope
    ['a top-level string', '"x"', P, /must be an object, or an array of them \(a batch\), not a string/],
    ['an empty batch', '[]', P, /an empty batch/],
    ['a batch element that is not an object (rtorrent skips it silently)', '[{"jsonrpc":"2.0","method":"x"}, 1]', P, /batch call 2 is an integer, not a request object/],
    ['a nested batch', '[[{"jsonrpc":"2.0","method":"x"}]]', P, /batch call 1 is an array/],
    ['a missing "jsonrpc"', '{"method":"x","id":1}', P, /must have "jsonrpc": "2.0"/],
    ['"jsonrpc" other than "2.0"', '{"jsonrpc":"1.0","method":"x"}', P, /must have "jsonrpc": "2.0"/],
    ['"jsonrpc" as a number', '{"jsonrpc":2.0,"method":"x"}', P, /must have "jsonrpc": "2.0"/],
    ['an unknown member', '{"jsonrpc":"2.0","method":"x","extra":1}', P, /unknown member "extra"/],
    ['a missing method', '{"jsonrpc":"2.0","id":1}', P, /has no "method"/],
    ['a method that is not a string', '{"jsonrpc":"2.0","method":["x"]}', P, /"method" must be a string, not an array/],
    ['an empty method', '{"jsonrpc":"2.0","method":""}', P, /"method" is empty/],
    ['a method with a space (rtorrent would not trim it)', '{"jsonrpc":"2.0","method":"d.name "}', P, /may contain only A-Z a-z 0-9/],
    ['a method with a NUL (rtorrent would cut the name at it)', '{"jsonrpc":"2.0","method":"d.name\\u0000x"}', P, /may contain only/],
    ['a method in a batch names the call', '[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","method":"a b"}]', P, /^batch call 2: method name "a b"/],
    ['a float id', '{"jsonrpc":"2.0","id":1.5,"method":"x"}', P, /the id 1\.5 is not an integer/],
    ['an id beyond 2^53 (it would not come back as sent)', '{"jsonrpc":"2.0","id":9007199254740993,"method":"x"}', P, /too large to pass on exactly; use a string id/],
    ['a boolean id', '{"jsonrpc":"2.0","id":true,"method":"x"}', P, /"id" must be a string, an integer or null, not true/],
    ['an object id', '{"jsonrpc":"2.0","id":{},"method":"x"}', P, /not an object/],
    ['an id with a control character', '{"jsonrpc":"2.0","id":"a\\u0001","method":"x"}', P, /the id contains the control character U\+0001/],
    ['params as a string', '{"jsonrpc":"2.0","method":"x","params":"a"}', P, /^x: "params" must be an array, not a string/],
    ['params as null', '{"jsonrpc":"2.0","method":"x","params":null}', P, /"params" must be an array, not null/],
    ['named params (rtorrent refuses them)', '{"jsonrpc":"2.0","method":"x","params":{"a":1}}', U, /rtorrent does not take named parameters/],
    // Values rtorrent does not take
    ['a float', withParams('["", 1.5]'), U, /^x parameter 2: rtorrent does not accept floating-point numbers \(1\.5\)/],
    ['a whole float (rtorrent reads 1.0 as a float too)', withParams('[1.0]'), U, /floating-point numbers \(1\.0\)/],
    ['an exponent', withParams('[1e3]'), U, /floating-point numbers \(1e3\)/],
    ['a boolean', withParams('[true]'), U, /JSON booleans are not accepted \(true\); send 1 or 0/],
    ['false', withParams('[false]'), U, /\(false\); send 1 or 0/],
    ['null', withParams('[null]'), U, /rtorrent does not accept null parameters; send an empty string instead/],
    ['2^63 (rtorrent would wrap it to a negative number)', withParams('[9223372036854775808]'), U, /9223372036854775808 is outside the signed 64-bit range/],
    ['-2^63-1', withParams('[-9223372036854775809]'), U, /outside the signed 64-bit range/],
    ['a huge integer', withParams(`[${'9'.repeat(5000)}]`), U, /the integer 9{40}…/],
    ['a NUL in a string (a command terminator inside rtorrent)', withParams('["d.name=\\u0000execute.throw=sh"]'), U, /U\+0000 \(NUL\), which rtorrent reads as the end of a command/],
    ['a C0 control character', withParams('["\\u001b"]'), U, /control character U\+001B/],
    ['\\b, which XML-RPC cannot carry', withParams('["\\b"]'), U, /control character U\+0008/],
    ['U+FFFF', withParams('["\\uffff"]'), U, /noncharacter U\+FFFF/],
    ['a refused character in a member name', withParams('[{"a\\u0000":1}]'), U, /a member name contains U\+0000/],
    ['problems deep inside say where', withParams('["", [1, {"k": [null]}]]'), U, /^x parameter 2\[1\]\["k"\]\[0\]: rtorrent does not accept null/],
    ['problems in a batch name the call and method', '[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"d.name","params":[true]}]', U, /^batch call 2 \(d\.name\) parameter 1:/],
  ];
  for (const [behaviour, text, kind, message] of rows) {
    it(behaviour, () => refuses(text, kind, message));
  }

  it('a byte order mark', () => refuses(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]), MalformedCallError, /byte order mark/));
  it('invalid UTF-8', () => refuses(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]), MalformedCallError, /not valid UTF-8/));
  it('UTF-8 encoded surrogates (CESU-8)', () => refuses(Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]), MalformedCallError, /not valid UTF-8/));

  it('a malformed body is reported as malformed even when it also holds an unsupported value', () => {
    refuses(withParams('[true, ]'), MalformedCallError, /expected a JSON value/);
  });

  it('refusals carry the codes the gateway answers with', () => {
    const check = (text: string, code: string, fault: number): void => {
      try {
        parse(text);
        assert.fail('expected a refusal');
      } catch (error) {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.code, code);
        assert.equal(error.faultCode, fault);
      }
    };
    check('{', 'GW_XMLRPC_INVALID', -32700);
    check(withParams('[1.5]'), 'GW_XMLRPC_UNSUPPORTED', -32602);
  });
});

describe('parseJsonRpcRequest limits', () => {
  const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

  it('params may nest maxDepth levels, as on the XML side', () => {
    assert.equal(parseJsonRpcRequest(Buffer.from(withParams(`[${nested(3)}]`)), { maxDepth: 3 }).calls.length, 1);
    refuses(withParams(`[${nested(4)}]`), MalformedCallError, /params may nest 3 levels/, { maxDepth: 3 });
  });

  it('the same depth counts inside a batch', () => {
    const inBatch = (depth: number): string => `[${withParams(`[${nested(depth)}]`)}]`;
    assert.equal(parseJsonRpcRequest(Buffer.from(inBatch(3)), { maxDepth: 3 }).calls.length, 1);
    refuses(inBatch(4), MalformedCallError, /params may nest 3 levels/, { maxDepth: 3 });
  });

  it('objects count as levels like arrays', () => {
    refuses(withParams('[{"a":{"b":{"c":1}}}]'), MalformedCallError, /params may nest 2 levels/, { maxDepth: 2 });
  });

  it('deep nesting is refused without a stack overflow, however deep', () => {
    const depth = 1_000_000;
    refuses(`${'['.repeat(depth)}${']'.repeat(depth)}`, MalformedCallError, /nested too deeply \(params may nest 32 levels\) \(line 1, column 36\)/);
    refuses(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, MalformedCallError, /nested too deeply/);
  });

  it('counts values', () => {
    const params = `[${Array.from({ length: 10 }, () => '1').join(',')}]`;
    // The object, "jsonrpc", id, "method", the params array and its ten elements.
    assert.equal(parseJsonRpcRequest(Buffer.from(withParams(params)), { maxValues: 15 }).calls.length, 1);
    refuses(withParams(params), MalformedCallError, /more than 14 values/, { maxValues: 14 });
  });

  it('bounds string length in bytes, member names and ids included', () => {
    // "jsonrpc", the longest envelope string, is 7 bytes.
    assert.equal(parseJsonRpcRequest(Buffer.from(withParams('["éééé"]')), { maxStringBytes: 8 }).calls.length, 1);
    refuses(withParams('["ééééé"]'), MalformedCallError, /a string is longer than 8 bytes/, { maxStringBytes: 8 });
    refuses(withParams('[{"ééééé":1}]'), MalformedCallError, /longer than 8 bytes/, { maxStringBytes: 8 });
    refuses('{"jsonrpc":"2.0","id":"ééééé","method":"x"}', MalformedCallError, /longer than 8 bytes/, { maxStringBytes: 8 });
  });

  it('a large flat batch parses in reasonable time', () => {
    const call = '{"jsonrpc":"2.0","id":1,"method":"d.name","params":["0123456789ABCDEF0123456789ABCDEF01234567"]}';
    const body = Buffer.from(`[${Array.from({ length: 1000 }, () => call).join(',')}]`);
    const start = process.hrtime.bigint();
    assert.equal(parseJsonRpcRequest(body).calls.length, 1000);
    assert.ok(process.hrtime.bigint() - start < 2_000_000_000n);
  });
});

describe('refusedCharacter', () => {
  it('passes what XML-RPC can carry, tab, LF and CR included', () => {
    assert.equal(refusedCharacter('a\tb\nc\rd é 𝄞 \u007f \ufffd'), null);
  });
  it('names what it cannot', () => {
    assert.match(refusedCharacter('\u0000') ?? '', /NUL/);
    assert.match(refusedCharacter('a\ud800') ?? '', /lone surrogate U\+D800/);
    assert.match(refusedCharacter('\ufffe') ?? '', /noncharacter U\+FFFE/);
  });
});

describe('parseJsonRpcRequest properties', () => {
  const jsonText = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value));

  it('never throws anything but a gateway error, and accepts only what JSON.parse accepts', () => {
    const body = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      jsonText,
      jsonText.map((params) => `{"jsonrpc":"2.0","id":1,"method":"x","params":[${params}]}`),
      fc.tuple(jsonText, fc.string({ unit: 'binary-ascii', maxLength: 3 }), fc.nat()).map(([text, noise, at]) => {
        const i = at % (text.length + 1);
        return `{"jsonrpc":"2.0","method":"x","params":[${text.slice(0, i)}${noise}${text.slice(i)}]}`;
      }),
    );
    fc.assert(
      fc.property(body, (text) => {
        let request: JsonRpcRequest;
        try {
          request = parse(text);
        } catch (error) {
          assert.ok(error instanceof GatewayError, String(error));
          return;
        }
        assert.doesNotThrow(() => JSON.parse(text));
        // What we accepted reads the same to JSON.parse after our re-encoding.
        // JSON.stringify first: -0 and 0 are the same number to rtorrent and to JSON.
        const original = JSON.parse(JSON.stringify(JSON.parse(text))) as unknown;
        const again = JSON.parse(encodeJsonRpcRequest(request).toString('utf8')) as unknown;
        const withTarget = (call: Record<string, unknown>): Record<string, unknown> => ({ params: [''], ...call });
        assert.deepEqual(again, Array.isArray(original) ? original.map(withTarget) : withTarget(original as Record<string, unknown>));
      }),
      fuzzParameters(),
    );
  });

  it('accepts exactly what JSON.parse reads for well-formed JSON without floats, booleans or null', () => {
    const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength }).filter((s) => refusedCharacter(s) === null);
    const scalar = fc.oneof(text(10), fc.maxSafeInteger());
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(text(5), tie('v'), { maxKeys: 3 })),
    })).v;
    fc.assert(
      fc.property(fc.array(value, { maxLength: 5 }), (params) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params }, null, 1);
        const [call] = parse(body).calls;
        assert.deepEqual(JSON.parse(encodeJsonRpcRequest({ batch: false, calls: [call!] }).toString('utf8')), JSON.parse(body));
      }),
      fuzzParameters(),
    );
  });
});
