import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../../src/errors.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { parseMethodCall } from '../../src/xmlrpc/parse.js';
import { assertBoundedTime, fuzzParameters } from './fuzz-runs.js';

/** What a hostile body may do to the parser: fail with one of ours, quickly. Never crash, never hang. */
function parseOrRefuse(body: Buffer): void {
  assertBoundedTime(
    () => {
      try {
        const call = parseMethodCall(body);
        // Whatever parses is re-encoded for rtorrent; that encoding must read back as the same call.
        assert.deepEqual(parseMethodCall(encodeMethodCall(call)), call);
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
      }
    },
    (elapsed) => `took ${elapsed.toFixed(1)} ms on ${body.length} bytes`,
  );
}

const SEED_DOCUMENTS = [
  '<?xml version="1.0"?><methodCall><methodName>d.multicall2</methodName><params><param><value><string></string></value></param><param><value><string>main</string></value></param><param><value><string>d.name=</string></value></param></params></methodCall>',
  '<methodCall><methodName>system.multicall</methodName><params><param><value><array><data><value><struct><member><name>methodName</name><value><string>d.name</string></value></member><member><name>params</name><value><array><data><value>ABC</value></data></array></value></member></struct></value></data></array></value></param></params></methodCall>',
  '<methodCall><methodName>load.raw_start</methodName><params><param><value><i8>9223372036854775807</i8></value></param><param><value><base64>AAEC\nAwQF</base64></value></param><param><value><i4>-2147483648</i4></value></param></params></methodCall>',
];

/** Pieces of XML and XML-RPC that make mutations reach deep into the grammar. */
const TOKENS = [
  '<', '>', '</', '/>', '&', ';', '&amp;', '&#46;', '&#x2e;', '&#0;', '&lt;', '<![CDATA[', ']]>', '<!--', '-->', '<?xml version="1.0"?>',
  '<!DOCTYPE x [<!ENTITY a "b">]>', '&a;', '<?pi x?>', '<value>', '</value>', '<array><data>', '</data></array>', '<struct>', '<member>',
  '<name>', '</name>', '<string>', '<i4>', '<i8>', '<int>', '<boolean>', '<double>', '<nil/>', '<base64>', 'methodName', '<params>', '<param>',
  'd.name', 'execute.throw', '\u0000', '\uFFFE', '\uD800', '\u00e9', '\r\n', '\t', ' ', '"', "'", '=', 'x:',
];

const mutated = fc
  .tuple(
    fc.constantFrom(...SEED_DOCUMENTS),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 12 }), fc.constantFrom(...TOKENS)), { minLength: 1, maxLength: 6 }),
  )
  .map(([document, edits]) => {
    let text = document;
    for (const [at, remove, insert] of edits) {
      const position = at % (text.length + 1);
      text = text.slice(0, position) + insert + text.slice(position + remove);
    }
    return Buffer.from(text, 'utf8');
  });

describe('fuzzing the XML-RPC request parser', () => {
  it('survives arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => parseOrRefuse(Buffer.from(bytes))), fuzzParameters(0.3));
  });

  it('survives arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 2048 }), (text) => parseOrRefuse(Buffer.from(text, 'utf8'))), fuzzParameters(0.2));
  });

  it('survives valid requests with random XML and XML-RPC fragments spliced in', () => {
    fc.assert(fc.property(mutated, parseOrRefuse), fuzzParameters(0.5));
  });

  it('refuses deep nesting and huge counts quickly, without overflowing the stack', () => {
    const deep = Buffer.from(`<methodCall><methodName>x</methodName><params><param><value>${'<array><data><value>'.repeat(200_000)}`);
    const started = performance.now();
    assert.throws(() => parseMethodCall(deep), GatewayError);
    assert.ok(performance.now() - started < 2000);
  });
});
