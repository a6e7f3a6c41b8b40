/**
 * What each compression level costs on one answer, in this process: the ratio and the CPU per
 * identity byte, the best of a few runs. One-shot compression of the whole buffer, so the figures
 * are zlib's and brotli's own, without any relaying around them; the gateway uses Node's zlib
 * (Chromium's, with its SIMD paths), nginx the system's.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export interface LevelResult {
  /** "as sent": rtorrent's answer; "busy": the same with varied counters (variedCounters below). */
  readonly answer: 'as sent' | 'busy';
  readonly coding: 'gzip' | 'br';
  readonly level: number;
  /** Compressed ÷ identity bytes. */
  readonly ratio: number;
  /** CPU time for the sample, ms. */
  readonly cpuMs: number;
  readonly nsPerByte: number;
  /** Bytes the figures were measured on: the whole answer, or its start where a level is too slow for it. */
  readonly sampleBytes: number;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function measure(answer: LevelResult['answer'], coding: LevelResult['coding'], level: number, input: Buffer, runs: number): LevelResult {
  let best = Number.POSITIVE_INFINITY;
  let size = 0;
  for (let run = 0; run < runs; run++) {
    const start = cpuMs();
    size =
      coding === 'gzip'
        ? gzipSync(input, { level }).length
        : brotliCompressSync(input, { params: { [constants.BROTLI_PARAM_QUALITY]: level, [constants.BROTLI_PARAM_SIZE_HINT]: input.length } }).length;
    best = Math.min(best, cpuMs() - start);
  }
  return { answer, coding, level, ratio: size / input.length, cpuMs: best, nsPerByte: (best * 1e6) / input.length, sampleBytes: input.length };
}

/**
 * The bench's torrents are stopped and idle, so most numbers in their rows are 0, which compresses
 * better than a busy seedbox's list. This copy gives every other integer a value of up to ten
 * digits (sizes, totals, rates, timestamps), the same ones on every run.
 */
export function variedCounters(identity: Buffer): Buffer {
  let seed = 1;
  const next = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const text = identity.toString('latin1').replace(/<i8>0<\/i8>/g, (zero) => (next() < 0.5 ? `<i8>${Math.floor(next() ** 3 * 1e10)}</i8>` : zero));
  return Buffer.from(text, 'latin1');
}

/**
 * gzip at nginx's default (1), a middle level (4) and zlib's default (6); brotli at 1, 4 and, on
 * the first MiB only, its default 11; on the answer as sent and on a busy one.
 */
export function measureLevels(identity: Buffer): LevelResult[] {
  const busy = variedCounters(identity);
  return [
    ...(['as sent', 'busy'] as const).flatMap((answer) => {
      const input = answer === 'as sent' ? identity : busy;
      return [
        measure(answer, 'gzip', 1, input, 3),
        measure(answer, 'gzip', 4, input, 3),
        measure(answer, 'gzip', 6, input, 3),
        measure(answer, 'br', 1, input, 3),
        measure(answer, 'br', 4, input, 3),
      ];
    }),
    measure('as sent', 'br', 11, identity.subarray(0, 1024 * 1024), 1),
  ];
}
