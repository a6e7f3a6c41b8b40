/**
 * Checks the test harness itself against the real rtorrent and nginx, so that a failing
 * integration test points at the gateway and not at its scaffolding.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { startNginx } from '../helpers/nginx.js';
import { cleanupAll, requireBinary } from '../helpers/processes.js';
import { startRtorrent } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall } from '../helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes } from '../helpers/torrents.js';

after(cleanupAll);

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('harness helpers without binaries', () => {
  test('requireBinary: undefined locally, throws in CI', () => {
    const saved = process.env.CI;
    try {
      delete process.env.CI;
      assert.equal(requireBinary('no-such-binary-rtg-harness'), undefined);
      process.env.CI = 'true';
      assert.throws(() => requireBinary('no-such-binary-rtg-harness'), /not found/);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });

  test('torrents are deterministic, distinct, and ~sizeBytes when asked', () => {
    const a = infoHashOf(makeTorrentBytes(1, { seed: 's' }));
    assert.match(a, /^[0-9A-F]{40}$/);
    assert.equal(infoHashOf(makeTorrentBytes(1, { seed: 's' })), a);
    assert.notEqual(infoHashOf(makeTorrentBytes(2, { seed: 's' })), a);
    assert.notEqual(infoHashOf(makeTorrentBytes(1, { seed: 't' })), a);
    const big = makeTorrentBytes(0, { sizeBytes: 1 << 20 });
    assert.ok(big.length > 0.95 * (1 << 20) && big.length <= 1 << 20, `size ${big.length}`);
  });

  test('xmlCall escapes strings and encodes numbers as i8', () => {
    const xml = xmlCall('d.name', ['a<&>b', 42]);
    assert.match(xml, /<string>a&lt;&amp;&gt;b<\/string>/);
    assert.match(xml, /<i8>42<\/i8>/);
  });
});

describe('harness against real rtorrent and nginx', () => {
  const rtorrentBin = requireBinary('rtorrent');
  const nginxBin = requireBinary('nginx');
  const skip = rtorrentBin === undefined || nginxBin === undefined ? 'rtorrent or nginx not installed' : false;

  test('rtorrent + 50 torrents, nginx relay, clean stop', { skip, timeout: 60_000 }, async () => {
    const rt = await startRtorrent({ torrents: 50, name: 'harness' });
    assert.equal(rt.infoHashes.length, 50);

    // Raw bytes as rtorrent 0.9.8 sends them.
    const direct = await rt.raw(xmlCall('system.client_version', []));
    assert.equal(direct.status, 200);
    assert.equal(direct.headers['content-type'], 'text/xml');
    assert.equal(Number(direct.headers['content-length']), direct.body.length);
    assert.equal(decodeXmlRpcResponse(direct.body), '0.9.8');

    const rows = await rt.call('d.multicall2', ['', 'main', 'd.hash=', 'd.name=']);
    assert.ok(Array.isArray(rows));
    assert.equal(rows.length, 50);
    const byHash = new Map(rows.map((r) => (Array.isArray(r) ? [String(r[0]), String(r[1])] : ['', ''])));
    assert.deepEqual([...byHash.keys()].sort(), [...rt.infoHashes].sort(), 'rtorrent hashes match infoHashOf()');
    assert.equal(byHash.get(rt.infoHashes[0] ?? ''), 'rtg-test-harness-0.bin');

    const ngx = await startNginx({ upstreamSocket: rt.socketPath });
    const res = await fetch(ngx.url('/RPC2'), {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: xmlCall('system.client_version', []),
    });
    assert.equal(res.status, 200);
    assert.equal(decodeXmlRpcResponse(await res.text()), '0.9.8');
    const outside = await fetch(ngx.url('/RPC2x'), { method: 'POST', body: 'x' });
    assert.equal(outside.status, 404, 'exact location only');
    await outside.arrayBuffer();

    const workers = await ngx.workerPids();
    assert.equal(workers.length, 1);

    await ngx.stop();
    await rt.stop();
    for (const pid of [rt.pid, ngx.pid, ...workers]) assert.ok(gone(pid), `pid ${pid} still exists`);
    assert.ok(!existsSync(rt.dir), 'rtorrent temp dir removed');
    assert.ok(!existsSync(ngx.dir), 'nginx temp dir removed');
    await rt.stop(); // idempotent
  });

  test('parallel instances do not clash (ports, sockets, session locks)', { skip, timeout: 60_000 }, async () => {
    const instances = await Promise.all([1, 2, 3].map((i) => startRtorrent({ name: `par${i}`, torrents: 5 })));
    try {
      const versions = await Promise.all(instances.map((rt) => rt.call('system.client_version')));
      assert.deepEqual(versions, ['0.9.8', '0.9.8', '0.9.8']);
      const ports = await Promise.all(instances.map((rt) => rt.call('network.listen.port')));
      assert.equal(new Set(ports).size, 3, `listen ports ${ports.join(',')}`);

      // A crashed upstream (tests kill rtorrent on purpose) must still stop cleanly.
      const victim = instances[0];
      assert.ok(victim);
      victim.kill('SIGKILL');
      assert.ok(await victim.waitForExit(10_000));
      assert.equal(victim.running(), false);
      await victim.stop();
      assert.ok(!existsSync(victim.dir));
    } finally {
      await Promise.all(instances.map((rt) => rt.stop()));
    }
  });
});
