import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { basicAuth, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { ALLOWED_CROSS_SITE, CROSS_SITE_SERVER_TOML, FORM_CONTENT_TYPES, REFUSED_CROSS_SITE } from '../helpers/cross-site-cases.js';

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
      serverToml: CROSS_SITE_SERVER_TOML,
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const [what, headers, message] of REFUSED_CROSS_SITE) {
    it(`refuses ${what} with 403 before rtorrent sees anything`, async () => {
      relayedBefore = upstream.requests.length;
      const response = await rawPost(gateway.port, headers);
      assert.equal(response.status, 403);
      assert.match(response.body, message);
      assert.equal(upstream.requests.length, relayedBefore);
    });
  }

  it('refuses an HTML form post (urlencoded or text/plain) with 415', async () => {
    for (const type of FORM_CONTENT_TYPES) {
      relayedBefore = upstream.requests.length;
      const response = await rawPost(gateway.port, { 'content-type': type });
      assert.equal(response.status, 415, type);
      assert.equal(upstream.requests.length, relayedBefore);
    }
  });

  for (const [what, headers] of ALLOWED_CROSS_SITE) {
    it(`lets through ${what}`, async () => {
      const response = await rawPost(gateway.port, headers);
      assert.equal(response.status, 200, response.body);
    });
  }
});
