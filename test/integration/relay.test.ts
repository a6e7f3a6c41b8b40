import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import xmlrpc from 'xmlrpc';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { startNginx, type NginxInstance } from '../helpers/nginx.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';
import { requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const run = promisify(execFile);
const haveRtorrent = requireBinary('rtorrent') !== undefined && requireBinary('nginx') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');

/** The call ruTorrent's list view makes, over every torrent, with strings and 64-bit integers. */
const RUTORRENT_LIST = xmlCall('d.multicall2', [
  '',
  'main',
  'd.hash=',
  'd.name=',
  'd.state=',
  'd.size_bytes=',
  'd.completed_bytes=',
  'd.up.rate=',
  'd.down.rate=',
  'd.ratio=',
  'd.custom1=',
  'd.directory=',
  'd.creation_date=',
  'd.peers_accounted=',
  'd.message=',
  'd.is_open=',
  'd.priority=',
]);

describe('relaying XML-RPC to a real rtorrent, compared with nginx scgi_pass', { skip: !haveRtorrent && 'rtorrent or nginx not installed' }, () => {
  let rtorrent: RtorrentInstance;
  let nginx: NginxInstance;
  let gateway: GatewayTestInstance;

  before(async () => {
    rtorrent = await startRtorrent({ torrents: 300, name: 'relay' });
    nginx = await startNginx({ upstreamSocket: rtorrent.socketPath, paths: ['/RPC2'], clientMaxBodySize: '16m' });
    gateway = await startGateway({ upstream: `unix:${rtorrent.socketPath}` });
  });
  after(async () => {
    await gateway?.close();
    await nginx?.stop();
    await rtorrent?.stop();
  });

  async function bothWays(body: string): Promise<{ viaGateway: Awaited<ReturnType<typeof post>>; viaNginx: Awaited<ReturnType<typeof post>> }> {
    const viaGateway = await post(gateway.url('/RPC2'), body, { authorization: ADMIN });
    const viaNginx = await post(nginx.url('/RPC2'), body);
    return { viaGateway, viaNginx };
  }

  it('answers system.client_version with the same bytes as nginx', async () => {
    const { viaGateway, viaNginx } = await bothWays(xmlCall('system.client_version'));
    assert.equal(viaGateway.status, 200);
    assert.equal(viaGateway.body.toString(), viaNginx.body.toString());
    assert.match(viaGateway.body.toString(), /<string>0\.9\.8<\/string>/);
    assert.equal(viaGateway.headers.get('content-type'), viaNginx.headers.get('content-type'));
    assert.equal(viaGateway.headers.get('content-length'), viaNginx.headers.get('content-length'));
  });

  it('returns a d.multicall2 over 300 torrents byte-identical to nginx', async () => {
    const { viaGateway, viaNginx } = await bothWays(RUTORRENT_LIST);
    assert.equal(viaGateway.status, 200);
    assert.ok(viaGateway.body.length > WHOLE_ANSWER_MAX_BYTES, `an answer large enough to be streamed (${viaGateway.body.length} bytes)`);
    assert.ok(viaGateway.body.equals(viaNginx.body), 'same bytes');
    for (const hash of rtorrent.infoHashes.slice(0, 20)) assert.ok(viaGateway.body.includes(hash));
  });

  it('relays rtorrent\'s faults unchanged (HTTP 200 with <fault>)', async () => {
    const { viaGateway, viaNginx } = await bothWays(xmlCall('d.name', ['0000000000000000000000000000000000000000']));
    assert.equal(viaGateway.status, 200);
    assert.match(viaGateway.body.toString(), /<fault>/);
    assert.ok(viaGateway.body.equals(viaNginx.body));
  });

  it('serves the same call on /scgi, the classic nginx guide\'s path', async () => {
    const response = await post(gateway.url('/scgi'), xmlCall('system.client_version'), { authorization: ADMIN });
    assert.equal(response.status, 200);
    assert.match(response.body.toString(), /0\.9\.8/);
  });

  it('accepts text/xml with a charset parameter (Transdroid) and application/xml', async () => {
    for (const type of ['text/xml; charset=utf-8', 'application/xml', 'TEXT/XML']) {
      const response = await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN, 'content-type': type });
      assert.equal(response.status, 200, type);
      assert.match(response.body.toString(), /0\.9\.8/, type);
    }
  });

  it('works with Python\'s xmlrpc.client, credentials in the URL', async () => {
    const script = [
      'import sys, xmlrpc.client',
      'p = xmlrpc.client.ServerProxy(sys.argv[1])',
      'print(p.system.client_version())',
      'print(len(p.d.multicall2("", "main", "d.hash=", "d.name=", "d.size_bytes=")))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, `http://admin:admin-secret@127.0.0.1:${gateway.port}/RPC2`]);
    assert.deepEqual(stdout.trim().split('\n'), ['0.9.8', '300']);
  });

  it('works with Ruby\'s xmlrpc client', { skip: requireBinary('ruby') === undefined && 'ruby not installed (Debian ruby, ruby-xmlrpc)' }, async () => {
    const script = 'require "xmlrpc/client"; c = XMLRPC::Client.new2(ARGV[0]); puts c.call("system.client_version"); puts c.call("d.multicall2", "", "main", "d.name=").length';
    const { stdout } = await run('ruby', ['-e', script, `http://admin:admin-secret@127.0.0.1:${gateway.port}/RPC2`]);
    assert.deepEqual(stdout.trim().split('\n'), ['0.9.8', '300']);
  });

  it('works with the npm xmlrpc client and basic auth', async () => {
    const client = xmlrpc.createClient({ host: '127.0.0.1', port: gateway.port, path: '/RPC2', basic_auth: { user: 'admin', pass: 'admin-secret' } });
    const call = (method: string, params: unknown[]) =>
      new Promise<unknown>((resolve, reject) => client.methodCall(method, params, (error, value) => (error ? reject(error) : resolve(value))));
    assert.equal(await call('system.client_version', []), '0.9.8');
    const rows = (await call('d.multicall2', ['', 'main', 'd.hash='])) as string[][];
    assert.equal(rows.length, 300);
  });

  it('works with curl, answering a client that only sends credentials after a 401 challenge', async () => {
    // --anyauth makes curl send the first request without credentials, as the Sonarr family and Transdroid do.
    const before = gateway.logs.length;
    const { stdout } = await run('curl', ['-sS', '--anyauth', '-u', 'admin:admin-secret', '-H', 'Content-Type: text/xml', '--data-binary', xmlCall('system.client_version'), gateway.url()]);
    assert.match(stdout, /<string>0\.9\.8<\/string>/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const statuses = gateway.logs.slice(before).filter((line) => line.path === '/RPC2').map((line) => [line.status, line.user]);
    // An earlier client's line may still land in this window; curl's two requests are the last two.
    assert.deepEqual(statuses.slice(-2), [[401, undefined], [200, 'admin']], 'a challenge first, then the call with credentials');
  });

  it('writes one JSON log line per request with user, methods, status, bytes and duration', async () => {
    const before = gateway.logs.length;
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = gateway.logs.slice(before).filter((line) => line.msg === 'request');
    assert.equal(lines.length, 1);
    const line = lines[0] as Record<string, unknown>;
    assert.equal(line.user, 'admin');
    assert.deepEqual(line.methods, ['system.client_version']);
    assert.equal(line.status, 200);
    assert.ok((line.bytesOut as number) > 100);
    assert.equal(typeof line.ms, 'number');
  });
});
