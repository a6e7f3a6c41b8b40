import { UpstreamError } from '../errors.js';
import { OWNER_KEY } from '../policy/owner-tag.js';
import { encodeMethodCall } from '../xmlrpc/encode.js';
import { decodeMethodResponse, isFault, type XmlRpcAnswer } from '../xmlrpc/response.js';
import type { XmlRpcValue } from '../xmlrpc/types.js';
import type { Upstream } from './upstream.js';

export interface TorrentOwnersOptions {
  /**
   * How long an owner learned from rtorrent is trusted. Changes made through the gateway (a load, an
   * erase, an owner set by an admin) drop everything at once; this bounds how long a change made
   * behind its back (rtorrent.rc, a watch directory, another socket) can go unseen. Default 5 s.
   */
  readonly ttlMs?: number;
  /** Most hashes remembered; the oldest go first. Default 100 000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** An answer of one d.custom per hash, a few dozen bytes each: far below this even for 1 000 hashes. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * Who owns each torrent of one rtorrent, for callers whose policy keeps them to their own torrents.
 * Learned from the owner tag (policy/owner-tag.ts) with one system.multicall for all the hashes a call
 * targets that are not known yet, and remembered briefly.
 */
export class TorrentOwners {
  readonly #upstream: Pick<Upstream, 'call' | 'address'>;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** hash → owner ("" for an untagged torrent, undefined for a hash rtorrent does not hold) */
  readonly #known = new Map<string, { readonly owner: string | undefined; readonly at: number }>();
  /** Bumped by every invalidation, so an answer asked for before one is not kept after it. */
  #generation = 0;

  constructor(upstream: Pick<Upstream, 'call' | 'address'>, options: TorrentOwnersOptions = {}) {
    this.#upstream = upstream;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#known.size;
  }

  /** Forgets every owner: a call may have added, erased or reassigned torrents. */
  invalidate(): void {
    this.#known.clear();
    this.#generation++;
  }

  /** The owner of each hash (upper-case info-hashes): undefined when rtorrent holds no such torrent. */
  async ownersOf(hashes: ReadonlySet<string>): Promise<Map<string, string | undefined>> {
    const owners = new Map<string, string | undefined>();
    const missing: string[] = [];
    const now = this.#now();
    for (const hash of hashes) {
      const known = this.#known.get(hash);
      if (known !== undefined && now - known.at < this.#ttlMs) owners.set(hash, known.owner);
      else missing.push(hash);
    }
    if (missing.length === 0) return owners;
    const generation = this.#generation;
    const learned = await this.#ask(missing);
    const at = this.#now();
    for (const [hash, owner] of learned) {
      owners.set(hash, owner);
      if (generation !== this.#generation) continue;
      this.#known.delete(hash);
      this.#known.set(hash, { owner, at });
    }
    while (this.#known.size > this.#maxEntries) this.#known.delete(this.#known.keys().next().value as string);
    return owners;
  }

  async #ask(hashes: readonly string[]): Promise<Map<string, string | undefined>> {
    const where = this.#upstream.address.label;
    const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
    const members: XmlRpcValue[] = hashes.map((hash) => ({
      kind: 'struct',
      members: new Map<string, XmlRpcValue>([
        ['methodName', text('d.custom')],
        ['params', { kind: 'array', items: [text(hash), text(OWNER_KEY)] }],
      ]),
    }));
    const body = encodeMethodCall({ methodName: 'system.multicall', params: [{ kind: 'array', items: members }] });
    const response = await this.#upstream.call(body, { requestUri: '/RPC2', remoteAddr: '127.0.0.1' });
    const answer = response.kind === 'whole' ? response.body : await response.body.readAll(MAX_ANSWER_BYTES);
    try {
      if (response.head.status !== 200 || answer === undefined) throw new Error(`HTTP status ${response.head.status}`);
      const decoded = decodeMethodResponse(answer);
      if (!decoded.ok) throw new Error(decoded.fault.faultString);
      const values = decoded.value;
      if (!Array.isArray(values) || values.length !== hashes.length) throw new Error('not an answer to the owner lookup');
      const owners = new Map<string, string | undefined>();
      hashes.forEach((hash, index) => owners.set(hash, ownerIn((values as readonly XmlRpcAnswer[])[index])));
      return owners;
    } catch (error) {
      throw new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `cannot learn who owns the torrents a call names from rtorrent at ${where}: ${(error as Error).message}`);
    }
  }
}

/** A member's answer: [owner] for a torrent rtorrent holds, a fault for a hash it does not. */
function ownerIn(answer: XmlRpcAnswer | undefined): string | undefined {
  if (isFault(answer)) return undefined;
  if (!Array.isArray(answer) || answer.length !== 1 || typeof answer[0] !== 'string') throw new Error('unexpected answer to d.custom');
  return answer[0];
}
