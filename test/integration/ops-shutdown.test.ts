import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { basicAuth, post } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { CLI, listeningAddress, runCli, writeConfig, writeHtpasswd } from './ops-support.js';

const ADMIN = basicAuth('admin', 'admin-secret');
/** Large enough to be sent in several chunks, so "complete" means more than one write. */
const ANSWER = `<?xml version="1.0"?><methodResponse><params><param><value><string>${'x'.repeat(200_000)}</string></value></param></params></methodResponse>`;

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SIGTERM', () => {
  let dir: string;
  let fake: FakeScgiServer;
  const held: Socket[] = [];

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('shutdown');
    writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
    // rtorrent stand-in that answers only when the test says so.
    fake = await startFakeScgi((socket) => held.push(socket));
  });
  after(async () => {
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  function start(server = ''): ReturnType<typeof runCli> {
    const config = join(dir, `gateway-${Math.random().toString(36).slice(2)}.toml`);
    writeConfig(config, { listen: '127.0.0.1:0', upstream: `unix:${fake.socketPath}`, htpasswd: join(dir, 'htpasswd'), users: { admin: 'full' }, server });
    return runCli(['--config', config]);
  }

  it('stops accepting, lets the call in flight finish, and exits 0', async () => {
    const cli = start('shutdown_timeout = "10s"');
    const base = await listeningAddress(cli);
    const inFlight = post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: ADMIN });
    await until(() => held.length === 1);

    cli.child.kill('SIGTERM');
    await cli.waitForLine((line) => String(line.msg).startsWith('shutting down'));
    // The listening socket is closed at once: a new client is refused, not queued.
    await assert.rejects(fetch(`${base}/healthz`), (error: Error) => /ECONNREFUSED/.test(String((error.cause as Error | undefined)?.message ?? error.message)));
    assert.equal(cli.child.exitCode, null, 'still running while the call is in flight');

    held.shift()?.end(rtorrentStyleReply(ANSWER));
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), ANSWER);
    const exit = await cli.exited;
    assert.equal(exit.code, 0);
    assert.ok(cli.lines().some((line) => line.msg === 'stopped'));
  });

  it('cuts calls still in flight after server.shutdown_timeout, and still exits 0', async () => {
    const cli = start('shutdown_timeout = "500ms"');
    const base = await listeningAddress(cli);
    const stuck = post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: ADMIN }).then(
      (response) => `answered ${response.status}`,
      () => 'cut',
    );
    await until(() => held.length === 1);
    const started = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    const took = Date.now() - started;
    assert.equal(exit.code, 0);
    assert.ok(took >= 450 && took < 4000, `stopped after ${took} ms`);
    assert.equal(await stuck, 'cut');
    assert.ok(cli.lines().some((line) => line.msg === 'calls still in flight at server.shutdown_timeout were cut'));
    // The gateway let go of rtorrent's connection too (it is one of rtorrent's 100 slots).
    const upstreamSide = held.shift();
    await until(() => upstreamSide?.destroyed === true || upstreamSide?.readableEnded === true);
  });

  it('exits 0 at once when idle', async () => {
    const cli = start();
    await listeningAddress(cli);
    const started = Date.now();
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0);
    assert.ok(Date.now() - started < 2000);
  });
});
