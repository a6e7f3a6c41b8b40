import { UpstreamError } from '../errors.js';
import { decodeMethodResponse, isFault, type XmlRpcAnswer } from '../xmlrpc/response.js';
import type { Upstream } from './upstream.js';

/**
 * How large the lists are that a multicall walks on one rtorrent: torrents in the main view, and the
 * most files, trackers, peers and pieces any one torrent has. A call's cost is estimated from these
 * (rows × columns) before it is forwarded; they are learned from rtorrent itself and kept fresh.
 */
export interface TorrentShape {
  readonly torrents: number;
  readonly files: number;
  readonly trackers: number;
  readonly peers: number;
  readonly chunks: number;
  /** system.client_version, e.g. "0.9.8" */
  readonly version: string;
}

export interface ShapeOptions {
  /** A shape this old is refreshed (in the background when one is known). Default 30 s. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
  /** Told the version each probe reports. */
  readonly onVersion?: (version: string) => void;
}

/**
 * The largest value of one download getter over every torrent, computed inside rtorrent: one number
 * comes back instead of a row per torrent. math.max fails on an empty list ("Wrong argument count in
 * apply_arith_basic", 0.9.8 and 0.16.20 alike), so an empty view answers 0 without asking it.
 */
function largest(getter: string): string {
  return `<value><struct><member><name>methodName</name><value><string>branch</string></value></member><member><name>params</name><value><array><data><value><string></string></value><value><string>view.size=main</string></value><value><string>math.max=0,"$d.multicall2=main,${getter}="</string></value><value><string>cat=0</string></value></data></array></value></member></struct></value>`;
}

function plain(method: string, ...args: string[]): string {
  const params = args.map((arg) => `<value><string>${arg}</string></value>`).join('');
  return `<value><struct><member><name>methodName</name><value><string>${method}</string></value></member><member><name>params</name><value><array><data>${params}</data></array></value></member></struct></value>`;
}

/**
 * One system.multicall, answered in a few hundred bytes whatever the number of torrents. rtorrent
 * walks every torrent four times for it (0.08-0.16 s at 10 000 torrents), so it is asked at most once
 * per maxAgeMs, and only while calls that need it arrive. The peers bound is each torrent's connection cap
 * (d.peers_max), which p.multicall rows cannot exceed.
 */
export const SHAPE_PROBE = Buffer.from(
  '<?xml version="1.0"?>\n<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>' +
    plain('system.client_version') +
    plain('view.size', '', 'main') +
    largest('d.size_files') +
    largest('d.tracker_size') +
    largest('d.peers_max') +
    largest('d.size_chunks') +
    '</data></array></value></param></params></methodCall>\n',
);

/** The probe's answer is a few hundred bytes; anything much larger is not it. */
const MAX_ANSWER_BYTES = 64 * 1024;

function member(answers: readonly XmlRpcAnswer[], index: number, what: string): XmlRpcAnswer {
  const answer = answers[index];
  if (isFault(answer)) throw new Error(`${what}: ${answer.faultString}`);
  if (!Array.isArray(answer) || answer.length !== 1) throw new Error(`${what}: unexpected answer`);
  return answer[0] as XmlRpcAnswer;
}

function count(answers: readonly XmlRpcAnswer[], index: number, what: string): number {
  const value = Number(member(answers, index, what));
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${what}: not a count`);
  return value;
}

export class UpstreamShape {
  readonly #upstream: Pick<Upstream, 'call' | 'address'>;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #onVersion: ((version: string) => void) | undefined;
  #known: { readonly shape: TorrentShape; readonly at: number } | undefined;
  #pending: Promise<TorrentShape> | undefined;

  constructor(upstream: Pick<Upstream, 'call' | 'address'>, options: ShapeOptions = {}) {
    this.#upstream = upstream;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#onVersion = options.onVersion;
  }

  /** The last shape learned, however old. */
  get known(): TorrentShape | undefined {
    return this.#known?.shape;
  }

  /**
   * A fresh shape, or the last one while a new one is being learned in the background. Only the
   * very first call waits for rtorrent; a failed probe rejects with an UpstreamError.
   */
  current(): Promise<TorrentShape> {
    const known = this.#known;
    if (known !== undefined && this.#now() - known.at < this.#maxAgeMs) return Promise.resolve(known.shape);
    const refresh = this.refresh();
    if (known === undefined) return refresh;
    // A failed background refresh keeps the old shape; the next call tries again.
    refresh.catch(() => undefined);
    return Promise.resolve(known.shape);
  }

  /** Asks rtorrent now (one probe at a time, shared by everyone waiting). */
  refresh(): Promise<TorrentShape> {
    this.#pending ??= this.#probe().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #probe(): Promise<TorrentShape> {
    const where = this.#upstream.address.label;
    const response = await this.#upstream.call(SHAPE_PROBE, { requestUri: '/RPC2', remoteAddr: '127.0.0.1' });
    const body = response.kind === 'whole' ? response.body : await response.body.readAll(MAX_ANSWER_BYTES);
    let shape: TorrentShape;
    try {
      if (response.head.status !== 200 || body === undefined) throw new Error(`HTTP status ${response.head.status}`);
      const decoded = decodeMethodResponse(body);
      if (!decoded.ok) throw new Error(decoded.fault.faultString);
      if (!Array.isArray(decoded.value)) throw new Error('not a system.multicall answer');
      const answers = decoded.value as readonly XmlRpcAnswer[];
      shape = {
        version: String(member(answers, 0, 'system.client_version')),
        torrents: count(answers, 1, 'view.size main'),
        files: count(answers, 2, 'most files in a torrent'),
        trackers: count(answers, 3, 'most trackers in a torrent'),
        peers: count(answers, 4, 'largest peer cap of a torrent'),
        chunks: count(answers, 5, 'most pieces in a torrent'),
      };
    } catch (error) {
      throw new UpstreamError(
        'GW_UPSTREAM_BAD_RESPONSE',
        where,
        `cannot learn the number of torrents from rtorrent at ${where}, which bounds what a call may cost: ${(error as Error).message}`,
      );
    }
    this.#known = { shape, at: this.#now() };
    this.#onVersion?.(shape.version);
    return shape;
  }
}
