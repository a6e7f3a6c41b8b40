/**
 * A tenant's download_list and view.size come back from rtorrent as rows of d.hash= and are turned
 * back into hashes or a count, wherever the call stood; every other answer in the same body is
 * passed on byte for byte (test/integration/tenants.test.ts shows it against real rtorrents).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reshapedAnswer, type AnswerReshape } from '../../src/answer-reshape.js';
import { UpstreamError } from '../../src/errors.js';

const A = '0123456789ABCDEF0123456789ABCDEF01234567';
const B = 'FEDCBA9876543210FEDCBA9876543210FEDCBA98';

async function reshaped(body: string, plan: AnswerReshape, json = false): Promise<string> {
  const head = { status: 200, reason: 'OK', headers: [['content-length', String(Buffer.byteLength(body))] as const], contentLength: Buffer.byteLength(body) };
  const answer = await reshapedAnswer({ kind: 'whole', head, body: Buffer.from(body) }, plan, json, 'unix:/test.sock', undefined);
  assert.equal(answer.head.contentLength, answer.kind === 'whole' ? answer.body.length : -1, 'the length describes the new body');
  return answer.kind === 'whole' ? answer.body.toString() : '';
}

const rowsXml = (hashes: string[]): string => `<value><array><data>${hashes.map((hash) => `<value><array><data><value><string>${hash}</string></value></data></array></value>`).join('')}</data></array></value>`;
const xmlResponse = (value: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param>${value}</param></params></methodResponse>\n`;

describe('a tenant\'s counted lists in XML-RPC', () => {
  it('turn the members named by position back, keeping the others and their faults as rtorrent wrote them', async () => {
    const version = '<value><string>0.9.8 &lt;x&gt;</string></value>';
    const big = '<value><i8>9007199254740993</i8></value>';
    const fault = '<value><struct><member><name>faultCode</name><value><i4>-501</i4></value></member><member><name>faultString</name><value><string>Could not find info-hash.</string></value></member></struct></value>';
    const items = [`<value><array><data>${version}</data></array></value>`, `<value><array><data>${rowsXml([A, B])}</data></array></value>`, `<value><array><data>${big}</data></array></value>`, `<value><array><data>${rowsXml([A])}</data></array></value>`, fault];
    const body = xmlResponse(`<value><array><data>${items.join('')}</data></array></value>`);
    const out = await reshaped(body, { call: { members: new Map([[1, 'count'], [3, 'hashes'], [4, 'count']]) } });
    const expected = [items[0], '<value><array><data><value><i8>2</i8></value></data></array></value>', items[2], `<value><array><data><value><array><data><value><string>${A}</string></value></data></array></value></data></array></value>`, fault];
    assert.equal(out, xmlResponse(`<value><array><data>${expected.join('')}</data></array></value>`));
  });

  it('refuse an answer the gateway cannot read to the letter rather than guess', async () => {
    const body = xmlResponse(`<value><array><data><!-- x --><value><array><data>${rowsXml([A])}</data></array></value></data></array></value>`);
    await assert.rejects(reshaped(body, { call: { members: new Map([[0, 'count']]) } }), (error: unknown) => error instanceof UpstreamError && /comment, CDATA/.test(error.message));
  });
});

describe('a tenant\'s counted lists in JSON-RPC', () => {
  it('turn the batch\'s answers named by position back, keeping every other byte', async () => {
    const body = `[{"id":1,"jsonrpc":"2.0","result":[["${A}"],["${B}"]]}, {"id":"a]\\"}","jsonrpc":"2.0","result":9007199254740993},{"error":{"code":-32602,"message":"x"},"id":3,"jsonrpc":"2.0"},{"id":4,"result":[],"jsonrpc":"2.0"}]`;
    const out = await reshaped(body, { batch: new Map([[0, { whole: 'hashes' }], [2, { whole: 'count' }], [3, { whole: 'count' }]]) }, true);
    assert.equal(out, `[{"id":1,"jsonrpc":"2.0","result":["${A}","${B}"]}, {"id":"a]\\"}","jsonrpc":"2.0","result":9007199254740993},{"error":{"code":-32602,"message":"x"},"id":3,"jsonrpc":"2.0"},{"id":4,"result":0,"jsonrpc":"2.0"}]`);
  });

  it('pass an error that answers the whole batch as rtorrent wrote it', async () => {
    const error = '{"error":{"code":-32700,"message":"parse error"},"id":null,"jsonrpc":"2.0"}';
    assert.equal(await reshaped(error, { batch: new Map([[0, { whole: 'hashes' }]]) }, true), error);
  });

  it('turn a single answer back the same way', async () => {
    assert.equal(await reshaped(`{"id":"l","jsonrpc":"2.0","result":[["${A}"]]}`, { call: { whole: 'count' } }, true), '{"id":"l","jsonrpc":"2.0","result":1}');
  });
});
