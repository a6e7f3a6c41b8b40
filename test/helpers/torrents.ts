/**
 * Minimal single-file .torrent files for loading into a throw-away rtorrent. Nothing is ever
 * downloaded, so `pieces` only has to have the right length; its content just makes each
 * info-hash unique and reproducible.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TorrentOptions {
  /** Mixed into names and piece hashes: the same (index, seed) always gives the same info-hash. */
  seed?: string | number;
  /** File name prefix inside the torrent (`<prefix>-<seed>-<index>.bin`). */
  namePrefix?: string;
  /** Port 9 (discard) on loopback is closed here, so an accidental announce fails fast. */
  announce?: string;
  pieceLength?: number;
  /** Content length in bytes; default one piece. Ignored when sizeBytes is given. */
  length?: number;
  /**
   * Approximate size of the .torrent file itself, reached by adding pieces (20 bytes each).
   * For `load.raw` tests that need a big request body (≈1 MB → ≈52k pieces).
   */
  sizeBytes?: number;
}

export interface GeneratedTorrent {
  readonly path: string;
  readonly name: string;
  readonly infoHash: string;
}

const DEFAULT_PIECE_LENGTH = 16384;
const DEFAULT_ANNOUNCE = 'http://127.0.0.1:9/announce';

function bstr(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from(`${bytes.length}:`, 'ascii'), bytes]);
}

function bint(value: number): Buffer {
  if (!Number.isSafeInteger(value)) throw new RangeError(`bencode integer out of range: ${value}`);
  return Buffer.from(`i${value}e`, 'ascii');
}

/** Keys must already be in raw-byte order: bencode requires sorted dict keys. */
function bdict(entries: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [Buffer.from('d')];
  let previous: Buffer | undefined;
  for (const [key, value] of entries) {
    const keyBytes = Buffer.from(key, 'utf8');
    if (previous && Buffer.compare(previous, keyBytes) >= 0) throw new Error(`bencode keys out of order at "${key}"`);
    previous = keyBytes;
    parts.push(bstr(keyBytes), value);
  }
  parts.push(Buffer.from('e'));
  return Buffer.concat(parts);
}

function pieceHashes(count: number, seed: string, index: number): Buffer {
  const out = Buffer.allocUnsafe(count * 20);
  // A counter-mode SHA-1 stream: deterministic, distinct per (seed, index), cheap for 50k pieces.
  for (let p = 0; p < count; p++) {
    createHash('sha1').update(`${seed}\0${index}\0${p}`).digest().copy(out, p * 20);
  }
  return out;
}

export function torrentName(i: number, opts: TorrentOptions = {}): string {
  return `${opts.namePrefix ?? 'rtg-test'}-${String(opts.seed ?? 0)}-${i}.bin`;
}

/** One bencoded .torrent in memory. */
export function makeTorrentBytes(i: number, opts: TorrentOptions = {}): Buffer {
  const seed = String(opts.seed ?? 0);
  const pieceLength = opts.pieceLength ?? DEFAULT_PIECE_LENGTH;
  const name = torrentName(i, opts);
  const announce = opts.announce ?? DEFAULT_ANNOUNCE;

  let pieceCount: number;
  let length: number;
  if (opts.sizeBytes !== undefined) {
    // The fixed part (announce, keys, name) is well under 200 bytes; the rest is piece hashes.
    pieceCount = Math.max(1, Math.floor((opts.sizeBytes - 200 - announce.length - name.length) / 20));
    length = pieceCount * pieceLength;
  } else {
    length = opts.length ?? pieceLength;
    if (length <= 0) throw new RangeError('torrent length must be > 0');
    pieceCount = Math.ceil(length / pieceLength);
  }

  const info = bdict([
    ['length', bint(length)],
    ['name', bstr(name)],
    ['piece length', bint(pieceLength)],
    ['pieces', bstr(pieceHashes(pieceCount, seed, i))],
  ]);
  return bdict([
    ['announce', bstr(announce)],
    ['info', info],
  ]);
}

/** Index just past the bencoded value that starts at `pos`. */
function skipValue(buf: Buffer, pos: number): number {
  const c = buf[pos];
  if (c === undefined) throw new Error('truncated bencode');
  if (c === 0x69 /* i */) {
    const end = buf.indexOf(0x65 /* e */, pos);
    if (end < 0) throw new Error('unterminated bencode integer');
    return end + 1;
  }
  if (c === 0x6c /* l */ || c === 0x64 /* d */) {
    let p = pos + 1;
    while (buf[p] !== 0x65) {
      if (p >= buf.length) throw new Error('unterminated bencode container');
      p = skipValue(buf, p);
    }
    return p + 1;
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = buf.indexOf(0x3a /* : */, pos);
    if (colon < 0) throw new Error('bad bencode string length');
    const len = Number(buf.toString('ascii', pos, colon));
    const end = colon + 1 + len;
    if (!Number.isSafeInteger(len) || end > buf.length) throw new Error('truncated bencode string');
    return end;
  }
  throw new Error(`unexpected bencode byte 0x${c.toString(16)} at ${pos}`);
}

/**
 * Uppercase hex SHA-1 of the `info` value's exact bytes, which is what rtorrent reports as
 * d.hash. Works on any .torrent, not only ours, because it hashes the bytes as found.
 */
export function infoHashOf(torrentBytes: Buffer): string {
  if (torrentBytes[0] !== 0x64) throw new Error('torrent is not a bencoded dict');
  let p = 1;
  while (torrentBytes[p] !== 0x65) {
    if (p >= torrentBytes.length) throw new Error('unterminated torrent dict');
    const keyEnd = skipValue(torrentBytes, p);
    const colon = torrentBytes.indexOf(0x3a, p);
    const key = torrentBytes.toString('latin1', colon + 1, keyEnd);
    const valueEnd = skipValue(torrentBytes, keyEnd);
    if (key === 'info') {
      return createHash('sha1').update(torrentBytes.subarray(keyEnd, valueEnd)).digest('hex').toUpperCase();
    }
    p = valueEnd;
  }
  throw new Error('torrent has no info dict');
}

/** Writes `count` torrents as `<dir>/t-<i>.torrent` and returns path, name and info-hash of each. */
export async function generateTorrents(
  dir: string,
  count: number,
  opts: TorrentOptions & { startIndex?: number } = {},
): Promise<GeneratedTorrent[]> {
  await mkdir(dir, { recursive: true });
  const start = opts.startIndex ?? 0;
  const out: GeneratedTorrent[] = [];
  const pending: Array<Promise<void>> = [];
  for (let k = 0; k < count; k++) {
    const i = start + k;
    const bytes = makeTorrentBytes(i, opts);
    const path = join(dir, `t-${i}.torrent`);
    out.push({ path, name: torrentName(i, opts), infoHash: infoHashOf(bytes) });
    pending.push(writeFile(path, bytes));
    // Bounded so 2000 files do not mean 2000 open descriptors at once.
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return out;
}

export async function generateTorrentFiles(
  dir: string,
  count: number,
  opts: TorrentOptions & { startIndex?: number } = {},
): Promise<string[]> {
  return (await generateTorrents(dir, count, opts)).map((t) => t.path);
}
