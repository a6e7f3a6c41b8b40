/**
 * Upstream connections, reused from call to call: a socket object with its read buffer.
 *
 * rtorrent answers one request per connection and closes it, so every call opens a connection.
 * Building a fresh Node socket for each (stream state, listeners, a buffer) cost about a tenth of
 * the gateway's CPU on small calls. Node lets a socket connect again once it has closed, so each
 * upstream keeps its closed sockets and reconnects them.
 *
 * Every read of a connection lands in the same buffer (the socket's `onread`). A 1.3 MB torrent
 * list would otherwise be twenty fresh 64 KiB buffers per call; V8 counts that memory against its
 * heap limit and answers with full collections several times a second.
 */
import { connect, type Socket } from 'node:net';
import type { SocketAddress } from '../config/address.js';

export const READ_BUFFER_BYTES = 64 * 1024;

/** What a call hears of its connection, for as long as it holds it. */
export interface ConnectionEvents {
  /** `length` bytes arrived at the start of the connection's buffer; false pauses reading. */
  onRead(length: number): boolean;
  onConnect(): void;
  onError(error: NodeJS.ErrnoException): void;
  onEnd(): void;
  onClose(): void;
}

export class UpstreamConnection {
  readonly socket: Socket;
  readonly buffer: Buffer;
  readonly #address: SocketAddress;
  #events: ConnectionEvents | undefined;
  /** The current connection was established; see `reusable`. */
  #connected = false;

  /** Connects at once, for `events`. */
  constructor(address: SocketAddress, events: ConnectionEvents) {
    this.#address = address;
    this.#events = events;
    this.buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const onread = { buffer: this.buffer, callback: (length: number) => this.#events?.onRead(length) ?? false };
    this.socket = address.kind === 'unix' ? connect({ path: address.path, onread }) : connect({ host: address.host, port: address.port, onread });
    // Kept by the socket, and applied again to each connection it makes.
    if (address.kind === 'tcp') this.socket.setNoDelay(true);
    // The listeners stay for the socket's whole life and speak to whichever call holds it, so a
    // call adds and removes none. An error with no call attached is dropped, never thrown.
    this.socket.on('connect', () => {
      this.#connected = true;
      this.#events?.onConnect();
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.#events?.onError(error));
    this.socket.on('end', () => this.#events?.onEnd());
    this.socket.on('close', () => this.#events?.onClose());
  }

  /** Connects the closed socket again, for `events`: the same buffer, a new connection. */
  reopen(events: ConnectionEvents): void {
    this.#events = events;
    this.#connected = false;
    const address = this.#address;
    if (address.kind === 'unix') this.socket.connect({ path: address.path });
    else this.socket.connect({ host: address.host, port: address.port });
  }

  /** The call is done with the connection: later events of the socket reach no one. */
  detach(): void {
    this.#events = undefined;
  }

  /**
   * Closed after it had connected, with nothing left queued to write: Node then treats a connect()
   * as on a new socket. One closed before it connected may still have a host name lookup or a
   * connect attempt under way, which would act on whatever connection the socket makes next.
   */
  get reusable(): boolean {
    return (
      this.#connected && this.#events === undefined && this.socket.destroyed && !this.socket.connecting && this.socket.writableLength === 0
    );
  }
}

export class ConnectionPool {
  readonly #free: UpstreamConnection[] = [];

  /** `keep`: most connections held while idle; one per upstream slot is enough. */
  constructor(
    private readonly address: SocketAddress,
    private readonly keep: number,
  ) {}

  get idle(): number {
    return this.#free.length;
  }

  /** A connection opening for `events`: a closed one connected again, or a new one. */
  open(events: ConnectionEvents): UpstreamConnection {
    const connection = this.#free.pop();
    if (connection === undefined) return new UpstreamConnection(this.address, events);
    connection.reopen(events);
    return connection;
  }

  /**
   * Only once the socket has closed and no write still points into its buffer. Deferred by a tick,
   * so whatever Node still has queued for the closed socket runs before anyone reconnects it.
   */
  give(connection: UpstreamConnection): void {
    connection.detach();
    process.nextTick(() => {
      if (connection.reusable && this.#free.length < this.keep) this.#free.push(connection);
    });
  }
}
