import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestSummary } from '../http/request-log.js';
import { LIMITED_OUTCOMES, QUIET_OUTCOMES } from '../request-log-line.js';
import { isKnownCommand, XMLRPC_BUILTINS } from '../policy/command-names.js';
import type { ReadSharingCounts } from '../upstream/coalescer.js';

/** What the in-flight gauges read; the Upstream has both, and its shared reads when configured. */
export interface UpstreamLoad {
  readonly inFlight: number;
  readonly queued: number;
  readonly reads?: { readonly counts: ReadSharingCounts } | undefined;
}

/** From a local socket round trip (~100 µs) to rtorrent stuck hashing for the whole upstream.timeout. */
const UPSTREAM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Refusals counted as denials. A 401 counts only when a user name was sent: the bare first request of every client is a challenge, not an attack. */
const DENIAL_OUTCOMES: ReadonlySet<string> = new Set(['denied', 'forbidden', 'cross_site', 'unauthenticated', 'throttled']);

/**
 * Label values come from what clients send, so each one is bounded here: a method name is kept only
 * if rtorrent or xmlrpc-c knows it, and a user name only once its password was verified. Anything
 * else would let one client mint unlimited time series.
 */
export function methodLabel(name: string | undefined): string {
  if (name === undefined) return '';
  return isKnownCommand(name) || XMLRPC_BUILTINS.has(name) ? name : 'other';
}

function userLabel(summary: RequestSummary): string {
  return summary.authenticated && summary.user !== undefined ? summary.user : '';
}

/** The policy refusal reads "<method>: <reason>" (src/call-decision.ts). */
function deniedMethod(summary: RequestSummary): string {
  if (summary.outcome !== 'denied') return methodLabel(summary.methods[0]);
  const colon = summary.denial?.indexOf(': ') ?? -1;
  return colon > 0 ? methodLabel(summary.denial?.slice(0, colon)) : methodLabel(summary.methods[0]);
}

function limitLabel(summary: RequestSummary): string {
  switch (summary.outcome) {
    case 'over_budget':
      return summary.budget === 'rate' ? 'call_rate' : 'calls_in_flight';
    case 'too_costly':
      return 'call_cost';
    default:
      return 'answer_bytes';
  }
}

/**
 * One Prometheus registry per gateway instance (never prom-client's global one), so tests and
 * embedders can run several gateways in one process without their numbers mixing.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'transport' | 'user' | 'method' | 'outcome'>;
  readonly #denials: Counter<'user' | 'method' | 'reason'>;
  readonly #bytes: Counter<'user' | 'direction'>;
  readonly #limited: Counter<'user' | 'limit'>;
  readonly #upstreamSeconds: Histogram<'upstream'>;
  readonly #upstreamErrors: Counter<'upstream' | 'code'>;
  readonly #upstreams = new Map<string, UpstreamLoad>();
  readonly #reloads: Counter<'result'>;
  readonly #reloadOk: Gauge;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'rtorrent_gateway_requests_total',
      help: 'Requests by transport (http, scgi), verified user ("" before authentication), top-level XML-RPC method and outcome',
      labelNames: ['transport', 'user', 'method', 'outcome'],
      registers,
    });
    this.#denials = new Counter({
      name: 'rtorrent_gateway_denials_total',
      help: 'Refused requests by verified user, refused method and reason (denied by policy, forbidden user, cross_site, unauthenticated, throttled)',
      labelNames: ['user', 'method', 'reason'],
      registers,
    });
    this.#bytes = new Counter({
      name: 'rtorrent_gateway_relayed_bytes_total',
      help: 'Bytes relayed for calls that reached rtorrent: request bodies (in) and response bodies as sent, compressed where the client asked (out)',
      labelNames: ['user', 'direction'],
      registers,
    });
    this.#limited = new Counter({
      name: 'rtorrent_gateway_limited_calls_total',
      help: 'Calls refused or cut for what they cost, by user and limit: calls_in_flight and call_rate (429), call_cost (estimated answer, nested multicall, glob pattern), answer_bytes',
      labelNames: ['user', 'limit'],
      registers,
    });
    this.#upstreamSeconds = new Histogram({
      name: 'rtorrent_gateway_upstream_duration_seconds',
      help: "Time from asking for an rtorrent connection to the last byte of rtorrent's answer (includes waiting for a free connection)",
      buckets: UPSTREAM_BUCKETS,
      labelNames: ['upstream'],
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: 'rtorrent_gateway_upstream_errors_total',
      help: 'Calls rtorrent did not answer in full, by error code (GW_UPSTREAM_UNREACHABLE, _TIMEOUT, _BUSY, _BAD_RESPONSE)',
      labelNames: ['upstream', 'code'],
      registers,
    });
    const upstreams = this.#upstreams;
    // Read at scrape time from each upstream's counters, so they cannot drift.
    new Gauge({
      name: 'rtorrent_gateway_upstream_calls_in_flight',
      help: 'Calls holding an rtorrent connection now (upstream.max_connections at most)',
      labelNames: ['upstream'],
      registers,
      collect() {
        for (const [name, upstream] of upstreams) this.set({ upstream: name }, upstream.inFlight);
      },
    });
    new Gauge({
      name: 'rtorrent_gateway_upstream_calls_queued',
      help: 'Calls waiting for a free rtorrent connection now (upstream.max_queue at most)',
      labelNames: ['upstream'],
      registers,
      collect() {
        for (const [name, upstream] of upstreams) this.set({ upstream: name }, upstream.queued);
      },
    });
    // Counted by each upstream's shared reads and read at scrape time, like the gauges above.
    new Counter({
      name: 'rtorrent_gateway_shared_reads_total',
      help: 'Read-only calls with upstream.coalesce_reads or upstream.read_cache_ttl, by where the answer came from: called (a miss: rtorrent was asked), joined (an identical call in flight), cached (a kept answer)',
      labelNames: ['upstream', 'source'],
      registers,
      collect() {
        this.reset();
        for (const [name, upstream] of upstreams) {
          const counts = upstream.reads?.counts;
          if (counts === undefined) continue;
          for (const source of ['called', 'joined', 'cached'] as const) this.inc({ upstream: name, source }, counts[source]);
        }
      },
    });
    new Counter({
      name: 'rtorrent_gateway_read_cache_served_bytes_total',
      help: 'Answer bytes served from kept answers (upstream.read_cache_ttl) instead of asking rtorrent',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const [name, upstream] of upstreams) {
          const counts = upstream.reads?.counts;
          if (counts !== undefined) this.inc({ upstream: name }, counts.cachedBytesServed);
        }
      },
    });
    new Gauge({
      name: 'rtorrent_gateway_read_cache_bytes',
      help: 'Bytes of answers kept now (upstream.read_cache_max_bytes at most)',
      labelNames: ['upstream'],
      registers,
      collect() {
        for (const [name, upstream] of upstreams) {
          const counts = upstream.reads?.counts;
          if (counts !== undefined) this.set({ upstream: name }, counts.cachedBytes);
        }
      },
    });
    this.#reloads = new Counter({
      name: 'rtorrent_gateway_config_reloads_total',
      help: 'SIGHUP reloads by result (success, failure)',
      labelNames: ['result'],
      registers,
    });
    this.#reloadOk = new Gauge({
      name: 'rtorrent_gateway_config_last_reload_successful',
      help: '1 if the last reload succeeded (or none was tried), 0 if the gateway still serves an older configuration',
      registers,
    });
    this.#reloadOk.set(1);
    // Per-process metrics (memory, CPU, event loop lag) are started only by the process owner, the
    // CLI: they hook process-wide observers that a library instance has no business adding.
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Gauges read each upstream's counters at scrape time, so they cannot drift. */
  watchUpstream(name: string, upstream: UpstreamLoad): void {
    this.#upstreams.set(name, upstream);
  }

  /** A request-log observer: bound, so it can be handed over as a plain function. */
  readonly observeRequest = (summary: RequestSummary): void => {
    if (QUIET_OUTCOMES.has(summary.outcome)) return;
    const user = userLabel(summary);
    this.#requests.inc({ transport: summary.transport, user, method: methodLabel(summary.methods[0]), outcome: summary.outcome });
    if (DENIAL_OUTCOMES.has(summary.outcome) && (summary.outcome !== 'unauthenticated' || summary.user !== undefined)) {
      this.#denials.inc({ user, method: deniedMethod(summary), reason: summary.outcome });
    }
    if (LIMITED_OUTCOMES.has(summary.outcome)) this.#limited.inc({ user, limit: limitLabel(summary) });
    if (summary.outcome === 'relayed' || summary.outcome === 'upstream_truncated') {
      this.#bytes.inc({ user, direction: 'in' }, summary.bytesIn);
      this.#bytes.inc({ user, direction: 'out' }, summary.bytesOut);
    }
  };

  upstreamAnswered(upstream: string, seconds: number): void {
    this.#upstreamSeconds.observe({ upstream }, seconds);
  }

  upstreamFailed(upstream: string, code: string): void {
    this.#upstreamErrors.inc({ upstream, code });
  }

  reloaded(ok: boolean): void {
    this.#reloads.inc({ result: ok ? 'success' : 'failure' });
    this.#reloadOk.set(ok ? 1 : 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
