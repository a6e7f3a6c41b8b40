/**
 * Read buffers for upstream connections, reused from call to call.
 *
 * A socket that reads the usual way gets a fresh 64 KiB buffer for every read. A 1.3 MB torrent
 * list is twenty of them per call; V8 counts that memory against its heap limit and answers with
 * full collections of the whole heap several times a second, which cost more than the relay
 * itself and kept tens of MiB of dead buffers resident between them. Each upstream call instead
 * borrows one buffer for all its reads and gives it back when nothing refers to it any more.
 */
export const READ_BUFFER_BYTES = 64 * 1024;

export class ReadBufferPool {
  readonly #free: Buffer[] = [];

  /** `keep`: most buffers held while idle; one per upstream connection is enough. */
  constructor(private readonly keep: number) {}

  get idle(): number {
    return this.#free.length;
  }

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  }

  /** Only once no socket reads into it and no write still points at it. */
  give(buffer: Buffer): void {
    if (this.#free.length < this.keep) this.#free.push(buffer);
  }
}
