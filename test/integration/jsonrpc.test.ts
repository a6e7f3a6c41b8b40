/**
 * What the gateway sends rtorrent for a JSON-RPC call, read back from a fake SCGI peer that records
 * it. jsonrpc-rtorrent.test.ts shows the answers of a real rtorrent 0.16.20.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';

const APP = basicAuth('app', 'app-secret');

function jsonReply(body: string): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([Buffer.from(`Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`), bytes]);
}

describe('JSON-RPC for rtorrent ≥ 0.15.2 (upstream.jsonrpc = true)', () => {
  let upstream: FakeScgiServer;
  let gateway: GatewayTestInstance;
  let xmlOnly: GatewayTestInstance;

  before(async () => {
    upstream = await startFakeScgi((socket) => socket.end(jsonReply('{"jsonrpc":"2.0","id":1,"result":"0.16.20"}')));
    gateway = await startGateway({ upstream: `unix:${upstream.socketPath}`, upstreamToml: 'jsonrpc = true' });
    xmlOnly = await startGateway({ upstream: `unix:${upstream.socketPath}` });
  });
  after(async () => {
    await gateway?.close();
    await xmlOnly?.close();
    await upstream?.close();
  });

  const postJson = (target: GatewayTestInstance, body: string) => post(target.url(), body, { authorization: APP, 'content-type': 'application/json' });

  it('forwards our canonical encoding with CONTENT_TYPE=application/json, and relays rtorrent\'s answer', async () => {
    const before = upstream.requests.length;
    const response = await postJson(gateway, ' { "jsonrpc" : "2.0", "id": 1, "method": "system.client_version" } ');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), '{"jsonrpc":"2.0","id":1,"result":"0.16.20"}');
    assert.equal(response.headers.get('content-type'), 'application/json');
    const seen = upstream.requests[before];
    assert.ok(seen);
    assert.deepEqual(seen.headers.find(([name]) => name === 'CONTENT_TYPE'), ['CONTENT_TYPE', 'application/json']);
    // Whitespace gone, and missing params sent as rtorrent would run them: with the "" target.
    assert.equal(seen.body.toString(), '{"jsonrpc":"2.0","id":1,"method":"system.client_version","params":[""]}');
  });

  it('gives a call the same verdict as its XML-RPC twin: execute.throw is refused, and never reaches rtorrent', async () => {
    const before = upstream.requests.length;
    const response = await postJson(gateway, '{"jsonrpc":"2.0","id":7,"method":"execute.throw","params":["","sh","-c","id"]}');
    assert.equal(response.status, 200);
    const answer = JSON.parse(response.body.toString()) as { id: number; error: { code: number; message: string } };
    assert.equal(answer.id, 7);
    assert.equal(answer.error.code, -32403);
    assert.match(answer.error.message, /execute\.throw is not allowed for user "app" \(policy "standard"\)/);
    assert.equal(upstream.requests.length, before);
  });

  it('refuses a whole batch when one element is refused, answering every element with an id', async () => {
    const before = upstream.requests.length;
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'd.multicall2', params: ['', 'main', 'd.hash='] },
      { jsonrpc: '2.0', id: 2, method: 'd.multicall2', params: ['', 'main', 'd.name=', '$execute.throw=sh,-c,id'] },
      { jsonrpc: '2.0', method: 'd.start', params: ['0123456789ABCDEF0123456789ABCDEF01234567'] },
    ]);
    const response = await postJson(gateway, batch);
    const answers = JSON.parse(response.body.toString()) as Array<{ id: number; error: { message: string } }>;
    assert.deepEqual(answers.map((answer) => answer.id), [1, 2]);
    assert.match(answers[1]?.error.message ?? '', /execute\.throw/);
    assert.match(answers[0]?.error.message ?? '', /not run: the gateway refuses a batch as a whole/);
    assert.equal(upstream.requests.length, before);
  });

  it('forwards an allowed batch as a batch, notifications included', async () => {
    const before = upstream.requests.length;
    const batch = '[{"jsonrpc":"2.0","id":"a","method":"d.multicall2","params":["","main","d.hash="]},{"jsonrpc":"2.0","method":"d.start","params":["0123456789ABCDEF0123456789ABCDEF01234567"]}]';
    const response = await postJson(gateway, batch);
    assert.equal(response.status, 200);
    assert.equal(upstream.requests[before]?.body.toString(), batch);
  });

  it('refuses what rtorrent reads differently: duplicate keys, floats, named params', async () => {
    for (const body of [
      '{"jsonrpc":"2.0","id":1,"method":"d.name","method":"execute.throw","params":[""]}',
      '{"jsonrpc":"2.0","id":1,"method":"d.priority.set","params":["0123456789ABCDEF0123456789ABCDEF01234567",1.5]}',
      '{"jsonrpc":"2.0","id":1,"method":"d.name","params":{"target":""}}',
    ]) {
      const before = upstream.requests.length;
      const response = await postJson(gateway, body);
      assert.equal(response.status, 200);
      assert.ok('error' in (JSON.parse(response.body.toString()) as object), body);
      assert.equal(upstream.requests.length, before, body);
    }
  });

  it('is off by default: application/json gets 415 and nothing reaches rtorrent', async () => {
    const before = upstream.requests.length;
    const response = await postJson(xmlOnly, '{"jsonrpc":"2.0","id":1,"method":"system.client_version"}');
    assert.equal(response.status, 415);
    assert.match(response.body.toString(), /JSON-RPC is not enabled .*upstream\.jsonrpc/);
    assert.equal(upstream.requests.length, before);
  });
});
