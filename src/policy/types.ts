import type { MethodCall } from '../xmlrpc/types.js';

/** One entry of the `policies` table in the gateway configuration. */
export interface PolicyDefinition {
  /** a built-in or another custom policy whose rules this one starts from */
  extends?: string;
  /** exact, case-sensitive rtorrent command names added to the inherited allowlist */
  allow?: string[];
  /** exact command names refused everywhere, at the top level and inside command strings; wins over allow */
  deny?: string[];
  /** absolute directories that d.directory.set, d.directory_base.set and local-file loads must stay in */
  download_roots?: string[];
  /** what load.* may load: magnet, http, https, ftp, data, raw, file; default magnet, http, https, data, raw */
  load_sources?: string[];
}

export type PolicyVerdict =
  | {
      allowed: true;
      methods: string[];
      /**
       * Every command the call can reach is on rtorrent's own untrusted-safe list, so the call can be
       * sent with UNTRUSTED_CONNECTION=1 and rtorrent ≥ 0.16.9 checks it a second time.
       */
      untrustedSafe: boolean;
    }
  | { allowed: false; methods: string[]; method: string; reason: string };

export interface CompiledPolicy {
  readonly name: string;
  check(call: MethodCall): PolicyVerdict;
  /** The allowed call as it is sent to rtorrent (network.xmlrpc.size_limit.set clamped to the body limit). */
  prepare(call: MethodCall): MethodCall;
}
