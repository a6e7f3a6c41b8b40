import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { basicAuth, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const ADMIN = basicAuth('admin', 'admin-secret');
const CALL = xmlCall('system.client_version');

/** fetch() cannot set Host or Origin, so these requests are made with node:http. */
function rawPost(port: number, headers: Record<string, string>, body = CALL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: { 'content-type': 'text/xml', authorization: ADMIN, ...headers } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('a web page in the user\'s browser cannot drive rtorrent through the gateway', () => {
  let upstream: FakeScgiServer;
  let gateway: GatewayTestInstance;
  let relayedBefore = 0;

  before(async () => {
    upstream = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    gateway = await startGateway({
      upstream: `unix:${upstream.socketPath}`,
      serverToml: 'hosts = ["seedbox.example"]\nallowed_origins = ["https://ui.example.org"]',
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a foreign Origin, even with valid credentials', { origin: 'https://evil.example' }, /Origin "https:\/\/evil\.example"/],
    ['a page served from the gateway\'s own address (Origin is not a trusted UI)', { origin: 'http://127.0.0.1:8000' }, /requests from web pages are refused/],
    ['a DNS-rebinding name in Host', { host: 'attacker.example:8000' }, /Host "attacker\.example:8000" is not one of this gateway's names/],
    ['a DNS-rebinding page (its Origin matches its Host)', { host: 'attacker.example:8000', origin: 'http://attacker.example:8000' }, /attacker\.example/],
    ['a cross-site fetch that hides its Origin', { 'sec-fetch-site': 'cross-site' }, /Sec-Fetch-Site: cross-site/],
  ];
  for (const [what, headers, message] of refused) {
    it(`refuses ${what} with 403 before rtorrent sees anything`, async () => {
      relayedBefore = upstream.requests.length;
      const response = await rawPost(gateway.port, headers);
      assert.equal(response.status, 403);
      assert.match(response.body, message);
      assert.equal(upstream.requests.length, relayedBefore);
    });
  }

  it('refuses an HTML form post (urlencoded or text/plain) with 415', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      relayedBefore = upstream.requests.length;
      const response = await rawPost(gateway.port, { 'content-type': type });
      assert.equal(response.status, 415, type);
      assert.equal(upstream.requests.length, relayedBefore);
    }
  });

  const allowed: Array<[string, Record<string, string>]> = [
    ['an XML-RPC client on 127.0.0.1 (no Origin, no Sec-Fetch-*)', {}],
    ['a client using localhost', { host: 'localhost:8000' }],
    ['a client using an IPv6 literal', { host: '[::1]:8000' }],
    ['a client using a name listed in server.hosts', { host: 'SEEDBOX.example:443' }],
    ['a page from an origin listed in server.allowed_origins', { origin: 'https://ui.example.org' }],
    ['a same-origin browser request without Origin', { 'sec-fetch-site': 'same-origin' }],
  ];
  for (const [what, headers] of allowed) {
    it(`lets through ${what}`, async () => {
      const response = await rawPost(gateway.port, headers);
      assert.equal(response.status, 200, response.body);
    });
  }
});
