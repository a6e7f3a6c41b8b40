import { z } from 'zod';
import { parseListenAddress, parseUpstreamAddress, type SocketAddress } from './address.js';
import { parseDuration, parseSize } from './units.js';
import { DEFAULT_SERVER_LIMITS, limitsIssues, resolveLimits, type ResolvedLimits } from './limits.js';
import { DEFAULT_XML_LIMITS } from '../xmlrpc/call-limits.js';
import { DEFAULT_POLICY_LIMITS } from '../policy/types.js';
import { restartOnly } from './restart-rules.js';

/**
 * The config file's shape, in its own snake_case keys, and the normalised form the gateway runs
 * on. Every check happens here, once, so the rest of the code can trust the types.
 */

const RTORRENT_MAX_BODY = 16 * 1024 * 1024;

const listenAddress = z.string().transform((text, ctx): SocketAddress => {
  const address = parseListenAddress(text);
  if (!address) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not host:port, [ipv6]:port or unix:/absolute/path` });
    return z.NEVER;
  }
  return address;
});

const upstreamAddress = z.string().transform((text, ctx): SocketAddress => {
  const address = parseUpstreamAddress(text);
  if (!address) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not unix:/absolute/path/scgi.socket or tcp://host:port`,
    });
    return z.NEVER;
  }
  return address;
});

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a duration such as "500ms", "2s" or "1m"` });
    return z.NEVER;
  }
  return ms;
});

/** A duration where "0s" means off. */
const durationOrOff = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a duration such as "1s" or "500ms" ("0s": off)` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a size such as "16MiB", "512k" or 1048576` });
    return z.NEVER;
  }
  return bytes;
});

/** A size where 0 is a value of its own (the threshold below which nothing is left out). */
const sizeOrZero = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes < 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a size such as "1KiB", "512" or 0` });
    return z.NEVER;
  }
  return bytes;
});

const httpPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~\-/]*$/, 'must be an absolute URL path such as "/RPC2"');

const userName = /^[^:\s]+$/;

/** What log.format and the deprecated log.pretty amount to together. */
function loggerFormat(log: { readonly format?: string | undefined; readonly pretty: boolean }): 'json' | 'text' {
  return log.format === 'text' || (log.format === undefined && log.pretty) ? 'text' : 'json';
}

/** The unauthenticated liveness endpoint; fixed so Docker, systemd and load balancers agree on it. */
export const HEALTH_PATH = '/healthz';
/** /healthz and /healthz/NAME, one per rtorrent: the health endpoints' paths. */
function isHealthPath(path: string): boolean {
  return path === HEALTH_PATH || path.startsWith(`${HEALTH_PATH}/`);
}

/** The upstream of the [upstream] section, among named [upstreams.NAME]. */
export const DEFAULT_UPSTREAM = 'default';

// A string, so "0660" cannot be mistaken for the decimal 660 that TOML would make of it.
const fileMode = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value !== 'string' || !/^0?[0-7]{3}$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not an octal mode written as a string, such as "0660"` });
    return z.NEVER;
  }
  return Number.parseInt(value, 8);
});

const groupName = z
  .string()
  .regex(/^(?:[A-Za-z_][A-Za-z0-9_.-]*\$?|\d+)$/, 'must be a group name or a numeric gid');

/** Per-user call budget ([limits], policies.NAME and access.users.NAME): 0 turns a limit off. */
const callsInFlight = z.number().int().min(0);
const callRate = z.number().min(0);
const callBurst = z.number().int().min(1);

export interface UserAccessConfig {
  readonly policy: string;
  readonly upstream?: string;
  readonly calls_in_flight?: number;
  readonly call_rate?: number;
  readonly call_burst?: number;
}

const userAccess = z.union([
  z.string().transform((policy): UserAccessConfig => ({ policy })),
  // upstream: on a shared seedbox, the user's calls always go to their own rtorrent, whatever path they call.
  z.strictObject({
    policy: z.string(),
    upstream: z.string().optional(),
    calls_in_flight: callsInFlight.optional(),
    call_rate: callRate.optional(),
    call_burst: callBurst.optional(),
  }),
]);

const upstreamName = /^[A-Za-z0-9_-]+$/;

const untrustedMode = z.enum(['auto', 'never']);

const policyDefinition = z.strictObject({
  extends: z.string().optional(),
  allow: z.array(z.string()).optional(),
  deny: z.array(z.string()).optional(),
  download_roots: z.array(z.string()).optional(),
  load_sources: z.array(z.string()).optional(),
  row_multicalls: z.array(z.string()).optional(),
  scope: z.enum(['all', 'own']).optional(),
  max_answer_cells: z.number().int().min(1).optional(),
  max_answer_bytes: size.optional(),
  calls_in_flight: callsInFlight.optional(),
  call_rate: callRate.optional(),
  call_burst: callBurst.optional(),
});

const scgiListenAddress = z.string().transform((text, ctx) => {
  const address = parseListenAddress(text.replace(/^tcp:\/\//, ''));
  // SCGI has no credentials: over TCP anyone on the host could connect, so only loopback is allowed,
  // and a Unix socket's permissions are the real access control.
  if (!address || (address.kind === 'tcp' && address.host !== '127.0.0.1' && address.host !== '::1')) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not unix:/absolute/path or tcp://127.0.0.1:port (loopback only)` });
    return z.NEVER;
  }
  return address;
});

const scgiListener = z.strictObject({
  listen: scgiListenAddress,
  user: z.string().regex(userName, 'user names cannot contain ":" or spaces'),
  mode: fileMode.optional(),
  owner: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
  group: z.union([groupName, z.number().int().min(0)]).optional(),
  idle_timeout: duration.optional(),
  request_timeout: duration.optional(),
  max_connections: z.number().int().min(1).optional(),
});

function longestUpstreamTimeout(config: { upstream: { timeout: number }; upstreams: Record<string, { timeout?: number | undefined }> }): number {
  return Math.max(config.upstream.timeout, ...Object.values(config.upstreams).map((named) => named.timeout ?? config.upstream.timeout));
}

export const configFileSchema = z.strictObject({
  server: z
    .strictObject({
      listen: restartOnly(listenAddress.prefault('127.0.0.1:8000')),
      paths: restartOnly(z.array(httpPath).min(1).default(['/RPC2', '/scgi'])),
      body_limit: restartOnly(size.prefault(RTORRENT_MAX_BODY)),
      hosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$|^\*$/, 'must be a host name without port, or "*"')).default([]),
      allowed_origins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin such as "https://ui.example.org"')).default([]),
      // Only for unix: listen addresses; a reverse proxy in another group needs "0660" and its group.
      socket_mode: restartOnly(fileMode.optional()),
      socket_group: restartOnly(groupName.optional()),
      tls: restartOnly(z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(), { compare: (tls) => tls !== undefined }),
      // How long SIGTERM waits for calls in flight; systemd's TimeoutStopSec must be longer.
      shutdown_timeout: duration.prefault('10s'),
      trust_proxy: restartOnly(z.boolean().default(false)),
      // Answers compressed for clients that ask (Accept-Encoding), above a size (docs/hardening.md).
      compress: z.boolean().default(true),
      compress_min_bytes: sizeOrZero.prefault('1KiB'),
    })
    .prefault({}),
  upstream: z.strictObject({
    scgi: restartOnly(upstreamAddress),
    timeout: restartOnly(duration.prefault('60s')),
    // Well under the connections rtorrent holds (100 on 0.9.8; on 0.16 system.sockets.rpc.max_size,
    // 31 at the usual 1024 open files), which ruTorrent, cron scripts and others share.
    max_connections: restartOnly(z.number().int().min(1).max(90).default(16)),
    max_queue: restartOnly(z.number().int().min(0).default(512)),
    // Opt-in: identical read-only calls in flight together share one upstream call.
    coalesce_reads: restartOnly(z.boolean().default(false)),
    coalesce_max_bytes: restartOnly(size.prefault('64MiB')),
    // Opt-in: a finished read-only answer also serves identical calls for this long ("0s": off).
    read_cache_ttl: restartOnly(durationOrOff.prefault('0s')),
    read_cache_max_bytes: restartOnly(size.prefault('32MiB')),
    // rtorrent ≥ 0.15.2 speaks JSON-RPC on the same socket; 0.9.8 does not.
    jsonrpc: restartOnly(z.boolean().default(false)),
    // "auto": UNTRUSTED_CONNECTION=1 where this rtorrent's release takes the whole call so.
    untrusted: restartOnly(untrustedMode.default('auto')),
  }),
  auth: z.strictObject({
    htpasswd: z.string().min(1),
    // Offers HTTP Digest next to Basic when set: an Apache htdigest file for the same realm.
    htdigest: z.string().min(1).optional(),
    realm: restartOnly(
      z
        .string()
        .regex(/^[^"\\\r\n]*$/, 'must not contain quotes, backslashes or line breaks')
        .default('rtorrent'),
    ),
  }),
  access: z
    .strictObject({
      users: z.record(z.string().regex(userName, 'user names cannot contain ":" or spaces'), userAccess).default({}),
    })
    .default({ users: {} }),
  policies: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'policy names are letters, digits, "_" and "-"'), policyDefinition).default({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      // The logger is built once, before the server; log.pretty = true is a way of writing "text".
      format: restartOnly(z.enum(['json', 'text']).optional(), { compare: (_format, config) => (config as GatewayConfig).log.format }),
      // Deprecated: the name of format = "text" before there was a format, kept so those files still load.
      pretty: z.boolean().default(false),
    })
    .default({ level: 'info', pretty: false })
    .superRefine((log, ctx) => {
      if (log.pretty && log.format === 'json') {
        ctx.addIssue({ code: 'custom', path: ['pretty'], message: 'true means log.format = "text", which contradicts log.format = "json"; keep only log.format' });
      }
    }),
  metrics: z
    .strictObject({
      enabled: restartOnly(z.boolean().default(true)),
      path: restartOnly(httpPath.default('/metrics')),
      // Metrics name users and methods: behind Basic auth unless the admin says otherwise.
      public: z.boolean().default(false),
      users: z.array(z.string().regex(userName, 'user names cannot contain ":" or spaces')).default([]),
    })
    .prefault({}),
  audit: z
    .strictObject({
      file: z.string().min(1).optional(),
    })
    .prefault({}),
  scgi: z
    .strictObject({
      listeners: restartOnly(z.array(scgiListener).default([])),
    })
    .prefault({}),
  // What one client may cost: timeouts, connections, and the size of one parsed call (docs/hardening.md).
  limits: z
    .strictObject({
      header_timeout: restartOnly(duration.prefault('10s')),
      request_timeout: restartOnly(duration.prefault('60s')),
      keep_alive_timeout: restartOnly(duration.prefault('5s')),
      // Default: 120 s, or upstream.timeout + 10 s when that is longer.
      idle_timeout: restartOnly(duration.optional()),
      max_connections: restartOnly(z.number().int().min(1).max(1_000_000).default(DEFAULT_SERVER_LIMITS.maxConnections)),
      max_requests_per_socket: restartOnly(z.number().int().min(0).default(0)),
      max_depth: restartOnly(z.number().int().min(1).max(64).default(DEFAULT_XML_LIMITS.maxDepth)),
      max_values: restartOnly(z.number().int().min(1).default(DEFAULT_XML_LIMITS.maxValues)),
      // Default: server.body_limit, i.e. no bound beyond the body's own.
      max_string_bytes: restartOnly(size.optional()),
      max_multicall_calls: restartOnly(z.number().int().min(1).default(DEFAULT_XML_LIMITS.maxMulticallCalls)),
      // What one call of a user below full may cost rtorrent (docs/hardening.md, "What a call may cost").
      max_answer_cells: z.number().int().min(1).default(DEFAULT_POLICY_LIMITS.maxAnswerCells),
      max_answer_bytes: size.prefault(DEFAULT_POLICY_LIMITS.maxAnswerBytes),
      max_pattern_length: z.number().int().min(1).max(4096).default(DEFAULT_POLICY_LIMITS.maxPatternLength),
      max_pattern_wildcards: z.number().int().min(0).max(16).default(DEFAULT_POLICY_LIMITS.maxPatternWildcards),
      max_stored_value_bytes: size.prefault(DEFAULT_POLICY_LIMITS.maxStoredValueBytes),
      // Each user's calls, unless their policy or [access.users] entry says otherwise; full is not limited.
      calls_in_flight: callsInFlight.default(DEFAULT_POLICY_LIMITS.callsInFlight),
      call_rate: callRate.default(DEFAULT_POLICY_LIMITS.callRate),
      call_burst: callBurst.default(DEFAULT_POLICY_LIMITS.callBurst),
    })
    .prefault({}),
  // More rtorrents behind one gateway: [upstreams.alice] scgi = "…", paths = ["/alice/RPC2"].
  upstreams: restartOnly(
    z
      .record(
        z.string().regex(upstreamName, 'upstream names are letters, digits, "_" and "-"').refine((name) => name !== DEFAULT_UPSTREAM, '"default" names [upstream]'),
        z.strictObject({
          scgi: upstreamAddress,
          timeout: duration.optional(),
          max_connections: z.number().int().min(1).max(90).optional(),
          max_queue: z.number().int().min(0).optional(),
          paths: z.array(httpPath).optional(),
          jsonrpc: z.boolean().optional(),
          untrusted: untrustedMode.optional(),
        }),
      )
      .default({}),
    // As the gateway runs them: [upstream]'s values filled in, in name order.
    {
      compare: (_upstreams, config) =>
        (config as GatewayConfig).upstreams
          .filter((upstream) => upstream.name !== DEFAULT_UPSTREAM)
          .map((upstream) => ({ ...upstream, scgi: upstream.scgi.label }))
          .sort((a, b) => a.name.localeCompare(b.name)),
    },
  ),
}).superRefine((config, ctx) => {
  // A client waiting on the slowest rtorrent sees no traffic meanwhile; its socket must outlast that.
  for (const issue of limitsIssues(config.limits, longestUpstreamTimeout(config))) ctx.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
  for (const [user, access] of Object.entries(config.access.users)) {
    if (access.upstream !== undefined && access.upstream !== DEFAULT_UPSTREAM && !config.upstreams[access.upstream]) {
      ctx.addIssue({
        code: 'custom',
        path: ['access', 'users', user, 'upstream'],
        message: `unknown upstream "${access.upstream}" (known: ${[DEFAULT_UPSTREAM, ...Object.keys(config.upstreams)].join(', ')})`,
      });
    }
  }
  const routed = new Map<string, string>(config.server.paths.map((path) => [path, 'server.paths']));
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    (upstream.paths ?? [`/${name}/RPC2`]).forEach((path, index) => {
      const owner = routed.get(path) ?? (isHealthPath(path) || (config.metrics.enabled && path === config.metrics.path) ? 'an operations endpoint' : undefined);
      if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['upstreams', name, 'paths', index], message: `"${path}" is already ${owner}` });
      routed.set(path, `upstreams.${name}.paths`);
    });
  }
  config.scgi.listeners.forEach((listener, index) => {
    if (!config.access.users[listener.user]) {
      ctx.addIssue({
        code: 'custom',
        path: ['scgi', 'listeners', index, 'user'],
        message: `"${listener.user}" is not in [access.users]: the listener's callers act as that user and get its policy`,
      });
    }
  });
  config.server.paths.forEach((path, index) => {
    const owner = isHealthPath(path) ? 'the health endpoint' : config.metrics.enabled && path === config.metrics.path ? 'metrics.path' : undefined;
    if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['server', 'paths', index], message: `"${path}" is already ${owner}` });
  });
  if (config.metrics.enabled && isHealthPath(config.metrics.path)) {
    ctx.addIssue({ code: 'custom', path: ['metrics', 'path'], message: `"${config.metrics.path}" is the health endpoint` });
  }
  if (config.server.listen.kind !== 'unix') {
    for (const key of ['socket_mode', 'socket_group'] as const) {
      if (config.server[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['server', key], message: 'only applies when server.listen is unix:/path' });
      }
    }
  }
});

export type ConfigFile = z.input<typeof configFileSchema>;
/** The configuration as the file writes it, validated, with its defaults (what a reload compares). */
export type ConfigValues = z.output<typeof configFileSchema>;
type Parsed = ConfigValues;

export type PolicyDefinitionConfig = z.output<typeof policyDefinition>;

export interface GatewayConfig {
  readonly server: {
    readonly listen: SocketAddress;
    readonly paths: readonly string[];
    readonly bodyLimit: number;
    /** Host names clients may use besides IP literals and localhost; "*" allows any. */
    readonly hosts: readonly string[];
    /** Browser origins allowed to call; empty by default, so no web page can. */
    readonly allowedOrigins: readonly string[];
    /** Permission bits and group for a unix: listen socket; undefined leaves them as created (0600 under our umask). */
    readonly socketMode: number | undefined;
    readonly socketGroup: string | undefined;
    readonly tls: { readonly cert: string; readonly key: string } | undefined;
    readonly shutdownTimeoutMs: number;
    /** Take the client address from X-Forwarded-For (only when every connection comes through a proxy). */
    readonly trustProxy: boolean;
    /** Compress rtorrent's answers for clients whose Accept-Encoding asks for gzip or br. */
    readonly compress: boolean;
    /** Smaller answers go uncompressed: the coding's own bytes and setup cost more than they save. */
    readonly compressMinBytes: number;
  };
  readonly upstream: {
    readonly scgi: SocketAddress;
    readonly timeoutMs: number;
    readonly maxConnections: number;
    readonly maxQueue: number;
    readonly coalesceReads: boolean;
    readonly coalesceMaxBytes: number;
    /** How long a finished read-only answer serves identical calls; 0: not kept. */
    readonly readCacheTtlMs: number;
    readonly readCacheMaxBytes: number;
  };
  readonly auth: { readonly htpasswd: string; readonly htdigest: string | undefined; readonly realm: string };
  readonly access: { readonly users: ReadonlyMap<string, UserAccessConfig> };
  /** Every rtorrent behind the gateway, the [upstream] one first (named "default"). */
  readonly upstreams: readonly NamedUpstreamConfig[];
  readonly policies: Readonly<Record<string, PolicyDefinitionConfig>>;
  /** "json": an object per line for machines; "text": a line per call for people (log.pretty = true is "text"). */
  readonly log: { readonly level: string; readonly format: 'json' | 'text' };
  readonly metrics: {
    readonly enabled: boolean;
    readonly path: string;
    readonly public: boolean;
    /** Who may read the metrics; empty: every user in access.users. */
    readonly users: readonly string[];
  };
  /** A separate JSON-lines file for audit records; undefined: audit records stay in the main log. */
  readonly audit: { readonly file: string | undefined };
  /** Timeouts, connection cap and parsed-call bounds ([limits]). */
  readonly limits: ResolvedLimits;
  /** SCGI listeners for clients that only speak SCGI (Flood, ruTorrent), each bound to one user. */
  readonly scgi: { readonly listeners: readonly ScgiListenerConfig[] };
  /** The same, keyed as the file writes it: what a reload compares key by key (keys.ts). */
  readonly values: ConfigValues;
}

export interface NamedUpstreamConfig {
  readonly name: string;
  readonly scgi: SocketAddress;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly maxQueue: number;
  /** URL paths whose calls go to this rtorrent (unless the user is bound to another). */
  readonly paths: readonly string[];
  /** Accept application/json (JSON-RPC) for this rtorrent. */
  readonly jsonrpc: boolean;
  /** "auto": mark calls UNTRUSTED_CONNECTION=1 where its release takes them so; "never": never. */
  readonly untrusted: 'auto' | 'never';
}

export interface ScgiListenerConfig {
  readonly listen: SocketAddress;
  readonly user: string;
  readonly mode: number | undefined;
  readonly owner: string | number | undefined;
  readonly group: string | number | undefined;
  readonly idleTimeoutMs: number | undefined;
  readonly requestTimeoutMs: number | undefined;
  readonly maxConnections: number | undefined;
}

export function normaliseConfig(parsed: Parsed): GatewayConfig {
  return {
    server: {
      listen: parsed.server.listen,
      paths: parsed.server.paths,
      bodyLimit: parsed.server.body_limit,
      hosts: parsed.server.hosts.map((host) => host.toLowerCase()),
      allowedOrigins: parsed.server.allowed_origins.map((origin) => origin.toLowerCase()),
      socketMode: parsed.server.socket_mode,
      socketGroup: parsed.server.socket_group,
      tls: parsed.server.tls,
      shutdownTimeoutMs: parsed.server.shutdown_timeout,
      trustProxy: parsed.server.trust_proxy,
      compress: parsed.server.compress,
      compressMinBytes: parsed.server.compress_min_bytes,
    },
    upstream: {
      scgi: parsed.upstream.scgi,
      timeoutMs: parsed.upstream.timeout,
      maxConnections: parsed.upstream.max_connections,
      maxQueue: parsed.upstream.max_queue,
      coalesceReads: parsed.upstream.coalesce_reads,
      coalesceMaxBytes: parsed.upstream.coalesce_max_bytes,
      readCacheTtlMs: parsed.upstream.read_cache_ttl,
      readCacheMaxBytes: parsed.upstream.read_cache_max_bytes,
    },
    auth: { htpasswd: parsed.auth.htpasswd, htdigest: parsed.auth.htdigest, realm: parsed.auth.realm },
    access: { users: new Map(Object.entries(parsed.access.users)) },
    upstreams: [
      {
        name: DEFAULT_UPSTREAM,
        scgi: parsed.upstream.scgi,
        timeoutMs: parsed.upstream.timeout,
        maxConnections: parsed.upstream.max_connections,
        maxQueue: parsed.upstream.max_queue,
        paths: parsed.server.paths,
        jsonrpc: parsed.upstream.jsonrpc,
        untrusted: parsed.upstream.untrusted,
      },
      ...Object.entries(parsed.upstreams).map(([name, upstream]) => ({
        name,
        scgi: upstream.scgi,
        // Unset keys follow [upstream], so one place sets the house defaults.
        timeoutMs: upstream.timeout ?? parsed.upstream.timeout,
        maxConnections: upstream.max_connections ?? parsed.upstream.max_connections,
        maxQueue: upstream.max_queue ?? parsed.upstream.max_queue,
        paths: upstream.paths ?? [`/${name}/RPC2`],
        jsonrpc: upstream.jsonrpc ?? parsed.upstream.jsonrpc,
        untrusted: upstream.untrusted ?? parsed.upstream.untrusted,
      })),
    ],
    policies: parsed.policies,
    log: { level: parsed.log.level, format: loggerFormat(parsed.log) },
    metrics: parsed.metrics,
    audit: { file: parsed.audit.file },
    limits: resolveLimits(parsed.limits, { upstreamTimeoutMs: longestUpstreamTimeout(parsed), bodyLimit: parsed.server.body_limit }),
    scgi: {
      listeners: parsed.scgi.listeners.map((listener) => ({
        listen: listener.listen,
        user: listener.user,
        mode: listener.mode,
        owner: listener.owner,
        group: listener.group,
        idleTimeoutMs: listener.idle_timeout,
        requestTimeoutMs: listener.request_timeout,
        maxConnections: listener.max_connections,
      })),
    },
    values: parsed,
  };
}
