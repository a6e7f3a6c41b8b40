import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { basicAuth, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const CALL = xmlCall('system.client_version');

/** Loopback is a whole /8 on Linux: binding the client to 127.0.0.N gives each test its own address. */
function postFrom(port: number, from: string, authorization?: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'text/xml' };
    if (authorization) headers.authorization = authorization;
    const request = httpRequest({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', localAddress: from, headers, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
    });
    request.on('error', reject);
    request.end(CALL);
  });
}

describe('failed logins are rate-limited per address and per user', () => {
  let upstream: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    upstream = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    gateway = await startGateway({ upstream: `unix:${upstream.socketPath}` });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('blocks an address after 10 wrong passwords with 429 and Retry-After, even for the right password, and logs it', async () => {
    for (let i = 0; i < 10; i++) {
      assert.equal((await postFrom(gateway.port, '127.0.0.2', basicAuth('admin', `guess-${i}`))).status, 401);
    }
    const blocked = await postFrom(gateway.port, '127.0.0.2', basicAuth('admin', 'admin-secret'));
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.retryAfter) > 0 && Number(blocked.retryAfter) <= 60);
    assert.ok(gateway.logs.some((line) => line.status === 429 && line.remote === '127.0.0.2' && line.level === 40));
    assert.ok(gateway.logs.filter((line) => line.status === 401 && line.remote === '127.0.0.2' && line.level === 40).length >= 10);
  });

  it('does not slow down other addresses meanwhile', async () => {
    assert.equal((await postFrom(gateway.port, '127.0.0.3', basicAuth('admin', 'admin-secret'))).status, 200);
  });

  it('never counts a request without credentials: clients that wait for the challenge keep working', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await postFrom(gateway.port, '127.0.0.4')).status, 401);
    assert.equal((await postFrom(gateway.port, '127.0.0.4', basicAuth('viewer', 'viewer-secret'))).status, 200);
  });

  it('blocks a user name guessed at from many addresses, but lets its real client with known-good credentials in', async () => {
    assert.equal((await postFrom(gateway.port, '127.0.1.1', basicAuth('app', 'app-secret'))).status, 200);
    for (let i = 0; i < 50; i++) {
      const status = (await postFrom(gateway.port, `127.0.2.${i + 1}`, basicAuth('app', `guess-${i}`))).status;
      assert.ok(status === 401 || status === 429);
    }
    assert.equal((await postFrom(gateway.port, '127.0.3.1', basicAuth('app', 'another-guess'))).status, 429);
    assert.equal((await postFrom(gateway.port, '127.0.1.1', basicAuth('app', 'app-secret'))).status, 200);
  });
});
