import { Writable, type Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { brotliCompressSync, constants, createBrotliCompress, createGzip, gzipSync, type BrotliOptions, type ZlibOptions, type ZlibReset } from 'node:zlib';
import type { ResponseHead } from '../upstream/response-head.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../upstream/scgi-client.js';

/**
 * Compression of rtorrent's answers toward clients that ask for it (Accept-Encoding), as nginx's
 * `gzip on` does. Levels and the threshold were measured on ruTorrent's torrent list
 * (docs/hardening.md, "Compressed answers"): gzip level 1, nginx's default gzip_comp_level, keeps
 * most of what level 6 saves for half its CPU or less; brotli at quality 1 is cheaper still and
 * smaller, where brotli's default quality 11 costs some three hundred times more.
 */
export type ContentCoding = 'gzip' | 'br';

export interface CompressionSettings {
  /** server.compress */
  readonly enabled: boolean;
  /** server.compress_min_bytes: smaller answers go as they are, unless the client refuses that. */
  readonly minBytes: number;
}

export interface AcceptedEncoding {
  /** The coding to send, or undefined: the client asked for none we make, or prefers identity. */
  readonly coding: ContentCoding | undefined;
  /** `identity;q=0` (or `*;q=0` without identity): an uncompressed answer is what it does not want. */
  readonly identityRefused: boolean;
}

const NONE: AcceptedEncoding = { coding: undefined, identityRefused: false };

/** Ours in the order we prefer them when the client weighs them alike: brotli is the smaller and cheaper at the levels used. */
const CODINGS: readonly ContentCoding[] = ['br', 'gzip'];

/** RFC 9110 weight: "0" to "1" with at most three decimals. */
const WEIGHT = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Reads Accept-Encoding (RFC 9110 §12.5.3). A request without the header gets no coding: the RFC
 * would allow any, but clients that never asked (the npm xmlrpc package, scripts) cannot decode one.
 * An entry with a malformed weight counts as refused, so a coding is only ever sent when asked for.
 */
export function acceptedEncoding(header: string | readonly string[] | undefined): AcceptedEncoding {
  if (header === undefined) return NONE;
  const weights = new Map<string, number>();
  for (const entry of (typeof header === 'string' ? header : header.join(',')).split(',')) {
    const [token = '', ...parameters] = entry.split(';');
    let name = token.trim().toLowerCase();
    if (name === '') continue;
    // RFC 9110 §8.4.1.3: "x-gzip" is gzip.
    if (name === 'x-gzip') name = 'gzip';
    let weight = 1;
    for (const parameter of parameters) {
      const [key = '', value = ''] = parameter.split('=');
      if (key.trim().toLowerCase() !== 'q') continue;
      weight = WEIGHT.test(value.trim()) ? Number(value.trim()) : 0;
    }
    // A coding named twice keeps its first weight, as most servers read it.
    if (!weights.has(name)) weights.set(name, weight);
  }
  const any = weights.get('*');
  // Unlisted, identity is acceptable but not preferred: "gzip;q=0.5" alone still asks for gzip.
  const identity = weights.get('identity') ?? any;
  let coding: ContentCoding | undefined;
  let best = 0;
  for (const candidate of CODINGS) {
    const weight = weights.get(candidate) ?? any ?? 0;
    if (weight > best) {
      coding = candidate;
      best = weight;
    }
  }
  // A client that weighs identity above every coding we make gets identity.
  if (coding !== undefined && identity !== undefined && identity > best) coding = undefined;
  return { coding, identityRefused: identity === 0 };
}

/** What rtorrent answers with; our own faults and refusals are a few hundred bytes and never compressed. */
const COMPRESSIBLE_TYPE = /^(?:text\/xml|application\/json)\s*(?:;|$)/i;

export interface AnswerEncoding {
  /** The coding to apply, or undefined to relay the bytes as they are. */
  readonly coding: ContentCoding | undefined;
  /** The answer could have gone out compressed to another client: caches must key on Accept-Encoding. */
  readonly vary: boolean;
}

const AS_IS: AnswerEncoding = { coding: undefined, vary: false };

/**
 * How one of rtorrent's answers goes to this client. Only a 200 with an XML-RPC or JSON-RPC body
 * that rtorrent sent unencoded is compressed; `length` is the body's size, undefined when rtorrent
 * sent none (then it is compressed, since the size cannot be weighed first).
 */
export function answerEncoding(settings: CompressionSettings, acceptEncoding: string | readonly string[] | undefined, head: ResponseHead, length: number | undefined): AnswerEncoding {
  if (!settings.enabled || head.status !== 200) return AS_IS;
  let type: string | undefined;
  for (const [name, value] of head.headers) {
    if (name === 'content-encoding') return AS_IS;
    if (name === 'content-type') type = value;
  }
  if (type === undefined || !COMPRESSIBLE_TYPE.test(type)) return AS_IS;
  const accepted = acceptedEncoding(acceptEncoding);
  const worthIt = length === undefined || length >= settings.minBytes || (accepted.identityRefused && length > 0);
  return { coding: worthIt ? accepted.coding : undefined, vary: true };
}

/** Adds Accept-Encoding to whatever Vary the answer already carries. */
export function varyOnAcceptEncoding(existing: number | string | readonly string[] | undefined): string {
  const listed = (existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)]).join(',');
  const names = listed.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.some((name) => name === '*' || name.toLowerCase() === 'accept-encoding')) return names.join(', ');
  return [...names, 'Accept-Encoding'].join(', ');
}

// Brotli's window matters little at quality 1 (the same output with 256 KiB as with 4 MiB) and
// bounds what each answer in flight holds.
const BROTLI_WINDOW_BITS = 18;

function gzipOptions(): ZlibOptions {
  return { level: constants.Z_BEST_SPEED };
}

function brotliOptions(sizeHint: number | undefined): BrotliOptions {
  return {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 1,
      [constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
      ...(sizeHint === undefined ? {} : { [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint }),
    },
  };
}

/**
 * A gzip stream whose zlib state is set up now, on this thread. Node otherwise sets it up on the
 * first write, in a thread-pool thread, and each of those threads then keeps an allocator arena of
 * its own for the states it held: 4 MiB more RSS under steady load. reset() sets the state up.
 */
function newGzip(): Transform {
  const encoder = createGzip(gzipOptions());
  (encoder as typeof encoder & ZlibReset).reset();
  return encoder;
}

/**
 * A whole answer, compressed. Up to the size read whole from rtorrent this is done on the spot:
 * under 0.2 ms, where the thread pool's round trip alone costs more than compressing a few KiB.
 * Larger ones (answers shared by the read cache) go to the thread pool, so other calls keep moving.
 */
export async function compressWhole(body: Buffer, coding: ContentCoding): Promise<Buffer> {
  if (body.length <= WHOLE_ANSWER_MAX_BYTES) return coding === 'gzip' ? gzipSync(body, gzipOptions()) : brotliCompressSync(body, brotliOptions(body.length));
  const encoder = coding === 'gzip' ? newGzip() : createBrotliCompress(brotliOptions(body.length));
  const chunks: Buffer[] = [];
  encoder.on('data', (chunk: Buffer) => chunks.push(chunk));
  encoder.end(body);
  await finished(encoder);
  return Buffer.concat(chunks);
}

/**
 * Compressed copies of answers shared between callers (upstream.read_cache_ttl, coalesce_reads), so
 * that a kept answer is compressed once per coding rather than once per caller. Keyed weakly by the
 * answer's own bytes: a copy lives exactly as long as the answer it was made from.
 */
export class SharedAnswerEncodings {
  readonly #copies = new WeakMap<Buffer, Map<ContentCoding, Promise<Buffer>>>();

  compress(body: Buffer, coding: ContentCoding): Promise<Buffer> {
    let byCoding = this.#copies.get(body);
    if (byCoding === undefined) {
      byCoding = new Map();
      this.#copies.set(body, byCoding);
    }
    let copy = byCoding.get(coding);
    if (copy === undefined) {
      copy = compressWhole(body, coding);
      byCoding.set(coding, copy);
      const copies = byCoding;
      copy.catch(() => copies.delete(coding));
    }
    return copy;
  }
}

/**
 * Identity bytes gathered before each hand-over to the encoder. Every hand-over is a round trip to
 * the thread pool, which costs more than compressing one 64 KiB read of rtorrent's at level 1:
 * measured on a 15 MB list, 44 ms of CPU in 64 KiB writes, 27 ms in 256 KiB ones, 20 ms in one.
 */
const GATHER_BYTES = 256 * 1024;
const MAX_SPARE_BUFFERS = 4;

/**
 * Buffers of relays that ended well, for the next ones: a new quarter MiB per answer would be
 * garbage that V8 lets pile up before it collects. One whose relay was cut short is left to the
 * collector, since zlib may still be reading it. One pool per gateway.
 */
export class GatherBuffers {
  readonly #spare: Buffer[] = [];

  take(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafe(GATHER_BYTES);
  }

  give(buffer: Buffer): void {
    if (this.#spare.length < MAX_SPARE_BUFFERS) this.#spare.push(buffer);
  }
}

/**
 * Copies rtorrent's reads (views into a buffer the next read reuses) into one buffer of its own,
 * and hands that to the encoder each time it is full, waiting until the encoder is done with it.
 */
class Gatherer extends Writable {
  readonly #encoder: Transform;
  readonly buffer: Buffer;
  #filled = 0;

  constructor(encoder: Transform, buffer: Buffer) {
    super();
    this.#encoder = encoder;
    this.buffer = buffer;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let offset = 0;
    const fill = (error?: Error | null): void => {
      if (error) {
        callback(error);
        return;
      }
      while (offset < chunk.length) {
        const copied = chunk.copy(this.buffer, this.#filled, offset);
        offset += copied;
        this.#filled += copied;
        if (this.#filled === GATHER_BYTES) {
          this.#filled = 0;
          // Its callback comes once zlib has consumed the buffer and the client keeps up.
          this.#encoder.write(this.buffer, fill);
          return;
        }
      }
      callback();
    };
    fill();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#encoder.end(this.buffer.subarray(0, this.#filled));
    callback();
  }
}

/**
 * A streamed answer compressed on its way to the client. Compression runs in the thread pool, a
 * quarter MiB at a time: a write into `input` completes once its bytes are copied, or, when that
 * fills the buffer, once the encoder has consumed it and its output is below the stream's
 * high-water mark. The next read from rtorrent waits for that, so a slow client slows rtorrent's
 * socket, and memory stays at the buffer, the encoder's state and a few output chunks whatever
 * the answer's size.
 */
export class CompressedRelay {
  readonly #encoder: Transform;
  readonly #input: Gatherer;
  readonly #done: Promise<void>;
  readonly #buffers: GatherBuffers;
  #bytes = 0;

  constructor(response: Writable, coding: ContentCoding, sizeHint: number | undefined, buffers: GatherBuffers) {
    this.#buffers = buffers;
    this.#encoder = coding === 'gzip' ? newGzip() : createBrotliCompress(brotliOptions(sizeHint));
    this.#encoder.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
    });
    this.#input = new Gatherer(this.#encoder, buffers.take());
    // Its failures reach the caller through the write callbacks.
    this.#input.on('error', () => undefined);
    this.#done = pipeline(this.#encoder, response);
    // Its failure reaches the caller through the input's write callbacks or finish().
    this.#done.catch(() => undefined);
  }

  /** Where the identity bytes go. */
  get input(): Writable {
    return this.#input;
  }

  /** Compressed bytes handed to the response so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Every identity byte is in: writes the coding's end and ends the response. */
  async finish(): Promise<void> {
    this.#input.end();
    await this.#done;
    this.#buffers.give(this.#input.buffer);
  }

  /** Cut short: the coding's end is never written, so no client takes the part for the whole. */
  abort(): void {
    this.#input.destroy();
    this.#encoder.destroy();
  }
}
