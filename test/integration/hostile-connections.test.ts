/**
 * Hostile connections: slowloris headers, bodies trickled a byte at a time, idle keep-alive
 * sockets by the hundred, clients that stop reading or vanish in the middle of a large answer,
 * and more connections than limits.max_connections.
 *
 * 1. A bare Fastify app built with src/http/server-limits.ts shows what each option does, and
 *    that Fastify's defaults alone would not cut a trickled body off.
 * 2. The real gateway with short [limits] from its config file, in front of a fake SCGI peer.
 * 3. The real gateway with its defaults in front of a real rtorrent: idle sockets and vanishing
 *    clients leak nothing.
 * Limits are short here (a second or less) so the file stays fast.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { ServerLimits } from '../../src/config/limits.js';
import { applyServerLimits, fastifyServerOptions } from '../../src/http/server-limits.js';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { rtorrentStyleReply, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const VERSION_CALL = xmlCall('system.client_version');
/** Generous: a connection still open after this has hung. */
const NO_HANG_MS = 10_000;

/** Short limits, so each case takes about a second. */
const LIMITS: ServerLimits = {
  headersTimeoutMs: 300,
  requestTimeoutMs: 800,
  keepAliveTimeoutMs: 200,
  idleTimeoutMs: 1000,
  maxConnections: 8,
};

type Target = { readonly port: number } | { readonly path: string };

interface Exchange {
  /** Everything the server sent, as latin1. */
  readonly text: string;
  /** From connect to close. */
  readonly ms: number;
  /** Set when the connection was still open at the deadline (and we closed it). */
  readonly stillOpen: boolean;
  readonly error: string | undefined;
}

/** Opens a raw connection, lets `script` talk, and resolves when the server closes it (or at `deadlineMs`). */
function exchange(target: Target, script: (socket: Socket) => void, deadlineMs = NO_HANG_MS): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
    const chunks: Buffer[] = [];
    let stillOpen = false;
    let error: string | undefined;
    const deadline = setTimeout(() => {
      stillOpen = true;
      socket.destroy();
    }, deadlineMs);
    socket.once('connect', () => script(socket));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.once('close', () => {
      clearTimeout(deadline);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ms: performance.now() - started, stillOpen, error });
    });
  });
}

/** Writes `text` one piece per `everyMs` until the socket closes. */
function trickle(socket: Socket, first: string, piece: string, everyMs = 100): void {
  socket.write(first);
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) clearInterval(timer);
    else socket.write(piece);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];
}

function openFds(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function until(condition: () => boolean, ms = NO_HANG_MS): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(lines: Array<Record<string, unknown>>): pino.Logger {
  return pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    }),
  );
}

/** Holds `count` connections that have connected and sent nothing. */
async function holdConnections(target: Target, count: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
          socket.on('error', () => undefined);
          socket.once('connect', () => resolve(socket));
          socket.once('close', () => reject(new Error('closed before connecting')));
        }),
    ),
  );
}

/** One request with node:http, no agent: status, or the error code when the connection was dropped. */
function plainCall(port: number, headers: Record<string, string> = {}, path = '/RPC2'): Promise<{ status?: number; error?: string; body?: string }> {
  return new Promise((resolve) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'text/xml', ...headers } },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode, body }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.setTimeout(NO_HANG_MS, () => request.destroy(new Error('no answer')));
    request.end(VERSION_CALL);
  });
}

describe('server limits on a bare Fastify app (src/http/server-limits.ts)', { timeout: 60_000 }, () => {
  let app: FastifyInstance;
  let port: number;
  const lines: Array<Record<string, unknown>> = [];
  let streamClosed: Promise<number> = Promise.resolve(0);

  before(async () => {
    app = Fastify({ loggerInstance: capturingLogger(lines), ...fastifyServerOptions(LIMITS) }) as unknown as FastifyInstance;
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.post('/echo', async (request) => `${(request.body as Buffer).length} bytes\n`);
    // Answers before reading the body, as the gateway's authentication does.
    app.post('/guarded', { onRequest: async (_request, reply) => reply.code(401).send('no\n') }, async () => 'unreachable');
    app.get('/stream', async (_request, reply) => {
      let sent = 0;
      const source = new Readable({
        read() {
          this.push(sent++ < 1024 ? Buffer.alloc(64 * 1024, 0x61) : null);
        },
      });
      streamClosed = new Promise((resolve) => source.once('close', () => resolve(sent)));
      return reply.send(source);
    });
    applyServerLimits(app.server, LIMITS, app.log);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app?.close();
  });

  it('closes a connection that never sends a byte with 408 naming limits.header_timeout', async () => {
    const seen = await exchange({ port }, () => undefined);
    assert.match(seen.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(seen.text, /request headers not received within 300 ms \(limits\.header_timeout\)\n$/);
    assert.equal(seen.stillOpen, false);
  });

  it('cuts off headers trickled a line at a time (slowloris) with 408 naming limits.header_timeout', async () => {
    const seen = await exchange({ port }, (socket) => trickle(socket, 'POST /echo HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: yes\r\n'));
    assert.equal(seen.stillOpen, false, 'the trickle does not keep the connection');
    assert.ok(seen.ms >= LIMITS.headersTimeoutMs - 50, `not before the limit (${seen.ms.toFixed(0)} ms)`);
    assert.match(seen.text, /408 Request Timeout[^]*\(limits\.header_timeout\)/);
    assert.ok(lines.some((line) => line.msg === 'connection refused' && line.outcome === 'header_timeout' && line.level === 40), 'and a warn line');
  });

  it('cuts off a body trickled a byte (or a chunk) at a time with 408 naming limits.request_timeout', async () => {
    const [sized, chunked] = await Promise.all([
      exchange({ port }, (socket) => trickle(socket, 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n', 'x')),
      exchange({ port }, (socket) => trickle(socket, 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n', '1\r\nx\r\n')),
    ]);
    for (const seen of [sized, chunked]) {
      assert.equal(seen.stillOpen, false);
      assert.ok(seen.ms >= LIMITS.requestTimeoutMs - 50, `not before the limit (${seen.ms.toFixed(0)} ms)`);
      assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 408 Request Timeout']);
      assert.match(seen.text, /request body not received within 800 ms \(limits\.request_timeout\)\n$/);
    }
  });

  it('answers oversized headers with 431 and a malformed request line with 400, in plain text, and closes', async () => {
    const [oversized, malformed] = await Promise.all([
      exchange({ port }, (socket) => socket.write(`GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)),
      exchange({ port }, (socket) => socket.write('\u0000\u0001 junk\r\n\r\n')),
    ]);
    assert.match(oversized.text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[^]*request headers are larger than \d+ bytes\n$/);
    assert.match(malformed.text, /^HTTP\/1\.1 400 Bad Request\r\n[^]*malformed HTTP request \(HPE_\w+\)\n$/);
    assert.equal(oversized.stillOpen || malformed.stillOpen, false);
  });

  it('adds no second answer when the body still trickles in after the route answered (a 401 before the body): it just closes', async () => {
    const seen = await exchange({ port }, (socket) =>
      trickle(socket, 'POST /guarded HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n', 'x'),
    );
    assert.equal(seen.stillOpen, false);
    assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 401 Unauthorized'], 'a 408 after a complete 401 would be read as the answer to a next request');
  });

  it('closes a kept-alive connection that stays idle past limits.keep_alive_timeout', async () => {
    const seen = await exchange({ port }, (socket) => socket.write('POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\nabc'));
    assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 200 OK']);
    assert.match(seen.text, /\r\nConnection: keep-alive\r\n/i);
    assert.equal(seen.stillOpen, false);
    // Node waits one second beyond the advertised timeout, so a client never reuses a socket being closed.
    assert.ok(seen.ms < LIMITS.keepAliveTimeoutMs + 1000 + 1000, `${seen.ms.toFixed(0)} ms`);
  });

  it('cuts a client that stops reading an answer at limits.idle_timeout, and the answer stops being produced', async () => {
    let received = 0;
    const seen = await exchange({ port }, (socket) => {
      socket.write('GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n');
      // Read the head, then nothing more: the socket buffers fill and the server can no longer write.
      socket.once('data', (chunk: Buffer) => {
        received += chunk.length;
        socket.pause();
        // A paused socket never reports its close; look at the server side instead.
        void streamClosed.then(() => socket.destroy());
      });
    });
    assert.equal(seen.stillOpen, false);
    const chunksProduced = await streamClosed;
    assert.ok(chunksProduced < 1024, `the source was destroyed after ${chunksProduced} of 1024 chunks`);
    assert.ok(seen.ms >= LIMITS.idleTimeoutMs - 100, `${seen.ms.toFixed(0)} ms`);
    assert.ok(received > 0);
  });

  it('drops connections over limits.max_connections at once: the client sees a reset and no status, and is served once others close', async () => {
    const held = await holdConnections({ port }, LIMITS.maxConnections);
    try {
      await sleep(50);
      const dropped = await plainCall(port, {}, '/echo');
      assert.equal(dropped.status, undefined);
      assert.ok(dropped.error === 'ECONNRESET' || dropped.error === 'EPIPE', `got ${JSON.stringify(dropped)}`);
      assert.ok(lines.some((line) => line.msg === 'connections refused: limits.max_connections reached' && line.maxConnections === LIMITS.maxConnections));
    } finally {
      for (const socket of held) socket.destroy();
    }
    assert.ok(await until(() => (app.server as unknown as { _connections: number })._connections === 0));
    const served = await plainCall(port, {}, '/echo');
    assert.equal(served.status, 200);
  });

  it('for contrast, Fastify\'s defaults keep a trickled body open indefinitely (requestTimeout 0)', async () => {
    const plain = Fastify() as unknown as FastifyInstance;
    plain.removeAllContentTypeParsers();
    plain.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    plain.post('/echo', async () => 'ok');
    await plain.listen({ host: '127.0.0.1', port: 0 });
    try {
      const seen = await exchange(
        { port: (plain.server.address() as { port: number }).port },
        (socket) => trickle(socket, 'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n', 'x'),
        2 * LIMITS.requestTimeoutMs,
      );
      assert.equal(seen.stillOpen, true);
    } finally {
      await plain.close();
    }
  });
});

describe('the gateway with [limits] from its config file', { timeout: 60_000 }, () => {
  let fake: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    gateway = await startGateway({
      upstream: `unix:${fake.socketPath}`,
      extraToml: `[limits]\nheader_timeout = "${LIMITS.headersTimeoutMs}ms"\nrequest_timeout = "${LIMITS.requestTimeoutMs}ms"\nkeep_alive_timeout = "${LIMITS.keepAliveTimeoutMs}ms"\nmax_connections = ${LIMITS.maxConnections}`,
    });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  it('cuts off slowloris headers with 408 naming limits.header_timeout and logs a warn line with the address', async () => {
    const seen = await exchange({ port: gateway.port }, (socket) => trickle(socket, `POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${ADMIN}\r\n`, 'X-Slow: yes\r\n'));
    assert.equal(seen.stillOpen, false);
    assert.match(seen.text, /^HTTP\/1\.1 408 Request Timeout[^]*\(limits\.header_timeout\)\n$/);
    assert.ok(gateway.logs.some((line) => line.msg === 'connection refused' && line.outcome === 'header_timeout' && line.remote === '127.0.0.1' && line.level === 40));
  });

  it('cuts off an authenticated body trickled a byte at a time with 408 naming limits.request_timeout; rtorrent sees nothing', async () => {
    const seen = await exchange({ port: gateway.port }, (socket) =>
      trickle(socket, `POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${ADMIN}\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n`, 'x'),
    );
    assert.equal(seen.stillOpen, false);
    assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 408 Request Timeout']);
    assert.match(seen.text, /\(limits\.request_timeout\)\n$/);
    assert.equal(fake.requests.length, 0);
  });

  it('closes a stranger\'s connection still trickling its body after the 401, without a second answer', async () => {
    const seen = await exchange({ port: gateway.port }, (socket) =>
      trickle(socket, 'POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n', 'x'),
    );
    assert.equal(seen.stillOpen, false);
    assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 401 Unauthorized']);
  });

  it('closes a kept-alive connection idle past limits.keep_alive_timeout', async () => {
    const seen = await exchange({ port: gateway.port }, (socket) =>
      socket.write(`POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${ADMIN}\r\nContent-Type: text/xml\r\nContent-Length: ${VERSION_CALL.length}\r\n\r\n${VERSION_CALL}`),
    );
    assert.deepEqual(statusLines(seen.text), ['HTTP/1.1 200 OK']);
    assert.equal(seen.stillOpen, false);
    assert.ok(seen.ms < LIMITS.keepAliveTimeoutMs + 1000 + 1000, `${seen.ms.toFixed(0)} ms`);
  });

  it('drops connections over limits.max_connections, says so in the log, and serves again once they close', async () => {
    const held = await holdConnections({ port: gateway.port }, LIMITS.maxConnections);
    try {
      await sleep(50);
      const dropped = await plainCall(gateway.port, { authorization: ADMIN });
      assert.equal(dropped.status, undefined, `got ${JSON.stringify(dropped)}`);
    } finally {
      for (const socket of held) socket.destroy();
    }
    assert.ok(await until(() => (gateway.app.server as unknown as { _connections: number })._connections === 0));
    assert.equal((await plainCall(gateway.port, { authorization: ADMIN })).status, 200);
    assert.ok(gateway.logs.some((line) => line.msg === 'connections refused: limits.max_connections reached' && line.maxConnections === LIMITS.maxConnections));
  });
  it('never ignores a changed [limits] on reload: either applied or reported as needing a restart', async () => {
    const changed = readFileSync(gateway.configPath, 'utf8').replace(`max_connections = ${LIMITS.maxConnections}`, `max_connections = ${LIMITS.maxConnections + 1}`);
    writeFileSync(gateway.configPath, changed);
    const result = await gateway.app.gateway.reload(loadConfig({ file: gateway.configPath }));
    assert.ok(
      result.restartNeeded.some((key) => key.startsWith('limits')) || gateway.app.server.maxConnections === LIMITS.maxConnections + 1,
      `restartNeeded: ${JSON.stringify(result.restartNeeded)}, maxConnections ${gateway.app.server.maxConnections}`,
    );
  });
});

describe('the gateway in front of a real rtorrent: idle sockets and vanishing clients', { skip: !haveRtorrent && 'rtorrent not installed', timeout: 90_000 }, () => {
  // Its session is of no interest: SIGKILL spares the 2000 session files a SIGTERM would write.
  const stack = withStack({ rtorrent: { name: 'vanish', torrents: 2000 }, discardSession: true });

  it('keeps serving a normal client while 500 kept-alive connections sit idle, and frees them all when they go', async () => {
    const fdsBefore = openFds('self');
    const idle = await holdConnections({ port: stack.gateway.port }, 500);
    try {
      // Each makes one authenticated call and then keeps its connection without a word.
      await Promise.all(
        idle.map(
          (socket) =>
            new Promise<void>((resolve, reject) => {
              socket.once('data', (chunk: Buffer) => (chunk.toString('latin1').startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(chunk.toString('latin1', 0, 80)))));
              socket.write(`POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${ADMIN}\r\nContent-Type: text/xml\r\nContent-Length: ${VERSION_CALL.length}\r\n\r\n${VERSION_CALL}`);
            }),
        ),
      );
      const started = performance.now();
      const answer = await plainCall(stack.gateway.port, { authorization: ADMIN });
      assert.equal(answer.status, 200);
      assert.ok(performance.now() - started < NO_HANG_MS);
      assert.equal(stack.gateway.app.gateway.upstream.inFlight, 0, 'idle clients hold no rtorrent connection');
    } finally {
      for (const socket of idle) socket.destroy();
    }
    assert.ok(await until(() => openFds('self') <= fdsBefore), `descriptors back to ${fdsBefore} (now ${openFds('self')})`);
  });

  it('closes rtorrent\'s connection for every client that vanishes in the middle of a 4 MB answer, and leaks no descriptor', async () => {
    // Over a Unix socket the client's buffers are small, so the answer is still being relayed when it leaves.
    const dir = makeTempDir('front');
    const path = join(dir, 'http.sock');
    const front: Server = createServer((socket) => stack.gateway.app.server.emit('connection', socket));
    await new Promise<void>((resolve) => front.listen(path, resolve));
    const fields = Array.from({ length: 5 }, () => ['d.hash=', 'd.name=', 'd.directory=', 'd.base_path=', 'd.size_bytes=', 'd.state=', 'd.custom1=', 'd.message=', 'd.ratio=', 'd.up.total=']).flat();
    const list = xmlCall('d.multicall2', ['', 'main', ...fields]);
    const vanish = (): Promise<{ announced: number; read: number }> =>
      new Promise((resolve, reject) => {
        const request = httpRequest({ socketPath: path, path: '/RPC2', method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' } }, (response) => {
          response.once('data', (chunk: Buffer) => {
            request.destroy();
            resolve({ announced: Number(response.headers['content-length']), read: chunk.length });
          });
        });
        request.on('error', () => undefined);
        request.setTimeout(NO_HANG_MS, () => reject(new Error('no answer')));
        request.end(list);
      });
    try {
      const first = await vanish();
      assert.ok(first.announced > 3_000_000 && first.read < first.announced, JSON.stringify(first));
      await until(() => stack.gateway.app.gateway.upstream.inFlight === 0);
      const fdsBefore = openFds('self');
      const rtorrentFdsBefore = openFds(stack.rtorrent.pid);
      const linesBefore = stack.gateway.logs.filter((line) => line.path === '/RPC2').length;

      for (let i = 0; i < 10; i++) await vanish();
      await Promise.all(Array.from({ length: 10 }, vanish));

      assert.ok(await until(() => stack.gateway.app.gateway.upstream.inFlight === 0), 'every upstream call released');
      assert.ok(await until(() => openFds(stack.rtorrent.pid) <= rtorrentFdsBefore), `rtorrent holds ${openFds(stack.rtorrent.pid)} descriptors, ${rtorrentFdsBefore} before`);
      assert.ok(await until(() => openFds('self') <= fdsBefore), `the gateway process holds ${openFds('self')} descriptors, ${fdsBefore} before`);
      assert.ok(
        await until(() => stack.gateway.logs.filter((line) => line.path === '/RPC2').length - linesBefore >= 20),
        'each vanished call still gets its request line (logs, metrics, audit)',
      );
      const vanished = stack.gateway.logs.filter((line) => line.path === '/RPC2').slice(linesBefore, linesBefore + 20);
      assert.deepEqual(
        vanished.map((line) => line.outcome),
        Array(20).fill('client_gone'),
        'logged as a client that left, not as a relayed answer',
      );
      for (const line of vanished) assert.ok(Number(line.bytesOut) < first.announced, `bytesOut ${String(line.bytesOut)} counts only what was sent`);
      assert.equal((await post(stack.url(), VERSION_CALL, { authorization: ADMIN })).status, 200, 'and still serves');
    } finally {
      await new Promise((resolve) => front.close(resolve));
      await removeTempDir(dir);
    }
  });
});
