import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { SocketAddress } from '../../src/config/address.js';
import { UpstreamError } from '../../src/errors.js';
import { ClientGone } from '../../src/upstream/call-signal.js';
import { callScgi } from '../../src/upstream/scgi-client.js';
import { ConnectionPool, READ_BUFFER_BYTES, type ConnectionEvents, type UpstreamConnection } from '../../src/upstream/connection-pool.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';

/** One use of a connection: what it heard and read; `closed` resolves once the socket has closed. */
class Recorder implements ConnectionEvents {
  readonly log: string[] = [];
  received = '';
  connection: UpstreamConnection | undefined;
  readonly closed: Promise<void>;
  #markClosed: () => void = () => {};

  constructor(private readonly send: string) {
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  onRead(length: number): boolean {
    this.received += (this.connection as UpstreamConnection).buffer.subarray(0, length).toString('latin1');
    return true;
  }

  onConnect(): void {
    this.log.push('connect');
    (this.connection as UpstreamConnection).socket.write(this.send);
  }

  onError(error: NodeJS.ErrnoException): void {
    this.log.push(`error ${error.code ?? ''}`);
  }

  onEnd(): void {
    this.log.push('end');
  }

  onClose(): void {
    this.log.push('close');
    this.#markClosed();
  }
}

/** Answers each connection like rtorrent: reads the request, writes an echo, closes. */
function echoServer(): Server {
  return createServer((socket) => {
    socket.once('data', (data) => socket.end(`echo:${data.toString('latin1')}`));
  });
}

function open(pool: ConnectionPool, send: string): Recorder & { connection: UpstreamConnection } {
  const call = new Recorder(send);
  call.connection = pool.open(call);
  return call as Recorder & { connection: UpstreamConnection };
}

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** One whole call: open, wait for the close, give the connection back. */
async function use(pool: ConnectionPool, send: string): Promise<Recorder & { connection: UpstreamConnection }> {
  const call = open(pool, send);
  await call.closed;
  pool.give(call.connection);
  await nextTick();
  return call;
}

describe('the upstream connection pool', () => {
  let dir: string;
  let server: Server;
  let address: SocketAddress;

  before(async () => {
    dir = makeTempDir('connection-pool');
    const path = join(dir, 'echo.socket');
    address = { kind: 'unix', path, label: `unix:${path}` };
    server = echoServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    removeTempDir(dir);
  });

  it('connects a closed socket again for the next call, with the same read buffer', async () => {
    const pool = new ConnectionPool(address, 4);
    const first = await use(pool, 'one');
    const second = await use(pool, 'two');
    assert.equal(first.received, 'echo:one');
    assert.equal(second.received, 'echo:two');
    assert.equal(second.connection, first.connection);
    assert.equal(second.connection.buffer.length, READ_BUFFER_BYTES);
    assert.deepEqual(second.log, ['connect', 'end', 'close']);
    assert.equal(pool.idle, 1);
  });

  it('does not keep a socket whose connection was refused; the next call gets a fresh one and is served', async () => {
    const missing = join(dir, 'nobody-listens.socket');
    const refusedAddress: SocketAddress = { kind: 'unix', path: missing, label: `unix:${missing}` };
    const pool = new ConnectionPool(refusedAddress, 4);
    const refused = await use(pool, 'lost');
    assert.deepEqual(refused.log, ['error ENOENT', 'close']);
    assert.equal(pool.idle, 0);

    const late = echoServer();
    await new Promise<void>((resolve) => late.listen(missing, resolve));
    try {
      const served = await use(pool, 'found');
      assert.notEqual(served.connection, refused.connection);
      assert.equal(served.received, 'echo:found');
    } finally {
      await new Promise((resolve) => late.close(resolve));
    }
  });

  it('does not keep a socket dropped before it connected: its host name lookup could act on the next connection', async () => {
    const tcp = echoServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const port = (tcp.address() as { port: number }).port;
      const pool = new ConnectionPool({ kind: 'tcp', host: 'localhost', port, label: `tcp://localhost:${port}` }, 4);
      const dropped = open(pool, 'never-sent');
      // A call abandoned at once, while "localhost" is still being looked up.
      dropped.connection.socket.destroy();
      await dropped.closed;
      pool.give(dropped.connection);
      await nextTick();
      assert.equal(pool.idle, 0);
      const next = await use(pool, 'after');
      assert.notEqual(next.connection, dropped.connection);
      assert.equal(next.received, 'echo:after');
      assert.equal(pool.idle, 1, 'a connection that did connect is kept');
    } finally {
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('does not take back a connection that is still open, so no two calls ever share a socket', async () => {
    const pool = new ConnectionPool(address, 4);
    const call = open(pool, 'still-open');
    // Connected, its request sent, its answer not yet read: given back far too early.
    await new Promise((resolve) => call.connection.socket.once('connect', resolve));
    pool.give(call.connection);
    await nextTick();
    assert.equal(call.connection.socket.destroyed, false);
    assert.equal(pool.idle, 0);
    const next = await use(pool, 'fresh');
    assert.notEqual(next.connection, call.connection);
    assert.equal(next.received, 'echo:fresh');
    call.connection.socket.destroy();
  });

  it('stops passing events to a call once it has given the connection back', async () => {
    const pool = new ConnectionPool(address, 4);
    const call = open(pool, 'early');
    pool.give(call.connection);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(call.log, []);
    call.connection.socket.destroy();
  });

  it('refuses a call whose client has already left as GW_CLIENT_CLOSED, and keeps no socket of it', async () => {
    const pool = new ConnectionPool(address, 4);
    const gone = new ClientGone();
    gone.abort();
    await assert.rejects(
      callScgi(address, Buffer.from('<methodCall/>'), { requestUri: '/RPC2', remoteAddr: '127.0.0.1' }, { timeoutMs: 2000, signal: gone, connections: pool }),
      (error: unknown) => error instanceof UpstreamError && error.code === 'GW_CLIENT_CLOSED',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(pool.idle, 0);
  });

  it('serves the next call right on a socket whose previous call was abandoned in the middle of a large answer', async () => {
    const path = join(dir, 'stalling.socket');
    let connections = 0;
    // The first connection starts a 1 MB answer and stops after 200 kB; later ones answer in full.
    const server = createServer((socket) => {
      connections++;
      const first = connections === 1;
      socket.once('data', () => {
        if (first) socket.write(`Status: 200 OK\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(200_000)}`);
        else socket.end('Status: 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const stalling: SocketAddress = { kind: 'unix', path, label: `unix:${path}` };
    const meta = { requestUri: '/RPC2', remoteAddr: '127.0.0.1' };
    try {
      const pool = new ConnectionPool(stalling, 1);
      const large = await callScgi(stalling, Buffer.from('<methodCall/>'), meta, { timeoutMs: 5000, connections: pool });
      assert.equal(large.kind, 'streamed');
      if (large.kind !== 'streamed') return;
      // A client that takes the first chunk and is gone while its write is still out.
      const taken: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          taken.push(Buffer.from(chunk));
          large.body.destroy();
          setTimeout(callback, 20);
        },
      });
      await assert.rejects(large.body.pipeTo(sink), (error: unknown) => error instanceof UpstreamError && error.code === 'GW_CLIENT_CLOSED');
      assert.ok(taken.length > 0 && taken.every((chunk) => chunk.every((byte) => byte === 0x61)), 'only body bytes were handed on');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(pool.idle, 1, 'the socket came back once the write into its buffer was done');

      const next = await callScgi(stalling, Buffer.from('<methodCall/>'), meta, { timeoutMs: 5000, connections: pool });
      assert.equal(next.kind, 'whole');
      assert.equal(next.kind === 'whole' ? next.body.toString() : '', 'hello');
      assert.equal(connections, 2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps at most as many closed connections as it was told to, so a burst does not stay resident', async () => {
    const pool = new ConnectionPool(address, 2);
    const calls = await Promise.all(['a', 'b', 'c', 'd'].map((text) => use(pool, text)));
    assert.deepEqual(
      calls.map((call) => call.received),
      ['echo:a', 'echo:b', 'echo:c', 'echo:d'],
    );
    assert.equal(pool.idle, 2);
  });
});
