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
 * What is held: the header itself, a password equivalent, for as long as its connection is open
 * and at most CONNECTION_TRUST_MS after the check; the client resends the same bytes on that
 * connection meanwhile. A different header on the same connection (a proxy carrying several
 * clients' requests) is checked in full and replaces the entry.
 */
export class ConnectionCredentials {
  // Weak: an entry goes with its socket, and nothing here keeps a closed connection alive.
  readonly #verified = new WeakMap<Socket, Verified>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The user `header` was verified for on this connection, if `verifiedBy` did it within the trust window. */
  userFor(socket: Socket, header: string, verifiedBy: object): string | undefined {
    const entry = this.#verified.get(socket);
    if (entry === undefined || entry.header !== header || entry.verifiedBy !== verifiedBy) return undefined;
    if (this.now() >= entry.until) {
      this.#verified.delete(socket);
      return undefined;
    }
    return entry.user;
  }

  /** Only after `verifiedBy` has accepted `header` for `user`. */
  remember(socket: Socket, header: string, user: string, verifiedBy: object): void {
    this.#verified.set(socket, { header, user, verifiedBy, until: this.now() + CONNECTION_TRUST_MS });
  }
}
