/**
 * Compressed answers (server.compress): for a client whose Accept-Encoding asks for gzip or br, a
 * large answer of rtorrent's leaves the gateway compressed, with Vary: Accept-Encoding; a client that
 * does not ask gets rtorrent's bytes as they are. Against a real rtorrent (0.9.8, and 0.16.20 where it
 * is built: the release that would compress itself if it were asked, which the gateway never does),
 * with nginx `scgi_pass` (no gzip) in front of the same rtorrent as the anchor for the plain bytes,
 * and real clients: curl, Python's xmlrpc.client (asks for gzip and decodes it by itself), the npm
 * xmlrpc package (does not ask). Then what a real rtorrent cannot be made to show, with a fake SCGI
 * peer: a client that stops reading, an answer without Content-Length over the size limit, an answer
 * cut short.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import xmlrpc from 'xmlrpc';
import { loadConfig } from '../../src/config/load.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';
import { RUTORRENT_LIST } from '../helpers/client-calls.js';
import { fakePeerStack } from '../helpers/fake-stack.js';
import { basicAuth, post } from '../helpers/gateway.js';
import { startNginx, type NginxInstance } from '../helpers/nginx.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, type RtorrentBuild } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';
import { until } from '../helpers/wait.js';

const run = promisify(execFile);
// Both throw in CI when missing, so the file fails there instead of skipping.
const BUILDS = rtorrentBuilds();
const haveNginx = requireBinary('nginx') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const TORRENTS = 300;

/** ruTorrent's torrent list: well over 64 KiB at 300 torrents, so it is streamed. */
const LIST = xmlCall('d.multicall2', ['', 'main', ...RUTORRENT_LIST]);
/** One column: between the threshold and 64 KiB, so it is read whole. */
const HASHES = xmlCall('d.multicall2', ['', 'main', 'd.hash=']);
const VERSION = xmlCall('system.client_version');

interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The bytes as they came over the wire, not decoded. */
  readonly body: Buffer;
  /** The HTTP message ended properly (Content-Length reached, or the last chunk seen). */
  readonly complete: boolean;
}

/** A POST that keeps the body as sent: Node's http client decodes nothing and asks for nothing. */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'text/xml', ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', () => undefined);
      response.on('close', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), complete: response.complete }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

if (BUILDS.length === 0 || !haveNginx) describe('compressed answers from a real rtorrent', { skip: 'rtorrent or nginx not installed' }, () => undefined);
else for (const build of BUILDS) describe(`compressed answers from a real rtorrent ${build.version}`, () => suite(build));

function suite(build: RtorrentBuild): void {
  const stack = withStack({ rtorrent: { build, torrents: TORRENTS, name: 'compression' } });
  let nginx: NginxInstance;
  /** nginx's answers: what every client must end up with. */
  const plain = new Map<string, Buffer>();

  before(async () => {
    nginx = await startNginx({ upstreamSocket: stack.rtorrent.socketPath, paths: ['/RPC2'] });
    for (const call of [LIST, HASHES, VERSION]) plain.set(call, (await rawPost(nginx.url(), call, {})).body);
  });
  after(async () => {
    await nginx?.stop();
  });

  /** The first call's log line written since `from`, once it is there. */
  async function lineSince(from: number): Promise<Record<string, unknown>> {
    const line = () => stack.gateway.logs.slice(from).find((entry) => entry.msg === 'request' && entry.path === '/RPC2');
    assert.ok(await until(() => line() !== undefined, 2000), 'a request line');
    return line() as Record<string, unknown>;
  }

  it('gives curl --compressed the list in the coding it prefers (br), with Vary, decoding to nginx\'s bytes', async () => {
    const { stdout } = await run(
      'curl',
      ['-sS', '--compressed', '-D', '-', '-o', join(stack.gateway.dir, 'curl-body'), '-u', 'admin:admin-secret', '-H', 'Content-Type: text/xml', '--data-binary', LIST, stack.url()],
      { maxBuffer: 1024 * 1024 },
    );
    assert.match(stdout, /^HTTP\/1\.1 200/);
    assert.match(stdout, /\r\ncontent-encoding: br\r\n/i);
    assert.match(stdout, /\r\nvary: Accept-Encoding\r\n/i);
    assert.ok(readFileSync(join(stack.gateway.dir, 'curl-body')).equals(plain.get(LIST) as Buffer), 'decoded by curl: nginx\'s bytes');
  });

  it('streams the list gzip-compressed, chunked without Content-Length, to a client that asks only for gzip', async () => {
    const answer = await rawPost(stack.url(), LIST, { authorization: ADMIN, 'accept-encoding': 'gzip' });
    const identity = plain.get(LIST) as Buffer;
    assert.ok(identity.length > WHOLE_ANSWER_MAX_BYTES, `an answer large enough to be streamed (${identity.length} bytes)`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.headers['content-length'], undefined);
    assert.equal(answer.headers['transfer-encoding'], 'chunked');
    assert.equal(answer.headers['content-type'], 'text/xml');
    assert.ok(answer.complete);
    assert.ok(answer.body.length < identity.length / 5, `${answer.body.length} bytes for ${identity.length}`);
    assert.ok(gunzipSync(answer.body).equals(identity), 'nginx\'s bytes once decoded');
  });

  it('sends an answer read whole compressed with its compressed Content-Length', async () => {
    const identity = plain.get(HASHES) as Buffer;
    assert.ok(identity.length > 1024 && identity.length <= WHOLE_ANSWER_MAX_BYTES, `${identity.length} bytes`);
    const answer = await rawPost(stack.url(), HASHES, { authorization: ADMIN, 'accept-encoding': 'gzip, deflate' });
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.headers['content-length'], String(answer.body.length));
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.ok(gunzipSync(answer.body).equals(identity));
  });

  it('lets Python\'s xmlrpc.client, which asks for gzip by itself, get the list compressed and decode it', async () => {
    const from = stack.gateway.logs.length;
    const script = ['import sys, xmlrpc.client', 'p = xmlrpc.client.ServerProxy(sys.argv[1])', `print(len(p.d.multicall2("", "main", ${RUTORRENT_LIST.map((field) => JSON.stringify(field)).join(', ')})))`].join('\n');
    const { stdout } = await run('python3', ['-c', script, `http://admin:admin-secret@127.0.0.1:${stack.gateway.port}/RPC2`]);
    assert.equal(stdout.trim(), String(TORRENTS));
    const line = await lineSince(from);
    assert.equal(line.encoding, 'gzip');
    assert.ok((line.bytesOut as number) < (plain.get(LIST) as Buffer).length / 5, 'compressed bytes went out');
  });

  it('gives the npm xmlrpc package, which does not ask, the list as rtorrent sent it', async () => {
    const from = stack.gateway.logs.length;
    const client = xmlrpc.createClient({ host: '127.0.0.1', port: stack.gateway.port, path: '/RPC2', basic_auth: { user: 'admin', pass: 'admin-secret' } });
    const rows = await new Promise<unknown[]>((resolve, reject) =>
      client.methodCall('d.multicall2', ['', 'main', ...RUTORRENT_LIST], (error, value) => (error ? reject(error) : resolve(value as unknown[]))),
    );
    assert.equal(rows.length, TORRENTS);
    const line = await lineSince(from);
    assert.equal(line.encoding, undefined);
    assert.equal(line.bytesOut, (plain.get(LIST) as Buffer).length);
  });

  it('sends rtorrent\'s own bytes and Content-Length to a client without Accept-Encoding, with Vary for caches', async () => {
    const answer = await rawPost(stack.url(), LIST, { authorization: ADMIN });
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.headers['content-length'], String((plain.get(LIST) as Buffer).length));
    assert.ok(answer.body.equals(plain.get(LIST) as Buffer));
  });

  it('honours refusals: gzip;q=0 and identity-only clients get plain bytes', async () => {
    for (const acceptEncoding of ['gzip;q=0', 'identity', 'br;q=0, gzip;q=0, deflate']) {
      const answer = await rawPost(stack.url(), LIST, { authorization: ADMIN, 'accept-encoding': acceptEncoding });
      assert.equal(answer.headers['content-encoding'], undefined, acceptEncoding);
      assert.ok(answer.body.equals(plain.get(LIST) as Buffer), acceptEncoding);
    }
  });

  it('leaves small answers uncompressed, with their Content-Length, even for a client that asks', async () => {
    const answer = await rawPost(stack.url(), VERSION, { authorization: ADMIN, 'accept-encoding': 'gzip' });
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers['content-length'], String((plain.get(VERSION) as Buffer).length));
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.ok(answer.body.equals(plain.get(VERSION) as Buffer));
  });

  it('leaves its own faults uncompressed', async () => {
    const answer = await rawPost(stack.url(), xmlCall('execute.throw', ['', 'sh', '-c', 'true']), { authorization: basicAuth('viewer', 'viewer-secret'), 'accept-encoding': 'gzip' });
    assert.equal(answer.headers['x-gateway-error'], 'GW_POLICY_DENIED');
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers.vary, undefined);
    assert.match(answer.body.toString(), /<fault>/);
  });

  it('stops compressing, and says nothing of Accept-Encoding, once a reload turns server.compress off; and starts again', async () => {
    const off = join(stack.gateway.dir, 'compress-off.toml');
    writeFileSync(off, readFileSync(stack.gateway.configPath, 'utf8').replace('[server]', '[server]\ncompress = false'));
    try {
      assert.deepEqual((await stack.gateway.app.gateway.reload(loadConfig({ file: off }))).restartNeeded, []);
      const answer = await rawPost(stack.url(), LIST, { authorization: ADMIN, 'accept-encoding': 'gzip' });
      assert.equal(answer.headers['content-encoding'], undefined);
      assert.equal(answer.headers.vary, undefined);
      assert.ok(answer.body.equals(plain.get(LIST) as Buffer));
    } finally {
      await stack.gateway.app.gateway.reload(loadConfig({ file: stack.gateway.configPath }));
    }
    const again = await rawPost(stack.url(), LIST, { authorization: ADMIN, 'accept-encoding': 'gzip' });
    assert.equal(again.headers['content-encoding'], 'gzip');
  });

  it('answers fetch, which asks for gzip and decodes it, with nginx\'s bytes', async () => {
    const answer = await post(stack.url(), LIST, { authorization: ADMIN });
    assert.equal(answer.headers.get('content-encoding'), 'gzip');
    assert.ok(answer.body.equals(plain.get(LIST) as Buffer));
  });
}

describe('compressed answers: what a real rtorrent cannot be made to show (fake SCGI peer)', { timeout: 60_000 }, () => {
  const stack = fakePeerStack({
    users: { admin: { password: 'admin-secret', policy: 'full' }, capped: { password: 'capped-secret', policy: 'capped' } },
    extraToml: ['[policies.capped]', 'extends = "readonly"', 'max_answer_bytes = "256KiB"'].join('\n'),
  });
  after(() => stack.close());
  const withFake = stack.start;

  it('holds rtorrent\'s answer back while the client reads nothing, and relays all of it once the client reads again', async () => {
    // Base64 text barely compresses, so what the gateway takes in cannot hide in a small output.
    const total = 64 * 1024 * 1024;
    const text = Buffer.from(randomBytes((total * 3) / 4).toString('base64'));
    let sent = 0;
    const gw = await withFake((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${total}\r\n\r\n`);
      const pump = (): void => {
        while (sent < total && !socket.destroyed) {
          const piece = text.subarray(sent, sent + 256 * 1024);
          sent += piece.length;
          if (!socket.write(piece)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (sent >= total) socket.end();
      };
      pump();
    });
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const request = httpRequest(gw.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml', 'accept-encoding': 'gzip' } }, (response) => {
        const chunks: Buffer[] = [];
        response.once('data', (chunk: Buffer) => {
          chunks.push(chunk);
          response.pause();
          // Until the peer's writes stop getting anywhere: then everything in between is full.
          void (async () => {
            let last = -1;
            while (sent !== last) {
              last = sent;
              await new Promise((wait) => setTimeout(wait, 200));
            }
            assert.ok(sent < total / 4, `${sent} of ${total} bytes left rtorrent's side while the client read nothing`);
            response.on('data', (more: Buffer) => chunks.push(more));
            response.resume();
          })().catch(reject);
        });
        response.on('end', () => resolve(Buffer.concat(chunks)));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(VERSION);
    });
    assert.ok(gunzipSync(answer).equals(text));
  });

  it('closes rtorrent\'s connection when the client leaves in the middle of a compressed answer', async () => {
    let upstreamClosed: Promise<void> = Promise.resolve();
    const gw = await withFake((socket) => {
      upstreamClosed = new Promise((resolve) => socket.once('close', () => resolve()));
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      const chunk = Buffer.from('<value><string>Some.Show.S01E01.1080p.WEB-DL</string></value>'.repeat(4096));
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
    const coding = await new Promise<string | undefined>((resolve, reject) => {
      const request = httpRequest(gw.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml', 'accept-encoding': 'gzip' } }, (response) => {
        response.once('data', () => {
          request.destroy();
          resolve(response.headers['content-encoding']);
        });
      });
      request.on('error', () => undefined);
      request.end(VERSION);
      setTimeout(() => reject(new Error('no data')), 5000);
    });
    assert.equal(coding, 'gzip');
    const closed = await Promise.race([upstreamClosed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 3000))]);
    assert.equal(closed, true, 'the upstream socket was closed');
    assert.ok(await until(() => gw.app.gateway.upstream.inFlight === 0), 'the call no longer holds its slot');
  });

  it('cuts an answer sent without Content-Length where rtorrent\'s bytes pass max_answer_bytes, however small they compress', async () => {
    // 1 MiB of text that compresses to a few KiB: the compressed bytes never reach the limit.
    const body = Buffer.from(`<?xml version="1.0"?><methodResponse><params><param><value><array><data>${'<value><string>Some.Show.S01E01.1080p.WEB-DL</string></value>'.repeat(16_000)}</data></array></value></param></params></methodResponse>`);
    const gw = await withFake((socket) => socket.end(Buffer.concat([Buffer.from('Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n'), body])));
    const from = gw.logs.length;
    const answer = await rawPost(gw.url(), VERSION, { authorization: basicAuth('capped', 'capped-secret'), 'accept-encoding': 'gzip' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.complete, false, 'the connection closed before the last chunk');
    assert.throws(() => gunzipSync(answer.body), /unexpected end of file/);
    const line = () => gw.logs.slice(from).find((entry) => entry.msg === 'call over a limit');
    assert.ok(await until(() => line() !== undefined), 'a warn line');
    assert.equal(line()?.outcome, 'answer_too_large');
    assert.match(String(line()?.problem), /over the limit of 262144 \(policies\.capped\.max_answer_bytes\)/);
  });

  it('refuses an answer whose Content-Length is over max_answer_bytes with a fault, compressed or not', async () => {
    const size = 512 * 1024;
    const gw = await withFake((socket) => socket.end(Buffer.concat([Buffer.from(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${size}\r\n\r\n`), Buffer.alloc(size, 'a')])));
    const answer = await rawPost(gw.url(), VERSION, { authorization: basicAuth('capped', 'capped-secret'), 'accept-encoding': 'gzip' });
    assert.equal(answer.headers['x-gateway-error'], 'GW_ANSWER_TOO_LARGE');
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.match(answer.body.toString(), /is 524288 bytes, over the limit of 262144/);
  });

  it('never passes off a compressed answer cut short upstream as complete: no last chunk, no end of the coding', async () => {
    const gw = await withFake((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${WHOLE_ANSWER_MAX_BYTES * 4}\r\n\r\n`);
      socket.end('<value><string>x</string></value>'.repeat(4000));
    });
    const answer = await rawPost(gw.url(), VERSION, { authorization: ADMIN, 'accept-encoding': 'gzip' });
    assert.equal(answer.status, 200, 'the head was relayed before rtorrent stopped');
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.complete, false);
    assert.throws(() => gunzipSync(answer.body), /unexpected end of file/);
  });
});
