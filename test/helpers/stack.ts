/**
 * A real rtorrent with a gateway in front of it, for one `describe`. The set-up lives here once so
 * that no suite can forget part of the teardown: the after() hook closes the gateway and stops
 * rtorrent even when before() failed half way, and node:test runs it in that case too.
 */
import { after, before } from 'node:test';
import { startGateway, type GatewayTestInstance, type GatewayTestOptions } from './gateway.js';
import { makeTempDir, removeTempDir } from './processes.js';
import { startRtorrent, type RtorrentInstance, type RtorrentOptions } from './rtorrent.js';

/** `upstream` defaults to the rtorrent's socket. */
export type StackGatewayOptions = Partial<GatewayTestOptions>;

export interface StackOptions {
  readonly rtorrent?: RtorrentOptions;
  /** The gateway's options, or a function giving them once rtorrent runs (and `dir` exists). */
  readonly gateway?: StackGatewayOptions | ((rtorrent: RtorrentInstance, dir: string) => StackGatewayOptions | Promise<StackGatewayOptions>);
  /** SIGKILL rtorrent at teardown: a SIGTERM has it save its session first, slow for thousands of torrents. */
  readonly discardSession?: boolean;
}

export interface Stack {
  readonly rtorrent: RtorrentInstance;
  readonly gateway: GatewayTestInstance;
  /** A temp dir of the stack's own, for the sockets and files the gateway's config names; removed at teardown. */
  readonly dir: string;
  /** The gateway's URL for `path` (/RPC2 by default). */
  url(path?: string): string;
}

/** Call inside a `describe` callback: registers its before() and after() hooks there. */
export function withStack(options: StackOptions = {}): Stack {
  let rtorrent: RtorrentInstance | undefined;
  let gateway: GatewayTestInstance | undefined;
  let dir: string | undefined;

  before(async () => {
    rtorrent = await startRtorrent(options.rtorrent);
    dir = makeTempDir(`${options.rtorrent?.name ?? 'stack'}-files`);
    const gatewayOptions = typeof options.gateway === 'function' ? await options.gateway(rtorrent, dir) : options.gateway;
    gateway = await startGateway({ ...gatewayOptions, upstream: gatewayOptions?.upstream ?? `unix:${rtorrent.socketPath}` });
  });
  after(async () => {
    try {
      await gateway?.close();
    } finally {
      if (options.discardSession === true) rtorrent?.kill('SIGKILL');
      await rtorrent?.stop();
      if (dir !== undefined) await removeTempDir(dir);
    }
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the stack's ${what} is not there yet: use it in a test, or in a hook registered after withStack()`);
    return value;
  };
  return {
    get rtorrent() {
      return started(rtorrent, 'rtorrent');
    },
    get gateway() {
      return started(gateway, 'gateway');
    },
    get dir() {
      return started(dir, 'temp dir');
    },
    url: (path) => started(gateway, 'gateway').url(path),
  };
}
