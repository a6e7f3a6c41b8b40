import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { VerifiedCredentialCache } from './auth/credential-cache.js';
import { UserBudgets } from './budget/user-budgets.js';
import { DEFAULT_UPSTREAM, type GatewayConfig } from './config/schema.js';
import { GatewayError } from './errors.js';
import { registerAuth } from './http/auth-hook.js';
import { registerErrorHandlers } from './http/error-handler.js';
import { registerOpsRoutes } from './ops/routes.js';
import { registerRequestLog } from './http/request-log.js';
import { registerRpcRoutes } from './http/rpc-route.js';
import { registerBodyParsers } from './http/body-parsers.js';
import { applyServerLimits, fastifyServerOptions } from './http/server-limits.js';
import { createLogger } from './logger.js';
import { HealthCheck } from './ops/health.js';
import { listenGateway } from './ops/listen.js';
import { MeteredUpstream } from './ops/metered-upstream.js';
import { GatewayMetrics } from './ops/metrics.js';
import { buildRuntime, keysNeedingRestart, type Runtime } from './ops/runtime.js';
import { shutdownGracefully, type ShutdownResult } from './ops/shutdown.js';
import type { CompiledPolicy } from './policy/index.js';
import { startScgiListener, type ScgiListener } from './scgi-listener/server.js';
import type { RequestSummary } from './request-summary.js';
import type { Upstream } from './upstream/upstream.js';

export interface GatewayOptions {
  /** A logger to use instead of one built from config.log (tests pass a silent or capturing one). */
  readonly logger?: Logger;
  /**
   * Add the process's own metrics (memory, CPU, event loop, GC) to /metrics. For the process that
   * owns the gateway (the CLI): they hook process-wide observers. Default false.
   */
  readonly processMetrics?: boolean;
}

export interface ReloadResult {
  /** Changed keys that keep their old value until a restart (listen address, upstream…). */
  readonly restartNeeded: readonly string[];
}

/** The operations side of a gateway instance: `app.gateway`. */
export interface GatewayControl {
  /** The configuration of the last successful build or reload. */
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  readonly upstream: Upstream;
  readonly health: HealthCheck;
  /**
   * Re-reads the htpasswd file and TLS files and recompiles policies for `config`, then swaps them
   * in at once. On any error it throws and the gateway keeps serving the previous configuration.
   */
  reload(config: GatewayConfig): Promise<ReloadResult>;
  /** Listens on server.listen (TCP or Unix socket with its mode and group), or on systemd's socket. */
  listen(env?: NodeJS.ProcessEnv): Promise<string>;
  /** Stops accepting, lets calls in flight finish within server.shutdown_timeout, then closes. */
  shutdown(): Promise<ShutdownResult>;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayControl;
  }
}

/** A user dropped from [access.users] by a reload keeps its listener socket but may run nothing. */
function listenerPolicy(runtime: Runtime, user: string): CompiledPolicy {
  const name = runtime.access.policyOf(user);
  const policy = name === undefined ? undefined : runtime.policies.get(name);
  if (policy !== undefined) return policy.forUser(user);
  const refused: CompiledPolicy = {
    name: '(none)',
    scope: 'all',
    forUser: () => refused,
    scopeCall: () => undefined,
    check: (call) => ({
      allowed: false,
      methods: [call.methodName],
      method: call.methodName,
      reason: `user "${user}" is no longer in [access.users]`,
    }),
    prepare: (call) => call,
    limits: { maxAnswerCells: undefined, maxAnswerBytes: undefined, budget: { callsInFlight: undefined, callRate: undefined, callBurst: { value: 1, key: 'limits.call_burst' } } },
  };
  return refused;
}

/**
 * Builds a gateway from a validated config: a Fastify instance, not yet listening. Everything it
 * needs hangs off the instance, so tests can build as many as they like.
 */
export async function buildGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? createLogger(config.log);
  const cache = new VerifiedCredentialCache();
  // Requests read the current runtime through this one variable; a reload replaces it whole.
  let runtime: Runtime = await buildRuntime(config, { cache, logger });
  const startConfig = config;

  const metrics = new GatewayMetrics({ processMetrics: options.processMetrics === true });
  // Per user, across transports and reloads: a user's HTTP and SCGI-listener calls share one budget.
  const budgets = new UserBudgets();
  const budgetOf = (user: string, policy: CompiledPolicy) => runtime.budgetOf(user, policy);
  // Off unless asked for: with either, identical reads to one rtorrent share answers, per rtorrent.
  const sharesReads = config.upstream.coalesceReads || config.upstream.readCacheTtlMs > 0;
  const sharedReads = sharesReads
    ? { maxAnswerBytes: config.upstream.coalesceMaxBytes, ttlMs: config.upstream.readCacheTtlMs, maxCachedBytes: config.upstream.readCacheMaxBytes }
    : undefined;
  // One connection cap per rtorrent, shared by HTTP and SCGI callers alike.
  const upstreams = new Map(
    config.upstreams.map((named) => [
      named.name,
      new MeteredUpstream(named.name, named.scgi, { timeoutMs: named.timeoutMs, maxConnections: named.maxConnections, maxQueue: named.maxQueue, jsonrpc: named.jsonrpc, untrusted: named.untrusted, sharedReads }, metrics),
    ]),
  );
  const upstream = upstreams.get(DEFAULT_UPSTREAM) as MeteredUpstream;
  const healthChecks = new Map([...upstreams].map(([name, named]) => [name, new HealthCheck(named, { logger })]));
  const health = healthChecks.get(DEFAULT_UPSTREAM) as HealthCheck;
  /** A user bound to an upstream reaches only that rtorrent, whatever path they call. */
  const boundUpstream = (user: string): Upstream | undefined => {
    const name = runtime.access.upstreamOf(user);
    if (name === undefined) return undefined;
    const bound = upstreams.get(name);
    // Never fall back to the path's rtorrent: that would be someone else's.
    if (!bound) throw new GatewayError('GW_FORBIDDEN_USER', `user "${user}" is bound to upstream "${name}", which starts only after a restart`);
    return bound;
  };

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's two lines per request are replaced by our one (src/http/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    // Off unless the admin says every connection comes through their proxy (a Unix socket behind
    // nginx, say): otherwise any client could write the address the audit log records.
    trustProxy: config.server.trustProxy,
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false },
    // Header, body and idle timeouts and the connection cap: slow or idle clients cannot pile up.
    ...fastifyServerOptions(config.limits.server, logger as FastifyBaseLogger),
    ...(runtime.tls ? { https: { cert: runtime.tls.cert, key: runtime.tls.key } } : {}),
  }) as unknown as FastifyInstance;

  applyServerLimits(app.server, config.limits.server, logger as FastifyBaseLogger);
  // Every finished call, over HTTP or an SCGI listener, is counted and audited by the same two.
  const callRecords = {
    observers: [metrics.observeRequest, (summary: RequestSummary) => runtime.audit.record(summary)],
    audited: (summary: RequestSummary) => runtime.audit.covers(summary),
  };
  registerRequestLog(app, callRecords);
  registerBodyParsers(app, config.server.bodyLimit);
  registerErrorHandlers(app, { bodyLimit: config.server.bodyLimit, offersDigest: () => runtime.digest !== undefined });
  const authenticate = await registerAuth(app, {
    realm: config.auth.realm,
    authenticator: () => runtime.authenticator,
    digest: () => runtime.digest,
    access: () => runtime.access,
  });
  const crossSite: onRequestHookHandler = function (request, reply, done) {
    return runtime.crossSite.call(this, request, reply, done);
  };
  registerRpcRoutes(app, {
    routes: config.upstreams.flatMap((named) => named.paths.map((path) => ({ path, upstream: upstreams.get(named.name) as Upstream }))),
    boundUpstream,
    authenticate,
    crossSite,
    policyNamed: (name) => runtime.policies.get(name),
    compression: () => runtime.compression,
    limits: config.limits.xml,
    budgets,
    budgetOf,
  });
  registerOpsRoutes(app, {
    health: { check: async () => (await Promise.all([...healthChecks.values()].map((check) => check.check()))).every(Boolean) },
    upstreamHealth: healthChecks,
    metrics: config.metrics.enabled ? { path: config.metrics.path, registry: metrics } : undefined,
    metricsAccess: () => ({ public: runtime.config.metrics.public, users: runtime.metricsUsers }),
    authenticate,
    crossSite,
  });
  const scgiListeners: ScgiListener[] = [];
  app.addHook('onClose', async () => {
    // Listeners let their calls in flight finish too; then the audit file can go.
    await Promise.all(scgiListeners.splice(0).map((listener) => listener.close()));
    runtime.audit.file?.close();
  });
  const startScgiListeners = async (): Promise<void> => {
    for (const listener of startConfig.scgi.listeners) {
      const started = await startScgiListener({
        listen: listener.listen.kind === 'unix'
          ? { kind: 'unix', path: listener.listen.path, mode: listener.mode, owner: listener.owner, group: listener.group }
          : { kind: 'tcp', host: listener.listen.host as '127.0.0.1' | '::1', port: listener.listen.port },
        user: listener.user,
        // Looked up per request, so SIGHUP can change the user's policy without rebinding the socket.
        policy: () => listenerPolicy(runtime, listener.user),
        upstream: boundUpstream(listener.user) ?? upstream,
        logger,
        maxBodyBytes: startConfig.server.bodyLimit,
        limits: startConfig.limits.xml,
        idleTimeoutMs: listener.idleTimeoutMs,
        requestTimeoutMs: listener.requestTimeoutMs,
        maxConnections: listener.maxConnections,
        budgets,
        budgetOf,
        readOnlyPolicy: () => runtime.policies.get('readonly'),
        ...callRecords,
      });
      scgiListeners.push(started);
      logger.info({ scgi: started.address, user: listener.user }, 'SCGI listener ready');
    }
  };

  // Reloads run one at a time: two SIGHUPs in a row must not let the older file win the swap.
  let reloading: Promise<unknown> = Promise.resolve();
  const reloadNow = async (next: GatewayConfig): Promise<ReloadResult> => {
    const previous = runtime;
    let built: Runtime | undefined;
    try {
      built = await buildRuntime(next, { cache, logger, auditFile: previous.audit.file, digestNonces: previous.digest?.nonces });
      // New handshakes use the new certificate; connections already open keep theirs.
      if (built.tls && startConfig.server.tls) (app.server as unknown as HttpsServer).setSecureContext({ cert: built.tls.cert, key: built.tls.key });
    } catch (error) {
      if (built?.audit.file && built.audit.file !== previous.audit.file) built.audit.file.close();
      metrics.reloaded(false);
      throw error;
    }
    runtime = built;
    if (previous.audit.file && previous.audit.file !== built.audit.file) previous.audit.file.close();
    logger.level = next.log.level;
    metrics.reloaded(true);
    return { restartNeeded: keysNeedingRestart(startConfig, next) };
  };

  const control: GatewayControl = {
    get config() {
      return runtime.config;
    },
    metrics,
    upstream,
    health,
    reload(next) {
      const result = reloading.then(() => reloadNow(next));
      reloading = result.catch(() => undefined);
      return result;
    },
    async listen(env) {
      const address = await listenGateway(app, startConfig, env);
      await startScgiListeners();
      return address;
    },
    shutdown: () => shutdownGracefully(app, runtime.config.server.shutdownTimeoutMs),
  };
  app.decorate('gateway', control);
  return app;
}
