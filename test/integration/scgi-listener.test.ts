/**
 * The SCGI listener against a real rtorrent 0.9.8: what an SCGI client (Flood, ruTorrent's PHP)
 * gets through it must be what rtorrent itself would answer, except that the listener's user's
 * policy is enforced, SCGI is read strictly, and nobody can hold a connection forever.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, linkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { compilePolicies } from '../../src/policy/index.js';
import { startScgiListener, type ScgiListener, type ScgiListenerOptions } from '../../src/scgi-listener/server.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';
import { Upstream } from '../../src/upstream/upstream.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, encodeScgiRequest, scgiRequest, xmlCall, XmlRpcFault } from '../helpers/scgi-direct.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const policies = compilePolicies({});
const FULL = policies.get('full')!;
const STANDARD = policies.get('standard')!;

/** Everything the listeners log, parsed, for assertions about the one-line-per-request log. */
const logs: Array<Record<string, unknown>> = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  }),
);

interface Exchange {
  /** Everything the listener sent before it closed (or before we gave up). */
  readonly data: Buffer;
  readonly closed: boolean;
  readonly error?: string;
}

/**
 * Sends raw bytes and collects the answer until the listener closes. Nothing is assumed about the
 * framing, so malformed requests can be sent as they are.
 */
function exchange(path: string, bytes: Buffer | string, opts: { halfClose?: boolean; waitMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect({ path, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false, error });
    }, opts.waitMs ?? 5000);
    socket.on('connect', () => {
      if (opts.halfClose) socket.end(bytes);
      else socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true, error });
    });
  });
}

function statusOf(data: Buffer): string {
  return data.toString('latin1').split('\r\n', 1)[0] ?? '';
}

function bodyOf(data: Buffer): string {
  const text = data.toString('utf8');
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SCGI listener in front of a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  let rtorrent: RtorrentInstance;
  let dir: string;
  let upstream: Upstream;
  let full: ScgiListener;
  let standard: ScgiListener;
  let fullPath: string;
  let standardPath: string;
  const extra: ScgiListener[] = [];

  function listen(overrides: Partial<ScgiListenerOptions> & Pick<ScgiListenerOptions, 'listen'>): Promise<ScgiListener> {
    return startScgiListener({ user: 'app', policy: STANDARD, upstream, logger, maxBodyBytes: 16 * 1024 * 1024, ...overrides }).then((listener) => {
      extra.push(listener);
      return listener;
    });
  }

  before(async () => {
    rtorrent = await startRtorrent({ torrents: 50, name: 'scgi-listener' });
    dir = makeTempDir('scgi-listener');
    // Other users must be able to reach the sockets' directory, so that only the sockets' own modes decide.
    chmodSync(dir, 0o711);
    upstream = new Upstream({ kind: 'unix', path: rtorrent.socketPath, label: `unix:${rtorrent.socketPath}` }, { timeoutMs: 10_000, maxConnections: 8, maxQueue: 256 });
    fullPath = join(dir, 'admin.sock');
    standardPath = join(dir, 'flood.sock');
    full = await startScgiListener({ listen: { kind: 'unix', path: fullPath, mode: 0o600 }, user: 'admin', policy: FULL, upstream, logger, maxBodyBytes: 16 * 1024 * 1024 });
    standard = await startScgiListener({
      listen: { kind: 'unix', path: standardPath, mode: 0o660, group: process.getgid?.() ?? 0 },
      user: 'flood',
      policy: STANDARD,
      upstream,
      logger,
      maxBodyBytes: 16 * 1024 * 1024,
    });
  });

  after(async () => {
    await Promise.all([full?.close(), standard?.close(), ...extra.map((listener) => listener.close())]);
    await rtorrent?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('reports its address and creates the socket with the configured mode and group', () => {
    assert.equal(full.address, `unix:${fullPath}`);
    assert.equal(statSync(fullPath).mode & 0o777, 0o600);
    assert.ok(statSync(fullPath).isSocket());
    assert.equal(statSync(standardPath).mode & 0o777, 0o660);
    assert.equal(statSync(standardPath).gid, process.getgid?.());
  });

  it('answers system.client_version with exactly the bytes rtorrent sends directly', async () => {
    const body = xmlCall('system.client_version');
    const direct = await scgiRequest({ path: rtorrent.socketPath }, body);
    for (const path of [fullPath, standardPath]) {
      const via = await scgiRequest({ path }, body);
      assert.ok(via.raw.equals(direct.raw), `${path}: ${JSON.stringify(via.raw.toString())}`);
    }
    assert.match(direct.raw.toString(), /^Status: 200 OK\r\nContent-Type: text\/xml\r\nContent-Length: \d+\r\n\r\n/);
  });

  it('relays a d.multicall2 over every torrent byte-identical to a direct call, for both users', async () => {
    const body = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=', 'd.custom1=', 'd.is_open=', 'cat="$t.multicall=d.hash=,t.url=,cat={|||}"']);
    const direct = await scgiRequest({ path: rtorrent.socketPath }, body);
    const viaFull = await scgiRequest({ path: fullPath }, body);
    const viaStandard = await scgiRequest({ path: standardPath }, body);
    assert.ok(viaFull.raw.equals(direct.raw));
    assert.ok(viaStandard.raw.equals(direct.raw));
    const rows = decodeXmlRpcResponse(viaStandard.body) as string[][];
    assert.deepEqual(rows.map((row) => row[0]).sort(), [...rtorrent.infoHashes].sort());
  });

  it('relays an answer too large to be read whole (over 64 KiB) byte-identical to a direct call, chunk by chunk', async () => {
    const fields = Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? 'd.hash=' : 'd.name='));
    const body = xmlCall('d.multicall2', ['', 'main', ...fields]);
    const direct = await scgiRequest({ path: rtorrent.socketPath }, body);
    assert.ok(direct.body.length > WHOLE_ANSWER_MAX_BYTES, `the answer is ${direct.body.length} bytes`);
    const via = await scgiRequest({ path: standardPath }, body);
    assert.ok(via.raw.equals(direct.raw));
  });

  it('relays rtorrent\'s own faults unchanged', async () => {
    const body = xmlCall('d.name', ['0000000000000000000000000000000000000000']);
    const direct = await scgiRequest({ path: rtorrent.socketPath }, body);
    const via = await scgiRequest({ path: standardPath }, body);
    assert.match(via.body.toString(), /<fault>/);
    assert.ok(via.raw.equals(direct.raw));
  });

  it('accepts the half-close Flood does after writing, and ruTorrent\'s header without CONTENT_TYPE', async () => {
    const body = xmlCall('system.client_version');
    const flood = await exchange(standardPath, encodeScgiRequest(body), { halfClose: true });
    assert.equal(statusOf(flood.data), 'Status: 200 OK');
    assert.match(bodyOf(flood.data), /0\.9\.8/);
    const rutorrent = await exchange(standardPath, encodeScgiRequest(body, { contentType: null, extraHeaders: [['UNTRUSTED_CONNECTION', '0']] }));
    assert.ok(rutorrent.closed, 'closed after the answer, so a client reading to EOF finishes');
    assert.match(bodyOf(rutorrent.data), /0\.9\.8/);
  });

  it('refuses execute.throw for the standard user with a fault, and nothing runs', async () => {
    const marker = join(dir, 'marker-standard');
    for (const body of [
      xmlCall('execute.throw', ['', 'touch', marker]),
      xmlCall('d.multicall2', ['', 'main', 'd.hash=', `execute.throw=touch,${marker}`]),
      xmlCall('system.multicall', [[]]).replace('<data></data>', `<data><value><struct><member><name>methodName</name><value><string>execute.throw</string></value></member><member><name>params</name><value><array><data><value><string></string></value><value><string>touch</string></value><value><string>${marker}</string></value></data></array></value></member></struct></value></data>`),
    ]) {
      const response = await scgiRequest({ path: standardPath }, body);
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-type'], 'text/xml');
      assert.equal(Number(response.headers['content-length']), response.body.length);
      assert.throws(
        () => decodeXmlRpcResponse(response.body),
        (error: unknown) => error instanceof XmlRpcFault && error.faultCode === -32403 && /execute\.throw is not allowed for user "flood" \(policy "standard"\)/.test(error.faultString),
      );
    }
    // Give a background execute every chance to show up before concluding it never ran.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(existsSync(marker), false);
    const isDenial = (line: Record<string, unknown>): boolean => line.msg === 'call denied' && line.user === 'flood';
    await waitFor(() => logs.some(isDenial));
    const denial = logs.find(isDenial)!;
    assert.equal(denial.level, 40);
    assert.deepEqual(denial.methods, ['execute.throw']);
    assert.equal(denial.outcome, 'denied');
  });

  it('lets the full user run execute.throw (the listener forwards, it does not filter by itself)', async () => {
    const marker = join(dir, 'marker-full');
    const response = await scgiRequest({ path: fullPath }, xmlCall('execute.throw', ['', 'touch', marker]));
    assert.equal(decodeXmlRpcResponse(response.body), 0);
    assert.equal(existsSync(marker), true);
  });

  it('serves 200 clients at once through its 8 upstream connections, each with rtorrent\'s answer', async () => {
    // Its own listener: 200 at once is over the default maxConnections (128), which would drop some.
    const path = join(dir, 'burst.sock');
    await listen({ listen: { kind: 'unix', path }, maxConnections: 256 });
    const body = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=']);
    const direct = await scgiRequest({ path: rtorrent.socketPath }, body);
    const answers = await Promise.all(Array.from({ length: 200 }, () => scgiRequest({ path }, body, { timeoutMs: 30_000 })));
    // Up to 8 + 256 wait their turn; past that the listener would answer 503 (upstream busy).
    for (const answer of answers) assert.ok(answer.raw.equals(direct.raw), statusOf(answer.raw));
    assert.equal(upstream.inFlight, 0);
  });

  it('logs one line per request with user, methods, outcome, bytes and time', async () => {
    const before = logs.length;
    await scgiRequest({ path: standardPath }, xmlCall('system.client_version'));
    // Lines are written at close, so earlier tests' lines may still be arriving: pick ours.
    const mine = (entry: Record<string, unknown>): boolean =>
      entry.msg === 'request' && entry.user === 'flood' && (entry.methods as string[])[0] === 'system.client_version';
    await waitFor(() => logs.slice(before).some(mine));
    const line = logs.slice(before).find(mine)!;
    assert.equal(line.level, 30);
    assert.equal(line.user, 'flood');
    assert.equal(line.policy, 'standard');
    assert.equal(line.listener, `unix:${standardPath}`);
    assert.deepEqual(line.methods, ['system.client_version']);
    assert.equal(line.outcome, 'relayed');
    assert.equal(line.status, 200);
    assert.ok((line.bytesIn as number) > 0 && (line.bytesOut as number) > 0 && typeof line.ms === 'number');
  });

  it('answers malformed SCGI with 400 and closes, without crashing', async () => {
    const body = xmlCall('system.client_version');
    const block = (pairs: string[][]): string => pairs.map(([k, v]) => `${k}\0${v}\0`).join('');
    const cases: Array<[string, Buffer | string]> = [
      ['an HTTP request', 'POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['a hex netstring length', `0x1d:${block([['CONTENT_LENGTH', String(body.length)]])},${body}`],
      ['CONTENT_LENGTH not first', (() => { const b = block([['SCGI', '1'], ['CONTENT_LENGTH', String(body.length)]]); return `${b.length}:${b},${body}`; })()],
      ['no comma after the block', (() => { const b = block([['CONTENT_LENGTH', String(body.length)]]); return `${b.length}:${b} ${body}`; })()],
      ['a duplicate header', (() => { const b = block([['CONTENT_LENGTH', String(body.length)], ['HTTP_COOKIE', 'a'], ['HTTP_COOKIE', 'b']]); return `${b.length}:${b},${body}`; })()],
    ];
    for (const [name, bytes] of cases) {
      const result = await exchange(standardPath, bytes);
      assert.ok(result.closed, `${name}: closed`);
      assert.match(statusOf(result.data), /^Status: 400 Bad Request$/, name);
    }
    const tooBig = await exchange(standardPath, encodeScgiRequest('x'.repeat(100)).toString().replace('CONTENT_LENGTH\x00100', 'CONTENT_LENGTH\x00999999999').replace(/^\d+/, (n) => String(Number(n) + 6)));
    assert.match(statusOf(tooBig.data), /^Status: 413 /);
    const json = await exchange(standardPath, encodeScgiRequest('{"jsonrpc":"2.0","method":"system.listMethods","id":1}', { contentType: 'application/json' }));
    assert.match(statusOf(json.data), /^Status: 415 /);
    assert.match(bodyOf(json.data), /JSON-RPC is not accepted/);
    const notXmlRpc = await scgiRequest({ path: standardPath }, '<html/>');
    assert.throws(() => decodeXmlRpcResponse(notXmlRpc.body), XmlRpcFault);
    // Still serving.
    assert.match((await scgiRequest({ path: standardPath }, xmlCall('system.client_version'))).body.toString(), /0\.9\.8/);
  });

  it('answers a body that stops short and then idles with 408 after the idle timeout', async () => {
    const path = join(dir, 'short.sock');
    await listen({ listen: { kind: 'unix', path }, idleTimeoutMs: 300 });
    const full = encodeScgiRequest(xmlCall('system.client_version'));
    const started = Date.now();
    const result = await exchange(path, full.subarray(0, full.length - 10));
    const elapsed = Date.now() - started;
    assert.ok(result.closed);
    assert.match(statusOf(result.data), /^Status: 408 /);
    assert.ok(elapsed >= 250 && elapsed < 3000, `${elapsed} ms`);
    // A client that connects and never says anything is dropped the same way.
    const silent = await exchange(path, Buffer.alloc(0));
    assert.ok(silent.closed);
  });

  it('closes a slowloris that keeps trickling within the idle timeout at the request deadline', async () => {
    const path = join(dir, 'slow.sock');
    await listen({ listen: { kind: 'unix', path }, idleTimeoutMs: 1000, requestTimeoutMs: 400 });
    const bytes = encodeScgiRequest(xmlCall('system.client_version'));
    const result = await new Promise<Exchange>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect({ path });
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < bytes.length && !socket.destroyed) socket.write(bytes.subarray(sent, ++sent));
      }, 50);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(drip);
        resolve({ data: Buffer.concat(chunks), closed: true });
      });
    });
    assert.match(statusOf(result.data), /^Status: 408 /);
  });

  it('answers a request truncated by a half-close with 400', async () => {
    const bytes = encodeScgiRequest(xmlCall('system.client_version'));
    const result = await exchange(standardPath, bytes.subarray(0, 30), { halfClose: true });
    assert.match(statusOf(result.data), /^Status: 400 /);
  });

  it('answers 502 with a text body when rtorrent is unreachable', async () => {
    const gone = new Upstream({ kind: 'unix', path: join(dir, 'no-rtorrent.sock'), label: 'unix:nowhere' }, { timeoutMs: 2000, maxConnections: 1, maxQueue: 1 });
    const path = join(dir, 'down.sock');
    await listen({ listen: { kind: 'unix', path }, upstream: gone });
    const result = await exchange(path, encodeScgiRequest(xmlCall('system.client_version')));
    assert.equal(statusOf(result.data), 'Status: 502 Bad Gateway');
    assert.match(bodyOf(result.data), /does not exist/);
  });

  it('listens on loopback TCP when asked, and refuses any other address', async () => {
    const listener = await listen({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
    const match = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(listener.address);
    assert.ok(match, listener.address);
    const response = await scgiRequest({ host: '127.0.0.1', port: Number(match[1]) }, xmlCall('system.client_version'));
    assert.match(response.body.toString(), /0\.9\.8/);
    await assert.rejects(listen({ listen: { kind: 'tcp', host: '0.0.0.0' as '127.0.0.1', port: 0 } }), /only offered on loopback/);
  });

  it('replaces a stale socket file, but not a live socket or a regular file', async () => {
    // A stale socket: a second name for a bound socket survives when the server closes.
    const stale = join(dir, 'stale.sock');
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(join(dir, 'holder.sock'), resolve));
    linkSync(join(dir, 'holder.sock'), stale);
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    assert.ok(statSync(stale).isSocket());
    const replaced = await listen({ listen: { kind: 'unix', path: stale, mode: 0o640 } });
    assert.equal(statSync(stale).mode & 0o777, 0o640);
    assert.match((await scgiRequest({ path: stale }, xmlCall('system.client_version'))).body.toString(), /0\.9\.8/);

    await assert.rejects(listen({ listen: { kind: 'unix', path: stale } }), /another process is listening/);
    assert.match((await scgiRequest({ path: stale }, xmlCall('system.client_version'))).body.toString(), /0\.9\.8/, 'the live one survives');

    const regular = join(dir, 'regular-file');
    writeFileSync(regular, 'keep me');
    await assert.rejects(listen({ listen: { kind: 'unix', path: regular } }), /not a socket/);
    assert.equal(readFileSync(regular, 'utf8'), 'keep me');

    await replaced.close();
    assert.equal(existsSync(stale), false, 'close() removes its own socket file');
  });

  it('refuses a mode with more than permission bits, an unknown group, and leaves nothing behind', async () => {
    const path = join(dir, 'bad.sock');
    await assert.rejects(listen({ listen: { kind: 'unix', path, mode: 0o4660 } }), /mode/);
    await assert.rejects(listen({ listen: { kind: 'unix', path, group: 'no-such-group-rtg' } }), /no group named "no-such-group-rtg"/);
    assert.equal(existsSync(path), false);
  });

  it('lets the socket\'s permissions decide who may connect', { skip: process.getuid?.() !== 0 && 'needs root to connect as another user' }, async () => {
    const attempt = (path: string): Promise<string> =>
      new Promise((resolve) => {
        const script = `const s=require('net').connect(process.argv[1]);s.on('connect',()=>{console.log('connected');s.destroy()});s.on('error',e=>console.log(e.code))`;
        const child = spawn(process.execPath, ['-e', script, path], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('exit', () => resolve(out.trim()));
      });
    assert.equal(await attempt(fullPath), 'EACCES', 'mode 0600 keeps nobody out');
    const open = join(dir, 'open.sock');
    await listen({ listen: { kind: 'unix', path: open, mode: 0o666 } });
    assert.equal(await attempt(open), 'connected');
    assert.ok(logs.some((line) => line.level === 40 && /writable by every local user/.test(String(line.msg))));
  });

  it('closes connections over maxConnections at once, as rtorrent does when its slots are full', async () => {
    const path = join(dir, 'capped.sock');
    await listen({ listen: { kind: 'unix', path }, maxConnections: 2 });
    const idle = [connect({ path }), connect({ path })];
    await Promise.all(idle.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = await exchange(path, encodeScgiRequest(xmlCall('system.client_version')), { waitMs: 2000 });
    assert.ok(third.closed);
    assert.equal(third.data.length, 0);
    for (const socket of idle) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match((await scgiRequest({ path }, xmlCall('system.client_version'))).body.toString(), /0\.9\.8/);
  });
});
