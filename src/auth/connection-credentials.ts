import type { Socket } from 'node:net';

/** How long a connection's verified header is taken on trust before it is checked again. */
export const CONNECTION_TRUST_MS = 60_000;

interface Verified {
  readonly header: string;
  readonly user: string;
  /** The authenticator that verified it: a reload brings a new one, and every entry lapses. */
  readonly verifiedBy: object;
  readonly until: number;
}

/**
 * The Basic `Authorization` header each keep-alive connection last got through with. A polling
 * client sends the same header on every request of its connection; recognising it by plain
 * comparison skips the HMAC lookup in the verified-credential cache, which with its garbage cost
 * about a tenth of a small call's CPU.
 *
 * What is held: the header itself, a password equivalent, until its connection closes (an idle
 * one closes after keep_alive_timeout), a different header arrives on it, or a lookup finds it
 * older than CONNECTION_TRUST_MS or verified before a reload. The client resends the same bytes on
 * that connection meanwhile. A different header (a proxy carrying several clients' requests) is
 * checked in full.
 */
export class ConnectionCredentials {
  // Weak, and dropped at 'close': nothing here outlives or keeps alive a connection.
  readonly #verified = new WeakMap<Socket, Verified>();
  /** Sockets with our 'close' listener: one each, however often their entry changes. */
  readonly #watched = new WeakSet<Socket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The user `header` was verified for on this connection, if `verifiedBy` did it within the trust window. */
  userFor(socket: Socket, header: string, verifiedBy: object): string | undefined {
    const entry = this.#verified.get(socket);
    if (entry === undefined) return undefined;
    if (entry.header === header && entry.verifiedBy === verifiedBy && this.now() < entry.until) return entry.user;
    this.#verified.delete(socket);
    return undefined;
  }

  /** Only after `verifiedBy` has accepted `header` for `user`. */
  remember(socket: Socket, header: string, user: string, verifiedBy: object): void {
    if (!this.#watched.has(socket)) {
      this.#watched.add(socket);
      socket.once('close', () => this.#verified.delete(socket));
    }
    this.#verified.set(socket, { header, user, verifiedBy, until: this.now() + CONNECTION_TRUST_MS });
  }
}
