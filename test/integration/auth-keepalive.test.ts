import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { loadConfig } from '../../src/config/load.js';
import { basicAuth } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const VERSION = xmlCall('system.client_version');

interface Answer {
  readonly status: number;
  readonly body: string;
  /** The request went out on a connection an earlier request had used. */
  readonly reused: boolean;
}

type Send = (authorization: string, body?: string) => Promise<Answer>;

/** Runs `use` with one keep-alive connection (a polling client's), optionally from a given loopback address. */
async function onOneConnection(port: number, use: (send: Send) => Promise<void>, localAddress?: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send: Send = (authorization, body = VERSION) =>
    new Promise((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port, path: '/RPC2', method: 'POST', agent, localAddress, headers: { 'content-type': 'text/xml', authorization } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), reused: request.reusedSocket }));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  try {
    await use(send);
  } finally {
    agent.destroy();
  }
}

describe('credentials on a keep-alive connection', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withStack({ rtorrent: { name: 'auth-keepalive' } });

  it('are checked again when they change: a wrong password after a good one gets 401, on the same connection', async () => {
    await onOneConnection(stack.gateway.port, async (send) => {
      assert.equal((await send(basicAuth('admin', 'admin-secret'))).status, 200);
      const wrong = await send(basicAuth('admin', 'admin-secret-not'));
      assert.equal(wrong.reused, true, 'the same connection');
      assert.equal(wrong.status, 401);
      assert.equal((await send(basicAuth('admin', 'admin-secret'))).status, 200);
    });
  });

  it('are those of whoever sends them: a proxy carrying two users on one connection gets each one\'s policy', async () => {
    await onOneConnection(stack.gateway.port, async (send) => {
      assert.equal((await send(basicAuth('admin', 'admin-secret'))).status, 200);
      const write = xmlCall('throttle.global_down.max_rate.set', ['', 1024]);
      const asViewer = await send(basicAuth('viewer', 'viewer-secret'), write);
      assert.equal(asViewer.reused, true, 'the same connection');
      assert.match(asViewer.body, /not allowed for user "viewer" \(policy "readonly"\)/);
      const asAdmin = await send(basicAuth('admin', 'admin-secret'), write);
      assert.doesNotMatch(asAdmin.body, /<fault>/);
      const users = stack.gateway.logs.filter((line) => line.path === '/RPC2').slice(-3).map((line) => line.user);
      assert.deepEqual(users, ['admin', 'viewer', 'admin']);
    });
  });

  it('stop working on an open connection once a reload has changed the password', async () => {
    await onOneConnection(stack.gateway.port, async (send) => {
      assert.equal((await send(basicAuth('app', 'app-secret'))).status, 200);
      writeFileSync(
        stack.gateway.htpasswdPath,
        [
          `admin:${bcrypt.hashSync('admin-secret', 4)}`,
          `app:${bcrypt.hashSync('app-secret-2', 4)}`,
          `viewer:${bcrypt.hashSync('viewer-secret', 4)}`,
          '',
        ].join('\n'),
      );
      await stack.gateway.app.gateway.reload(loadConfig({ file: stack.gateway.configPath }));
      const old = await send(basicAuth('app', 'app-secret'));
      assert.equal(old.reused, true, 'the same connection');
      assert.equal(old.status, 401);
      assert.equal((await send(basicAuth('app', 'app-secret-2'))).status, 200);
    });
  });

  it('keep working on a connection that got in before while another client at its address is blocked for the same name', async () => {
    const from = '127.0.0.9';
    await onOneConnection(
      stack.gateway.port,
      async (send) => {
        assert.equal((await send(basicAuth('admin', 'admin-secret'))).status, 200);
        for (let i = 0; i < 10; i++) {
          await onOneConnection(stack.gateway.port, async (guess) => assert.equal((await guess(basicAuth('admin', `guess-${i}`))).status, 401), from);
        }
        await onOneConnection(stack.gateway.port, async (guess) => assert.equal((await guess(basicAuth('admin', 'guess-10'))).status, 429), from);
        const still = await send(basicAuth('admin', 'admin-secret'));
        assert.equal(still.reused, true, 'the same connection');
        assert.equal(still.status, 200);
      },
      from,
    );
  });
});
