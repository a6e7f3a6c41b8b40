/**
 * A torrent list the size of a large seedbox's, made of rtorrent's own bytes. Loading 12 000
 * torrents into one rtorrent takes minutes (each load costs more the more there already are), so
 * more rtorrents, each with torrents of their own, answer the same d.multicall2, and their rows are
 * put together in one answer inside rtorrent's own envelope: what one rtorrent holding all of them
 * would send.
 */
import { startRtorrent, type RtorrentInstance } from '../../test/helpers/rtorrent.js';

const OPEN = '<param><value><array><data>';
const CLOSE = '</data></array></value></param>';

/** The envelope before the first row, the rows, and the envelope after the last. */
function parts(answer: Buffer): { head: Buffer; rows: Buffer; tail: Buffer } {
  const open = answer.indexOf(OPEN);
  const close = answer.lastIndexOf(CLOSE);
  if (open < 0 || close < open) throw new Error(`not a d.multicall2 answer: ${answer.toString('utf8', 0, 200)}`);
  let start = open + OPEN.length;
  // 0.9.8 (xmlrpc-c) breaks the line after the list's opening.
  if (answer[start] === 0x0d) start++;
  if (answer[start] === 0x0a) start++;
  return { head: answer.subarray(0, start), rows: answer.subarray(start, close), tail: answer.subarray(close) };
}

export interface ListAnswerOptions {
  /** The call every instance answers (an XML-RPC d.multicall2 body). */
  readonly call: string;
  /** Rtorrents started besides `first`, with `torrents` torrents each, named apart so no two rows match. */
  readonly more: number;
  readonly torrents: number;
  /** Passed to every instance: release-length names, as the shared one has (the same release, Debian's). */
  readonly namePrefix: string;
  readonly log?: (line: string) => void;
}

export async function listAnswer(first: RtorrentInstance, options: ListAnswerOptions): Promise<Buffer> {
  const answers = [(await first.raw(options.call, { timeoutMs: 120_000 })).body];
  // Two at a time: loading is CPU-bound, and this machine has two cores.
  for (let i = 0; i < options.more; i += 2) {
    const batch = Array.from({ length: Math.min(2, options.more - i) }, (_, j) => i + j);
    options.log?.(`rtorrents ${batch.map((n) => n + 2).join(' and ')} of ${options.more + 1}: loading ${options.torrents} torrents each for the list`);
    const instances = await Promise.all(
      batch.map((n) => startRtorrent({ torrents: options.torrents, name: `bench-list-${n}`, torrentOptions: { namePrefix: options.namePrefix }, loadConcurrency: 16, startTimeoutMs: 10_000 })),
    );
    try {
      for (const rt of instances) answers.push((await rt.raw(options.call, { timeoutMs: 120_000 })).body);
    } finally {
      await Promise.all(instances.map((rt) => rt.stop()));
    }
  }
  const split = answers.map(parts);
  const { head, tail } = split[0] as ReturnType<typeof parts>;
  return Buffer.concat([head, ...split.map((part) => part.rows), tail]);
}
