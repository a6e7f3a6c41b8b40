/**
 * Upstream faults: a real rtorrent 0.9.8 killed in the middle of a large answer, restarted on the
 * same socket path, stopped (SIGSTOP), or with all of its 100 SCGI slots taken; and, from a fake
 * SCGI peer, the garbage and half answers a real rtorrent cannot be made to give. Each maps to a
 * clear 502/503/504 or to a client connection closed before the announced length, the gateway
 * recovers by itself, and a partial answer is never passed off as complete.
 *
 * Clients reach the gateway over a Unix socket here (see frontSocket): its small kernel buffers
 * mean a 4 MB answer is still on its way from rtorrent when the client has read its first chunk,
 * whereas loopback TCP can buffer tens of megabytes and let rtorrent finish before it is killed.
 */
import assert from 'node:assert/strict';
import { readdirSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { rtorrentStyleReply, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall } from '../helpers/scgi-direct.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const VERSION_CALL = xmlCall('system.client_version');
/** Generous: past this a call has hung. */
const NO_HANG_MS = 15_000;

const FIELDS = ['d.hash=', 'd.name=', 'd.directory=', 'd.base_path=', 'd.size_bytes=', 'd.state=', 'd.custom1=', 'd.message=', 'd.ratio=', 'd.up.total='];
/** ≈ 4 MB of answer over 2000 torrents. */
const BIG_LIST = xmlCall('d.multicall2', ['', 'main', ...Array.from({ length: 5 }, () => FIELDS).flat()]);

function openFds(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The gateway's own HTTP server, also reachable on a Unix socket (connections handed over as they come). */
async function frontSocket(gateway: GatewayTestInstance): Promise<{ path: string; close(): Promise<void> }> {
  const dir = makeTempDir('front');
  const path = join(dir, 'http.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    gateway.app.server.emit('connection', socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await removeTempDir(dir);
    },
  };
}

interface Received {
  readonly status: number;
  readonly contentLength: number | undefined;
  readonly bytes: number;
  /** Node's own verdict: the whole announced body arrived and the message ended normally. */
  readonly complete: boolean;
  readonly body: Buffer;
}

interface CallOptions {
  readonly socketPath?: string;
  readonly url?: string;
  /** Called once with the response after its first body chunk, paused; resume() continues reading. */
  readonly onFirstChunk?: (response: IncomingMessage) => void | Promise<void>;
}

/** One call read to the end (or to the connection's end), with what arrived and whether it was whole. */
function call(body: string, options: CallOptions): Promise<Received> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.url ?? 'http://localhost/RPC2');
    const target = options.socketPath !== undefined ? { socketPath: options.socketPath } : { host: url.hostname, port: url.port };
    const request = httpRequest(
      { ...target, path: url.pathname, method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' }, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        let first = true;
        let settled = false;
        const finish = (): void => {
          if (settled) return;
          settled = true;
          const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
          const header = response.headers['content-length'];
          resolve({
            status: response.statusCode ?? 0,
            contentLength: header === undefined ? undefined : Number(header),
            bytes,
            complete: response.complete && !response.errored,
            body: Buffer.concat(chunks),
          });
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (first && options.onFirstChunk) {
            first = false;
            response.pause();
            Promise.resolve(options.onFirstChunk(response)).catch(reject);
          }
        });
        response.on('end', finish);
        response.on('error', finish);
        response.on('close', finish);
      },
    );
    request.on('error', reject);
    request.setTimeout(NO_HANG_MS, () => request.destroy(new Error('no answer: the gateway hung')));
    request.end(body);
  });
}

/** A partial answer must never look whole: either it is complete and as long as announced, or Node saw it cut. */
function assertNeverPassedOffAsComplete(received: Received): void {
  if (received.complete && received.contentLength !== undefined) assert.equal(received.bytes, received.contentLength);
  if (received.contentLength !== undefined && received.bytes < received.contentLength) assert.equal(received.complete, false);
}

async function until(condition: () => boolean, ms = NO_HANG_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

describe('a real rtorrent killed, restarted, stopped or out of SCGI slots', { skip: !haveRtorrent && 'rtorrent not installed', timeout: 120_000 }, () => {
  describe('restarted on the same socket path', () => {
    it('answers 502 while rtorrent is down and 200 again once a new rtorrent answers on that path, without a gateway restart', async () => {
      // Like a service restart: the gateway's path is a symlink we repoint at the new instance's socket.
      const dir = makeTempDir('restart');
      const link = join(dir, 'scgi.socket');
      const first = await startRtorrent({ name: 'first', torrents: 200 });
      symlinkSync(first.socketPath, link);
      const gateway = await startGateway({ upstream: `unix:${link}`, upstreamToml: 'timeout = "5s"' });
      const front = await frontSocket(gateway);
      let second: RtorrentInstance | undefined;
      try {
        assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200);

        // Calls in flight when rtorrent dies: each ends as a 502, a clean answer, or a visibly cut one.
        const list = xmlCall('d.multicall2', ['', 'main', ...Array.from({ length: 40 }, () => FIELDS).flat()]);
        const inFlight = Array.from({ length: 8 }, () => call(list, { socketPath: front.path }));
        await until(() => gateway.app.gateway.upstream.inFlight > 0);
        first.kill('SIGKILL');
        assert.ok(await first.waitForExit(5000));
        for (const received of await Promise.all(inFlight)) {
          assert.ok(received.status === 200 || received.status === 502, `status ${received.status}`);
          assertNeverPassedOffAsComplete(received);
        }

        const stale = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
        assert.equal(stale.status, 502);
        assert.match(stale.body.toString(), /connection refused .*stale socket file/);

        await first.stop();
        const gone = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
        assert.equal(gone.status, 502);
        assert.match(gone.body.toString(), /SCGI socket unix:\S+ does not exist/);
        const health = await fetch(gateway.url('/healthz'));
        assert.equal(health.status, 503);

        second = await startRtorrent({ name: 'second' });
        symlinkSync(second.socketPath, `${link}.new`);
        renameSync(`${link}.new`, link);
        const back = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
        assert.equal(back.status, 200);
        assert.equal(decodeXmlRpcResponse(back.body), '0.9.8');
        assert.deepEqual(decodeXmlRpcResponse((await post(gateway.url(), xmlCall('download_list', ['']), { authorization: ADMIN })).body), [], 'the new instance answers');
        await until(() => gateway.app.gateway.upstream.inFlight === 0);
      } finally {
        await front.close();
        await gateway.close();
        await first.stop();
        await second?.stop();
        unlinkSync(link);
        await removeTempDir(dir);
      }
    });
  });

  describe('stopped (SIGSTOP), out of slots, then killed (SIGKILL)', () => {
    let rtorrent: RtorrentInstance;
    let gateway: GatewayTestInstance;
    let front: Awaited<ReturnType<typeof frontSocket>>;

    before(async () => {
      rtorrent = await startRtorrent({ name: 'hostile', torrents: 2000 });
      gateway = await startGateway({ upstream: `unix:${rtorrent.socketPath}`, upstreamToml: 'timeout = "1s"\nmax_connections = 2\nmax_queue = 8' });
      front = await frontSocket(gateway);
    });
    after(async () => {
      if (rtorrent?.running()) rtorrent.kill('SIGCONT');
      await front?.close();
      await gateway?.close();
      await rtorrent?.stop();
    });

    it('answers every caller of a stopped rtorrent with 504 (or 503 once the queue wait runs out), none hangs, and recovers after SIGCONT', async () => {
      rtorrent.kill('SIGSTOP');
      try {
        const started = Date.now();
        const answers = await Promise.all(Array.from({ length: 6 }, () => post(gateway.url(), VERSION_CALL, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS))));
        for (const answer of answers) {
          assert.ok(answer.status === 504 || answer.status === 503, `status ${answer.status}`);
          if (answer.status === 504) assert.match(answer.body.toString(), /did not answer within 1000 ms \(upstream\.timeout\)/);
          else assert.equal(answer.headers.get('retry-after'), '1');
        }
        assert.ok(answers.filter((answer) => answer.status === 504).length >= 2, 'the calls holding the two connections time out');
        assert.ok(Date.now() - started < NO_HANG_MS);
      } finally {
        rtorrent.kill('SIGCONT');
      }
      await until(() => gateway.app.gateway.upstream.inFlight === 0 && gateway.app.gateway.upstream.queued === 0);
      assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200);
    });

    it('cuts an answer that stalls half-way at upstream.timeout: the client connection closes short, the slot is freed', async () => {
      const fdsBefore = openFds('self');
      const started = Date.now();
      let stopped = false;
      try {
        const cut = await call(BIG_LIST, {
          socketPath: front.path,
          onFirstChunk: (response) => {
            rtorrent.kill('SIGSTOP');
            stopped = true;
            response.resume();
          },
        });
        assert.equal(cut.status, 200);
        assert.ok(cut.bytes < (cut.contentLength ?? 0), `only ${cut.bytes} of ${cut.contentLength} bytes arrived`);
        assert.equal(cut.complete, false);
        assert.ok(Date.now() - started < NO_HANG_MS);
      } finally {
        if (stopped) rtorrent.kill('SIGCONT');
      }
      await until(() => gateway.app.gateway.upstream.inFlight === 0);
      assert.equal((await call(VERSION_CALL, { socketPath: front.path })).status, 200);
      await until(() => openFds('self') <= fdsBefore, 2000).catch(() => undefined);
      assert.ok(openFds('self') <= fdsBefore, `no descriptor left open (${openFds('self')} now, ${fdsBefore} before)`);
    });

    it('answers 502 at once, naming busy SCGI slots, while something else holds all 100 of rtorrent\'s connections', async () => {
      const held: Socket[] = [];
      try {
        for (let i = 0; i < 100; i++) {
          const socket = connect(rtorrent.socketPath);
          socket.on('error', () => undefined);
          held.push(socket);
          await new Promise((resolve) => socket.once('connect', resolve));
        }
        // rtorrent accepts the 101st connection (ours) and closes it: a reset or an empty answer.
        const started = Date.now();
        const answer = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS));
        assert.equal(answer.status, 502);
        assert.match(answer.body.toString(), /all of its SCGI slots are busy/);
        assert.ok(Date.now() - started < 1000, 'well before upstream.timeout: not a hang');
      } finally {
        for (const socket of held) socket.destroy();
      }
      await sleep(200);
      assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200);
    });

    // Last: it leaves rtorrent dead.
    it('killed (SIGKILL) in the middle of a 4 MB answer: the client never gets it whole, the connection closes before Content-Length bytes', async () => {
      const whole = await call(BIG_LIST, { socketPath: front.path });
      assert.ok(whole.complete && whole.bytes > 3_000_000, `a whole answer first (${whole.bytes} bytes)`);
      const fdsBefore = openFds('self');

      const cut = await call(BIG_LIST, {
        socketPath: front.path,
        onFirstChunk: async (response) => {
          // The client has the head and a first chunk; rtorrent is still writing the rest.
          assert.equal(gateway.app.gateway.upstream.inFlight, 1, 'the call is still running');
          rtorrent.kill('SIGKILL');
          assert.ok(await rtorrent.waitForExit(5000));
          response.resume();
        },
      });
      assert.equal(cut.status, 200, 'the head had already gone out');
      assert.equal(cut.contentLength, whole.contentLength);
      assert.ok(cut.bytes < (cut.contentLength ?? 0), `only ${cut.bytes} of ${cut.contentLength} bytes arrived`);
      assert.equal(cut.complete, false, 'and the client can tell');
      assertNeverPassedOffAsComplete(cut);

      // The socket file is left behind by a killed rtorrent: connection refused, said plainly.
      const next = await call(VERSION_CALL, { socketPath: front.path });
      assert.equal(next.status, 502);
      assert.match(next.body.toString(), /connection refused by unix:\S+: rtorrent is not listening there \(stopped rtorrent or stale socket file\)/);

      await until(() => gateway.app.gateway.upstream.inFlight === 0);
      await until(() => openFds('self') <= fdsBefore, 2000).catch(() => undefined);
      assert.ok(openFds('self') <= fdsBefore, `no descriptor left open (${openFds('self')} now, ${fdsBefore} before)`);
    });
  });
});

describe('garbage and half answers (fake SCGI peer)', { timeout: 60_000 }, () => {
  type Behaviour = (socket: Socket) => void;
  let behaviour: Behaviour = (socket) => socket.end(rtorrentStyleReply('<ok/>'));
  let fake: FakeScgiServer;
  let gateway: GatewayTestInstance;
  const GOOD: Behaviour = (socket) => socket.end(rtorrentStyleReply('<ok/>'));

  before(async () => {
    fake = await startFakeScgi((socket) => behaviour(socket));
    gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, upstreamToml: 'timeout = "1s"' });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  /** Sends one call against `misbehave`, then checks that a good answer right after works (recovery). */
  async function against(misbehave: Behaviour): Promise<Received> {
    behaviour = misbehave;
    try {
      return await call(VERSION_CALL, { url: gateway.url() });
    } finally {
      behaviour = GOOD;
      const again = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(again.status, 200, 'recovers at once');
      await until(() => gateway.app.gateway.upstream.inFlight === 0);
    }
  }

  it('answers 502 to a head larger than 8 KiB', async () => {
    const received = await against((socket) => socket.end(`Status: 200 OK\r\nX-Pad: ${'a'.repeat(9000)}\r\nContent-Length: 2\r\n\r\nok`));
    assert.equal(received.status, 502);
    assert.match(received.body.toString(), /sent a response head over 8192 bytes/);
  });

  it('answers 502 to binary junk that never ends a head, without waiting for the timeout', async () => {
    const junk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xfe;
    const started = Date.now();
    const received = await against((socket) => socket.write(junk));
    assert.equal(received.status, 502);
    assert.ok(Date.now() - started < 1000);
  });

  it('answers 502 to a connection closed in the middle of the head', async () => {
    const received = await against((socket) => socket.end('Status: 200 OK\r\nContent-Ty'));
    assert.equal(received.status, 502);
    assert.match(received.body.toString(), /closed the connection in the middle of the response head/);
  });

  it('answers 502 to an invalid Content-Length or status', async () => {
    for (const head of ['Status: 200 OK\r\nContent-Length: 12abc', 'Status: 200 OK\r\nContent-Length: 5\r\nContent-Length: 6', 'Status: 999 Odd']) {
      const received = await against((socket) => socket.end(`${head}\r\n\r\nhello`));
      assert.equal(received.status, 502, head);
      assert.match(received.body.toString(), /invalid (Content-Length|status)/, head);
    }
  });

  it('answers 504 to an upstream that reads the call and never answers, at upstream.timeout', async () => {
    const received = await against(() => undefined);
    assert.equal(received.status, 504);
    assert.match(received.body.toString(), /did not answer within 1000 ms \(upstream\.timeout\)/);
  });

  it('answers 504 to a head trickled one byte at a time past upstream.timeout', async () => {
    const head = 'Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 2\r\n\r\nok';
    const received = await against((socket) => {
      let at = 0;
      const timer = setInterval(() => {
        if (socket.destroyed || at >= head.length) clearInterval(timer);
        else socket.write(head[at++] as string);
      }, 100);
      socket.once('close', () => clearInterval(timer));
    });
    assert.equal(received.status, 504);
  });

  it('answers 504 at upstream.timeout when a small answer stalls after the head: nothing of it is sent', async () => {
    const received = await against((socket) => socket.write('Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<methodResponse>'));
    assert.equal(received.status, 504);
    assert.match(received.body.toString(), /did not answer within 1000 ms/);
  });

  it('cuts the client connection short when a streamed answer stalls after the head: never a complete answer', async () => {
    const length = WHOLE_ANSWER_MAX_BYTES + 1000;
    const received = await against((socket) => socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${length}\r\n\r\n<methodResponse>`));
    assert.equal(received.status, 200);
    assert.equal(received.contentLength, length);
    assert.equal(received.complete, false);
    assert.ok(received.bytes < length);
  });

  it('relays exactly Content-Length bytes when the upstream sends more, as nginx does', async () => {
    const received = await against((socket) => socket.end(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10\r\n\r\n0123456789${'garbage'.repeat(1000)}`));
    assert.equal(received.status, 200);
    assert.equal(received.complete, true);
    assert.equal(received.body.toString(), '0123456789');
  });

  // Fastify skips onResponse for a destroyed response; before 1681ee0 such a call left no trace.
  it('logs a request line for an answer cut short (outcome upstream_truncated), so logs, metrics and the audit trail see it', async () => {
    const logged = gateway.logs.length;
    const received = await against((socket) =>
      socket.end(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${WHOLE_ANSWER_MAX_BYTES + 5000}\r\n\r\nshort`),
    );
    assert.equal(received.complete, false);
    await sleep(100);
    // The first /RPC2 line after the call is its own; the recovery call's line comes after it.
    const line = gateway.logs.slice(logged).find((entry) => entry.path === '/RPC2');
    assert.equal(line?.outcome, 'upstream_truncated');
  });
});
