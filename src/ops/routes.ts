import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { HEALTH_PATH } from '../config/schema.js';
import type { HealthCheck } from './health.js';
import type { GatewayMetrics } from './metrics.js';
import { GatewayError } from '../errors.js';
import { sendGatewayError, sendText } from '../http/replies.js';

export interface MetricsAccess {
  /** Read per request, so a reload can open or close the endpoint. */
  readonly public: boolean;
  /** Users allowed to read when not public; undefined: every user with access. */
  readonly users: ReadonlySet<string> | undefined;
}

export interface OpsRoutesOptions {
  /** Every upstream answers. */
  readonly health: Pick<HealthCheck, 'check'>;
  /** /healthz/NAME for each named upstream. */
  readonly upstreamHealth: ReadonlyMap<string, Pick<HealthCheck, 'check'>>;
  /** Undefined when metrics.enabled is false. */
  readonly metrics: { readonly path: string; readonly registry: GatewayMetrics } | undefined;
  readonly metricsAccess: () => MetricsAccess;
  readonly authenticate: onRequestHookHandler;
  readonly crossSite: onRequestHookHandler;
}

/** Skips `hook` when the endpoint is public; otherwise runs it as registered. */
function unlessPublic(access: () => MetricsAccess, hook: onRequestHookHandler): onRequestHookHandler {
  return function (request, reply, done) {
    if (access().public) {
      done();
      return;
    }
    return hook.call(this, request, reply, done);
  };
}

/**
 * /healthz for Docker, systemd watchdogs and load balancers, and /metrics for Prometheus. Health
 * needs no credentials and says only up or down: the reason (socket missing, permission, timeout)
 * goes to the log, where the admin looks, not to whoever can reach the port.
 */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  const answer = async (reply: FastifyReply, request: FastifyRequest, check: Pick<HealthCheck, 'check'>) => {
    const ok = await check.check();
    request.gateway.outcome = ok ? 'healthy' : 'unhealthy';
    reply.header('cache-control', 'no-store');
    return sendText(reply, ok ? 200 : 503, ok ? 'ok' : 'unavailable');
  };
  // A probe configured with the wrong method is told so, as the RPC paths tell a GET.
  const onlyGet = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    request.gateway.outcome = 'method_not_allowed';
    reply.header('allow', 'GET, HEAD');
    return sendGatewayError(reply, new GatewayError('GW_METHOD_NOT_ALLOWED', `${request.method} is not allowed here: ${request.url.split('?')[0]} answers GET and HEAD`));
  };
  const checks: Array<readonly [string, Pick<HealthCheck, 'check'>]> = [
    [HEALTH_PATH, options.health],
    ...[...options.upstreamHealth].map(([name, check]) => [`${HEALTH_PATH}/${name}`, check] as const),
  ];
  for (const [path, check] of checks) {
    app.get(path, (request, reply) => answer(reply, request, check));
    app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: path, handler: onlyGet });
  }

  const metrics = options.metrics;
  if (metrics === undefined) return;
  app.get(metrics.path, {
    onRequest: [unlessPublic(options.metricsAccess, options.crossSite), unlessPublic(options.metricsAccess, options.authenticate)],
    handler: async (request, reply) => {
      const access = options.metricsAccess();
      const user = request.gateway.user;
      if (!access.public && access.users !== undefined && (user === undefined || !access.users.has(user))) {
        request.gateway.outcome = 'forbidden';
        return sendText(reply, 403, `user "${user ?? ''}" may not read metrics: add it to metrics.users`);
      }
      request.gateway.outcome = 'metrics';
      reply.header('cache-control', 'no-store');
      return reply.code(200).type(metrics.registry.contentType).send(await metrics.registry.render());
    },
  });
}
