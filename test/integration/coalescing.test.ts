import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

const APP = basicAuth('app', 'app-secret');
const ADMIN = basicAuth('admin', 'admin-secret');
const LIST = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=']);
const HASH = '0123456789ABCDEF0123456789ABCDEF01234567';

describe('coalescing identical reads (upstream.coalesce_reads = true)', () => {
  let upstream: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    // Each answer takes a moment, as a big d.multicall2 does, so concurrent callers overlap even
    // when a busy machine is slow to send them all.
    upstream = await startFakeScgi((socket, request) => {
      setTimeout(() => socket.end(rtorrentStyleReply(`<answer n="${upstream.requests.length}">${request.body.length}</answer>`)), 500);
    });
    gateway = await startGateway({ upstream: `unix:${upstream.socketPath}`, upstreamToml: 'timeout = "5s"\ncoalesce_reads = true' });
    // Warm the credential cache so all concurrent calls reach the upstream together.
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: APP });
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function concurrently(count: number, body: string, authorization: string): Promise<Buffer[]> {
    const answers = await Promise.all(Array.from({ length: count }, () => post(gateway.url(), body, { authorization })));
    for (const answer of answers) assert.equal(answer.status, 200);
    return answers.map((answer) => answer.body);
  }

  it('gives 8 concurrent identical list calls one upstream call, and every caller the same bytes', async () => {
    const before = upstream.requests.length;
    const bodies = await concurrently(8, LIST, APP);
    assert.equal(upstream.requests.length - before, 1);
    for (const body of bodies) assert.ok(body.equals(bodies[0] as Buffer));
  });

  it('also shares a full user\'s read-only call, judged by what the call does, not who sends it', async () => {
    const before = upstream.requests.length;
    await concurrently(4, LIST, ADMIN);
    assert.equal(upstream.requests.length - before, 1);
  });

  it('never coalesces writes: 8 concurrent identical d.start calls are 8 upstream calls', async () => {
    const before = upstream.requests.length;
    await concurrently(8, xmlCall('d.start', [HASH]), APP);
    assert.equal(upstream.requests.length - before, 8);
  });

  it('never coalesces loads, even identical ones', async () => {
    const before = upstream.requests.length;
    await concurrently(4, xmlCall('load.start', ['', `magnet:?xt=urn:btih:${HASH}`, 'd.custom1.set=tv']), APP);
    assert.equal(upstream.requests.length - before, 4);
  });

  it('keeps nothing after the call: the same read a moment later goes upstream again', async () => {
    const before = upstream.requests.length;
    await concurrently(1, LIST, APP);
    await concurrently(1, LIST, APP);
    assert.equal(upstream.requests.length - before, 2);
  });

  it('does not share different calls', async () => {
    const before = upstream.requests.length;
    await Promise.all([concurrently(1, LIST, APP), concurrently(1, xmlCall('d.multicall2', ['', 'main', 'd.hash=']), APP)]);
    assert.equal(upstream.requests.length - before, 2);
  });
});

describe('coalescing an answer too large to be read whole (upstream.coalesce_reads = true)', () => {
  const size = 400_000;
  let upstream: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    // Written in pieces, so the shared answer takes many reads of the gateway's read buffer.
    upstream = await startFakeScgi((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${size}\r\n\r\n`);
      for (let sent = 0, delay = 400; sent < size; sent += 50_000, delay += 5) {
        const piece = Math.min(50_000, size - sent);
        setTimeout(() => (sent + piece >= size ? socket.end(Buffer.alloc(piece, 'x')) : socket.write(Buffer.alloc(piece, 'x'))), delay);
      }
    });
    gateway = await startGateway({ upstream: `unix:${upstream.socketPath}`, upstreamToml: 'timeout = "10s"\ncoalesce_reads = true' });
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: APP });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('gives every concurrent caller the whole answer from one upstream call, well within upstream.timeout', async () => {
    const before = upstream.requests.length;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(gateway.url(), LIST, { authorization: APP })));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, size);
    }
    assert.equal(upstream.requests.length - before, 1);
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
  });
});

describe('coalescing against a real rtorrent', { skip: requireBinary('rtorrent') === undefined && 'rtorrent not installed' }, () => {
  const stack = withStack({ rtorrent: { name: 'coalesce', torrents: 300 }, gateway: { upstreamToml: 'coalesce_reads = true' } });
  before(async () => {
    // Warm the credential cache so the concurrent calls reach rtorrent together.
    await post(stack.url(), xmlCall('system.client_version'), { authorization: APP });
  });

  /** The request lines written for the last `count` /RPC2 calls since `from`. */
  async function outcomes(from: number, count: number): Promise<unknown[]> {
    for (let tries = 0; tries < 100; tries++) {
      const lines = stack.gateway.logs.slice(from).filter((entry) => entry.path === '/RPC2');
      if (lines.length >= count) return lines.map((entry) => entry.outcome);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`expected ${count} request lines`);
  }

  it('answers 8 concurrent dashboards with exactly the bytes rtorrent gives a direct call', async () => {
    const direct = await stack.rtorrent.raw(LIST);
    // Uncompressed, so the length sent is rtorrent's.
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(stack.url(), LIST, { authorization: APP, 'accept-encoding': 'identity' })));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.ok(answer.body.equals(direct.body));
      assert.equal(answer.headers.get('content-length'), String(direct.body.length));
    }
  });

  it('shares one rtorrent call among concurrent identical lists (logged "coalesced")', async () => {
    const from = stack.gateway.logs.length;
    await Promise.all(Array.from({ length: 8 }, () => post(stack.url(), LIST, { authorization: APP })));
    const seen = await outcomes(from, 8);
    assert.ok(seen.includes('coalesced'), `outcomes: ${seen.join(', ')}`);
    assert.ok(seen.includes('relayed'), 'one caller made the call the others shared');
  });

  it('never shares writes: 6 concurrent identical d.custom1.set calls each reach rtorrent', async () => {
    const hash = stack.rtorrent.infoHashes[0] as string;
    const from = stack.gateway.logs.length;
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(stack.url(), xmlCall('d.custom1.set', [hash, 'tv']), { authorization: APP })));
    for (const answer of answers) assert.equal(answer.status, 200);
    assert.deepEqual(await outcomes(from, 6), Array(6).fill('relayed'));
    assert.equal(await stack.rtorrent.call('d.custom1', [hash]), 'tv');
  });
});
