import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall } from '../helpers/scgi-direct.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const LIST = xmlCall('d.multicall2', ['', 'main', 'd.hash=']);

describe('several rtorrents behind one gateway', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  let alice: RtorrentInstance;
  let bob: RtorrentInstance;
  let gateway: GatewayTestInstance;

  before(async () => {
    [alice, bob] = await Promise.all([
      startRtorrent({ name: 'alice', torrents: 3, torrentOptions: { seed: 'alice' } }),
      startRtorrent({ name: 'bob', torrents: 5, torrentOptions: { seed: 'bob' } }),
    ]);
    gateway = await startGateway({
      upstream: `unix:${alice.socketPath}`,
      users: {
        alice: { password: 'alice-secret' },
        bob: { password: 'bob-secret' },
        admin: { password: 'admin-secret', policy: 'full' },
      },
      extraToml: [
        '[access.users.alice]',
        'policy = "standard"',
        'upstream = "alice"',
        '[access.users.bob]',
        'policy = "standard"',
        'upstream = "bob"',
        '[upstreams.alice]',
        `scgi = "unix:${alice.socketPath}"`,
        '[upstreams.bob]',
        `scgi = "unix:${bob.socketPath}"`,
        'paths = ["/bob/RPC2"]',
      ].join('\n'),
    });
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([alice?.stop(), bob?.stop()]);
  });

  async function hashesSeenBy(user: string, password: string, path: string): Promise<string[]> {
    const response = await post(gateway.url(path), LIST, { authorization: basicAuth(user, password) });
    assert.equal(response.status, 200, response.body.toString());
    return (decodeXmlRpcResponse(response.body) as string[][]).map((row) => row[0] as string).sort();
  }

  it('sends a bound user to their own rtorrent whatever path they call', async () => {
    for (const path of ['/RPC2', '/scgi', '/alice/RPC2', '/bob/RPC2']) {
      assert.deepEqual(await hashesSeenBy('bob', 'bob-secret', path), [...bob.infoHashes].sort(), `bob on ${path}`);
      assert.deepEqual(await hashesSeenBy('alice', 'alice-secret', path), [...alice.infoHashes].sort(), `alice on ${path}`);
    }
  });

  it('routes an unbound user by path: /bob/RPC2 reaches bob\'s rtorrent, /RPC2 the default', async () => {
    assert.deepEqual(await hashesSeenBy('admin', 'admin-secret', '/bob/RPC2'), [...bob.infoHashes].sort());
    assert.deepEqual(await hashesSeenBy('admin', 'admin-secret', '/RPC2'), [...alice.infoHashes].sort());
  });

  it('reports health per upstream, and overall only when every rtorrent answers', async () => {
    assert.equal((await fetch(gateway.url('/healthz/bob'))).status, 200);
    assert.equal((await fetch(gateway.url('/healthz'))).status, 200);
    await bob.stop();
    // The health check caches its answer for a moment.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await fetch(gateway.url('/healthz/bob'))).status, 503);
    assert.equal((await fetch(gateway.url('/healthz/alice'))).status, 200);
    assert.equal((await fetch(gateway.url('/healthz'))).status, 503);
  });

  it('labels upstream metrics with the upstream\'s name', async () => {
    const text = await (await fetch(gateway.url('/metrics'), { headers: { authorization: basicAuth('admin', 'admin-secret') } })).text();
    assert.match(text, /rtorrent_gateway_upstream_duration_seconds_count\{upstream="alice"\} \d+/);
    assert.match(text, /rtorrent_gateway_upstream_calls_in_flight\{upstream="bob"\} 0/);
    assert.match(text, /rtorrent_gateway_upstream_errors_total\{upstream="bob",code="GW_UPSTREAM_UNREACHABLE"\} \d+/);
  });
});
