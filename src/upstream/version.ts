import { decodeMethodResponse } from '../xmlrpc/response.js';
import type { Upstream } from './upstream.js';

/** With the empty target, as clients send it (the health probe sends none). */
export const VERSION_PROBE = Buffer.from(
  '<?xml version="1.0"?>\n<methodCall><methodName>system.client_version</methodName><params><param><value><string></string></value></param></params></methodCall>\n',
);
/** How long an answer that names no release is believed, before rtorrent is asked again. */
const UNKNOWN_FOR_MS = 60_000;
/**
 * How long a known release is believed before it is asked again in the background (the callers keep
 * the answer they have meanwhile): rtorrent can be restarted as another release between two calls,
 * without any call seeing it gone.
 */
const RECHECK_AFTER_MS = 60_000;
/** system.client_version's answer is ~150 bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Which rtorrent release answers on this socket ("0.9.8", "0.16.20"). Asked once, again after
 * rtorrent could not be reached (it may come back as another release), and again in the background
 * once the answer is a minute old. A failed question leaves it unknown for a minute; calls then go
 * out trusted, which every release accepts.
 */
export class UpstreamVersion {
  readonly #upstream: Pick<Upstream, 'call'>;
  readonly #now: () => number;
  #known: string | undefined;
  #knownAt = 0;
  /** When rtorrent's answer named no release (or it could not be asked), until asking again. */
  #unknownUntil = 0;
  #pending: Promise<string | undefined> | undefined;
  /** Bumped by forget(), so an answer asked for before it does not come back as current. */
  #generation = 0;

  constructor(upstream: Pick<Upstream, 'call'>, now: () => number = Date.now) {
    this.#upstream = upstream;
    this.#now = now;
  }

  get known(): string | undefined {
    return this.#known;
  }

  /** The version, asking rtorrent first when it is not known. */
  current(): Promise<string | undefined> {
    if (this.#known !== undefined) {
      if (this.#pending === undefined && this.#now() - this.#knownAt > RECHECK_AFTER_MS) this.#recheck();
      return Promise.resolve(this.#known);
    }
    if (this.#now() < this.#unknownUntil) return Promise.resolve(undefined);
    if (this.#pending !== undefined) return this.#pending;
    const generation = this.#generation;
    const settle = (version: string | undefined): string | undefined => {
      if (generation !== this.#generation) return version;
      this.#pending = undefined;
      if (version === undefined) this.#unknownUntil = this.#now() + UNKNOWN_FOR_MS;
      else this.note(version);
      return version;
    };
    this.#pending = this.#ask().then(settle, () => settle(undefined));
    return this.#pending;
  }

  /** What another probe learned (the shape probe asks for the version too). */
  note(version: string): void {
    this.#known = version;
    this.#knownAt = this.#now();
  }

  /** Asks again without making anyone wait; a failed question keeps the release for another round. */
  #recheck(): void {
    const generation = this.#generation;
    this.#knownAt = this.#now();
    const settle = (version: string | undefined): undefined => {
      if (generation !== this.#generation) return undefined;
      this.#pending = undefined;
      if (version !== undefined) this.note(version);
      return undefined;
    };
    this.#pending = this.#ask().then(settle, () => settle(undefined));
  }

  /** rtorrent went away: ask again next time. */
  forget(): void {
    this.#known = undefined;
    this.#unknownUntil = 0;
    // A question already asked answers for the rtorrent that went away: the next caller asks anew.
    this.#pending = undefined;
    this.#generation++;
  }

  async #ask(): Promise<string | undefined> {
    const answer = await askVersion(this.#upstream);
    return 'version' in answer ? answer.version : undefined;
  }
}

/** rtorrent's answer to system.client_version: its release, or what came back instead. */
export type VersionAnswer =
  | { readonly version: string }
  | { readonly status: number }
  | { readonly tooLarge: number }
  | { readonly fault: { readonly faultCode: number; readonly faultString: string } }
  | { readonly noRelease: true };

/** Asks once; a failure to connect or a timeout rejects with the UpstreamError. */
export async function askVersion(upstream: Pick<Upstream, 'call'>): Promise<VersionAnswer> {
  const response = await upstream.call(VERSION_PROBE, { requestUri: '/RPC2', remoteAddr: '127.0.0.1' });
  const body = response.kind === 'whole' ? response.body : await response.body.readAll(MAX_ANSWER_BYTES);
  if (response.head.status !== 200) return { status: response.head.status };
  if (body === undefined) return { tooLarge: MAX_ANSWER_BYTES };
  const decoded = decodeMethodResponse(body);
  if (!decoded.ok) return { fault: decoded.fault };
  return typeof decoded.value === 'string' ? { version: decoded.value } : { noRelease: true };
}
