import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SocketAddress } from '../../src/config/address.js';
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

  it('reuses a socket whose connection was refused, and the next call on it is served', async () => {
    const missing = join(dir, 'nobody-listens.socket');
    const refusedAddress: SocketAddress = { kind: 'unix', path: missing, label: `unix:${missing}` };
    const pool = new ConnectionPool(refusedAddress, 4);
    const refused = await use(pool, 'lost');
    assert.deepEqual(refused.log, ['error ENOENT', 'close']);
    assert.equal(pool.idle, 1);

    const late = echoServer();
    await new Promise<void>((resolve) => late.listen(missing, resolve));
    try {
      const served = await use(pool, 'found');
      assert.equal(served.connection, refused.connection);
      assert.equal(served.received, 'echo:found');
    } finally {
      await new Promise((resolve) => late.close(resolve));
    }
  });

  it('does not take back a connection that is still open, so no two calls ever share a socket', async () => {
    const pool = new ConnectionPool(address, 4);
    const call = open(pool, 'still-open');
    pool.give(call.connection);
    await nextTick();
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
