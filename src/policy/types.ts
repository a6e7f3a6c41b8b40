import type { MethodCall } from '../xmlrpc/types.js';
import type { CostEstimate } from './cost-estimate.js';
import type { ScopedCall, ScopeRefusal } from './scope.js';
import type { SafeWindow } from './untrusted-safe.data.js';

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
  /** per-torrent multicalls (f.multicall, t.multicall, p.multicall) that a d.multicall row may call */
  row_multicalls?: string[];
  /** most cells (about 32 bytes each) one answer may be estimated to hold (rows × columns); default limits.max_answer_cells */
  max_answer_cells?: number;
  /** largest answer relayed, in bytes; default limits.max_answer_bytes */
  max_answer_bytes?: number;
  /** the user's calls in flight at once; 0: no limit */
  calls_in_flight?: number;
  /**
   * "own": the user sees and touches only the torrents they added (lists narrowed, other torrents
   * answer as unknown hashes); "all" (default): every torrent
   */
  scope?: 'all' | 'own';
  /** the user's sustained calls per second; 0: no limit */
  call_rate?: number;
  /** calls a user may make at once after being idle */
  call_burst?: number;
}

/** A limit and the configuration key it came from, so a refusal can say what to raise. */
export interface Limit {
  readonly value: number;
  readonly key: string;
}

/** How many calls one user may have in flight and how fast they may come; undefined members do not limit. */
export interface CallBudget {
  readonly callsInFlight: Limit | undefined;
  readonly callRate: Limit | undefined;
  readonly callBurst: Limit;
}

/** The [limits] values that policies fall back on. */
export interface PolicyLimitDefaults {
  readonly maxAnswerCells: number;
  readonly maxAnswerBytes: number;
  readonly maxPatternLength: number;
  readonly maxPatternWildcards: number;
  readonly maxStoredValueBytes: number;
  readonly callsInFlight: number;
  readonly callRate: number;
  readonly callBurst: number;
}

/**
 * - 400 000 cells: rtorrent 0.9.8 spends 1.2-2 µs on each (0.16.20 less; the more, the busier the
 *   host), so the worst answer allowed keeps its main thread busy for 0.5-0.8 s, under a second
 *   with room (bench/cost-bounds.ts); ruTorrent's or Flood's list (about 63 cells a torrent with
 *   one tracker) fits up to 6 300 torrents.
 * - 64 MiB answers: 400 000 cells of the sizes counted are under 20 MB.
 * - glob patterns of 64 characters with one '*': "*.mkv", "Sample*"; each further '*' multiplies
 *   rtorrent 0.9.8's matching time by the length of the file name.
 * - 4 KiB stored per label, message or tracker URL: a ruTorrent comment or Flood's tags take far
 *   less, and every list that reads one sends it again for every torrent.
 * - 8 calls in flight, 20 a second, bursts of 40: Flood sends one call at a time, pollers a few
 *   every few seconds, and a system.multicall (ruTorrent's "select all") counts once.
 */
export const DEFAULT_POLICY_LIMITS: Readonly<PolicyLimitDefaults> = Object.freeze({
  maxAnswerCells: 400_000,
  maxAnswerBytes: 64 * 1024 * 1024,
  maxPatternLength: 64,
  maxPatternWildcards: 1,
  maxStoredValueBytes: 4096,
  callsInFlight: 8,
  callRate: 20,
  callBurst: 40,
});

/** What a policy bounds beyond which commands run; undefined members are not bounded (policies built on full). */
export interface PolicyLimits {
  readonly maxAnswerCells: Limit | undefined;
  readonly maxAnswerBytes: Limit | undefined;
  readonly budget: CallBudget;
}

export type PolicyVerdict =
  | {
      allowed: true;
      methods: string[];
      /**
       * The rtorrent releases whose own untrusted-safe list holds every command the call can reach:
       * to them it can be sent with UNTRUSTED_CONNECTION=1, and they check it a second time.
       * Undefined: no release would take it untrusted (or the policy is full).
       */
      untrusted: SafeWindow | undefined;
      /** What the call may cost rtorrent; undefined for policies that are not bounded (full). */
      cost: CostEstimate | undefined;
      /** Every command the call can run, command strings included; undefined for full, which is not walked. */
      reached?: ReadonlySet<string>;
    }
  | {
      allowed: false;
      methods: string[];
      method: string;
      reason: string;
      /** Refused for what it would cost rather than for what it would run. */
      costly?: true;
    };

export type PolicyScope = 'all' | 'own';

export interface CompiledPolicy {
  readonly name: string;
  /** "own": calls are narrowed to the caller's torrents (scopeCall) before they are sent. */
  readonly scope: PolicyScope;
  /**
   * The policy as it applies to one user: itself, unless its download_roots name {user}, which are
   * then filled in with the user's name.
   */
  forUser(user: string): CompiledPolicy;
  /** A scope = "own" policy's narrowing of an allowed call for `user` (scope.ts); undefined for scope = "all". */
  scopeCall(call: MethodCall, user: string): ScopedCall | ScopeRefusal | undefined;
  /** Bounds on cost and rate. */
  readonly limits: PolicyLimits;
  check(call: MethodCall): PolicyVerdict;
  /**
   * The allowed call as it is sent to rtorrent: network.xmlrpc.size_limit.set clamped to the body
   * limit, and to the largest request the rtorrent release reads when that is given.
   */
  prepare(call: MethodCall, upstreamBodyLimit?: number): MethodCall;
}
