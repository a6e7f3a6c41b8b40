/**
 * Relaying XML-RPC to a real rtorrent, once per release in rtorrentBuilds() (Debian's 0.9.8, and the
 * current 0.16.20 where it is built), with nginx `scgi_pass` in front of the same rtorrent as the
 * anchor: for the same call, the gateway's answer must be nginx's, byte for byte.
 *
 * Where nginx and the gateway reach rtorrent differently, the test says so: nginx passes the
 * client's HTTP headers on as HTTP_* pairs and the client's Content-Type as CONTENT_TYPE, the
 * gateway sends a head of its own (src/upstream/scgi-request.ts). Besides CONTENT_LENGTH and
 * UNTRUSTED_CONNECTION, 0.16.20 reads two pairs: CONTENT_TYPE (anything but text/xml or
 * application/json closes the connection) and ACCEPT_ENCODING (gzip asked for there compresses
 * answers over 1000 bytes, with no Content-Encoding to say so; src/rpc/scgi_task.cc). nginx sends
 * the client's Accept-Encoding as HTTP_ACCEPT_ENCODING, a name rtorrent does not read, so rtorrent
 * compresses nothing on either path. The gateway passes on no pair of the client's, over HTTP or
 * from an SCGI client of its listener; it compresses answers itself for a client that asks (fetch
 * does, and decodes them), so the bodies compare once decoded (test/integration/compression.test.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import xmlrpc from 'xmlrpc';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';
import { ruTorrent } from '../helpers/client-calls.js';
import { relayTo, startFakeScgi } from '../helpers/fake-scgi.js';
import { basicAuth, post } from '../helpers/gateway.js';
import { startNginx, type NginxInstance } from '../helpers/nginx.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, type RtorrentBuild } from '../helpers/rtorrent.js';
import { scgiRequest, xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';
import { until } from '../helpers/wait.js';

const run = promisify(execFile);
// Both throw in CI when missing, so the file fails there instead of skipping.
const BUILDS = rtorrentBuilds();
const haveNginx = requireBinary('nginx') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const TORRENTS = 300;

/** A ruTorrent-style list over every torrent, with strings and 64-bit integers. */
const LIST = xmlCall(...ruTorrent.shortList());

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

if (BUILDS.length === 0 || !haveNginx) describe('relaying XML-RPC to a real rtorrent, compared with nginx scgi_pass', { skip: 'rtorrent or nginx not installed' }, () => undefined);
else for (const build of BUILDS) describe(`relaying XML-RPC to a real rtorrent ${build.version}, compared with nginx scgi_pass`, () => suite(build));

function suite(build: RtorrentBuild): void {
  const version = build.version;
  const versionString = `<string>${version.replace(/\./g, '\\.')}</string>`;
  /** the gateway's SCGI listener, for SCGI clients (ruTorrent, Flood) */
  const listener = (): string => join(stack.dir, 'admin.sock');
  const stack = withStack({
    rtorrent: { build, torrents: TORRENTS, name: 'relay' },
    gateway: () => ({ extraToml: ['[[scgi.listeners]]', `listen = "unix:${listener()}"`, 'user = "admin"', 'mode = "0600"'].join('\n') }),
  });
  let nginx: NginxInstance;
  before(async () => {
    nginx = await startNginx({ upstreamSocket: stack.rtorrent.socketPath, paths: ['/RPC2'], clientMaxBodySize: '16m' });
  });
  after(async () => {
    await nginx?.stop();
  });

  type Answer = Awaited<ReturnType<typeof post>>;

  async function bothWays(body: string, headers: Record<string, string> = {}): Promise<{ viaGateway: Answer; viaNginx: Answer }> {
    const viaGateway = await post(stack.url('/RPC2'), body, { authorization: ADMIN, ...headers });
    const viaNginx = await post(nginx.url('/RPC2'), body, headers);
    return { viaGateway, viaNginx };
  }

  it('answers system.client_version with the same bytes as nginx', async () => {
    const { viaGateway, viaNginx } = await bothWays(xmlCall('system.client_version'));
    assert.equal(viaGateway.status, 200);
    assert.equal(viaGateway.body.toString(), viaNginx.body.toString());
    assert.match(viaGateway.body.toString(), new RegExp(versionString));
    assert.equal(viaGateway.headers.get('content-type'), viaNginx.headers.get('content-type'));
    assert.equal(viaGateway.headers.get('content-length'), viaNginx.headers.get('content-length'));
  });

  it(`returns a d.multicall2 over ${TORRENTS} torrents byte-identical to nginx`, async () => {
    const { viaGateway, viaNginx } = await bothWays(LIST);
    assert.equal(viaGateway.status, 200);
    assert.ok(viaGateway.body.length > WHOLE_ANSWER_MAX_BYTES, `an answer large enough to be streamed (${viaGateway.body.length} bytes)`);
    assert.ok(viaGateway.body.equals(viaNginx.body), 'same bytes');
    for (const hash of stack.rtorrent.infoHashes.slice(0, 20)) assert.ok(viaGateway.body.includes(hash));
  });

  it('relays rtorrent\'s faults unchanged (HTTP 200 with <fault>)', async () => {
    const { viaGateway, viaNginx } = await bothWays(xmlCall('d.name', ['0000000000000000000000000000000000000000']));
    assert.equal(viaGateway.status, 200);
    assert.match(viaGateway.body.toString(), /<fault>/);
    assert.ok(viaGateway.body.equals(viaNginx.body));
  });

  it('never lets a client\'s Accept-Encoding make rtorrent compress: the gateway compresses itself, into nginx\'s plain bytes', async () => {
    const gzip = { 'accept-encoding': 'gzip' };
    const { viaGateway, viaNginx } = await bothWays(LIST, gzip);
    assert.equal(viaGateway.status, 200);
    assert.equal(viaGateway.headers.get('content-encoding'), 'gzip', 'compressed by the gateway, and decoded by fetch');
    assert.equal(viaNginx.headers.get('content-encoding'), null, 'nginx without gzip on');
    assert.equal(viaNginx.body.subarray(0, 5).toString(), '<?xml');
    assert.ok(viaGateway.body.equals(viaNginx.body), 'same bytes');

    // What nginx sends, read by an SCGI peer that passes each request on to the same rtorrent.
    const recorder = await startFakeScgi(relayTo(stack.rtorrent.socketPath), { answerProbes: false });
    const recorded = await startNginx({ upstreamSocket: recorder.socketPath });
    try {
      const answer = await post(recorded.url(), LIST, gzip);
      assert.ok(answer.body.equals(viaNginx.body), 'the recording peer changes nothing');
      const head = recorder.requests[0]?.headers ?? [];
      assert.deepEqual(head.find(([name]) => name === 'HTTP_ACCEPT_ENCODING'), ['HTTP_ACCEPT_ENCODING', 'gzip']);
      assert.equal(head.find(([name]) => name === 'ACCEPT_ENCODING'), undefined);
    } finally {
      await recorded.stop();
      await recorder.close();
    }

    // The pair that does decide, sent straight to the same rtorrent: 0.9.8 ignores it, 0.16.20
    // compresses and still labels the answer text/xml, which is why the gateway never sends it.
    const asked = await stack.rtorrent.raw(LIST, { extraHeaders: [['ACCEPT_ENCODING', 'gzip']] });
    if (version === '0.9.8') {
      assert.ok(asked.body.equals(viaNginx.body));
    } else {
      assert.ok(asked.body.subarray(0, 2).equals(GZIP_MAGIC), 'gzip');
      assert.equal(asked.headers['content-type'], 'text/xml');
      assert.equal(asked.headers['content-encoding'], undefined);
      assert.ok(gunzipSync(asked.body).equals(viaNginx.body), 'the same answer once decompressed');
    }
  });

  it('never passes on an SCGI client\'s own ACCEPT_ENCODING either: plain bytes, the same as nginx\'s', async () => {
    const viaNginx = await post(nginx.url('/RPC2'), LIST);
    const viaListener = await scgiRequest({ path: listener() }, LIST, {
      extraHeaders: [['ACCEPT_ENCODING', 'gzip'], ['HTTP_ACCEPT_ENCODING', 'gzip']],
    });
    assert.equal(viaListener.status, 200);
    assert.equal(viaListener.headers['content-encoding'], undefined);
    assert.ok(viaListener.body.equals(viaNginx.body), `not compressed: ${viaListener.body.subarray(0, 5).toString('latin1')}`);
  });

  it('serves the same call on /scgi, the classic nginx guide\'s path', async () => {
    const response = await post(stack.url('/scgi'), xmlCall('system.client_version'), { authorization: ADMIN });
    assert.equal(response.status, 200);
    assert.match(response.body.toString(), new RegExp(versionString));
  });

  // 0.16.20 compares CONTENT_TYPE case-sensitively and up to the first blank or ";", and closes the
  // connection on anything else (src/rpc/scgi_task.cc detect_content_type); nginx passes the
  // client's type through, the gateway always sends text/xml.
  const NGINX_FAILS_ON_0_16 = new Set(['application/xml', 'TEXT/XML']);
  it(`accepts text/xml with a charset parameter (Transdroid), application/xml and TEXT/XML${version === '0.9.8' ? '' : `, where nginx gets no answer from rtorrent ${version} for the last two`}`, async () => {
    for (const type of ['text/xml; charset=utf-8', 'application/xml', 'TEXT/XML']) {
      const { viaGateway, viaNginx } = await bothWays(xmlCall('system.client_version'), { 'content-type': type });
      assert.equal(viaGateway.status, 200, type);
      assert.match(viaGateway.body.toString(), new RegExp(versionString), type);
      if (version !== '0.9.8' && NGINX_FAILS_ON_0_16.has(type)) {
        assert.equal(viaNginx.status, 502, `nginx, ${type}`);
      } else {
        assert.equal(viaNginx.status, 200, `nginx, ${type}`);
        assert.ok(viaGateway.body.equals(viaNginx.body), type);
      }
    }
  });

  it('works with Python\'s xmlrpc.client, credentials in the URL', async () => {
    const script = [
      'import sys, xmlrpc.client',
      'p = xmlrpc.client.ServerProxy(sys.argv[1])',
      'print(p.system.client_version())',
      'print(len(p.d.multicall2("", "main", "d.hash=", "d.name=", "d.size_bytes=")))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, `http://admin:admin-secret@127.0.0.1:${stack.gateway.port}/RPC2`]);
    assert.deepEqual(stdout.trim().split('\n'), [version, String(TORRENTS)]);
  });

  it('works with Ruby\'s xmlrpc client', { skip: requireBinary('ruby') === undefined && 'ruby not installed (Debian ruby, ruby-xmlrpc)' }, async () => {
    const script = 'require "xmlrpc/client"; c = XMLRPC::Client.new2(ARGV[0]); puts c.call("system.client_version"); puts c.call("d.multicall2", "", "main", "d.name=").length';
    const { stdout } = await run('ruby', ['-e', script, `http://admin:admin-secret@127.0.0.1:${stack.gateway.port}/RPC2`]);
    assert.deepEqual(stdout.trim().split('\n'), [version, String(TORRENTS)]);
  });

  it('works with the npm xmlrpc client and basic auth', async () => {
    const client = xmlrpc.createClient({ host: '127.0.0.1', port: stack.gateway.port, path: '/RPC2', basic_auth: { user: 'admin', pass: 'admin-secret' } });
    const call = (method: string, params: unknown[]) =>
      new Promise<unknown>((resolve, reject) => client.methodCall(method, params, (error, value) => (error ? reject(error) : resolve(value))));
    assert.equal(await call('system.client_version', []), version);
    const rows = (await call('d.multicall2', ['', 'main', 'd.hash='])) as string[][];
    assert.equal(rows.length, TORRENTS);
  });

  it('works with curl, answering a client that only sends credentials after a 401 challenge', async () => {
    // --anyauth makes curl send the first request without credentials, as the Sonarr family and Transdroid do.
    const before = stack.gateway.logs.length;
    const { stdout } = await run('curl', ['-sS', '--anyauth', '-u', 'admin:admin-secret', '-H', 'Content-Type: text/xml', '--data-binary', xmlCall('system.client_version'), stack.url()]);
    assert.match(stdout, new RegExp(versionString));
    const lines = () => stack.gateway.logs.slice(before).filter((line) => line.path === '/RPC2');
    // The line of a request is written once its answer is out, which can be after curl has it.
    assert.ok(await until(() => lines().some((line) => line.status === 200), 1000), 'a log line for the call');
    const statuses = lines().map((line) => [line.status, line.user]);
    // curl's first request had no credentials (--anyauth); its 401 is logged at debug, below this
    // gateway's level, so the call with credentials is the only line it leaves.
    assert.deepEqual(statuses.slice(-1), [[200, 'admin']], 'the call with credentials, after the challenge');
    assert.equal(statuses.some(([status]) => status === 401), false, 'the challenge is not logged at info');
  });

  it('writes one JSON log line per request with user, methods, status, bytes and duration', async () => {
    const before = stack.gateway.logs.length;
    await post(stack.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    const lines = () => stack.gateway.logs.slice(before).filter((line) => line.msg === 'request');
    assert.ok(await until(() => lines().length > 0, 1000), 'a request line');
    assert.equal(lines().length, 1);
    const line = lines()[0] as Record<string, unknown>;
    assert.equal(line.user, 'admin');
    assert.deepEqual(line.methods, ['system.client_version']);
    assert.equal(line.status, 200);
    assert.ok((line.bytesOut as number) > 100);
    assert.equal(typeof line.ms, 'number');
  });
}
