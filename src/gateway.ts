import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Authenticator } from './auth/authenticator.js';
import { VerifiedCredentialCache } from './auth/credential-cache.js';
import { loadHtpasswd } from './auth/htpasswd.js';
import type { GatewayConfig } from './config/schema.js';
import { ConfigError } from './errors.js';
import { registerBasicAuth } from './http/auth-hook.js';
import { crossSiteGuard } from './http/cross-site.js';
import { registerErrorHandlers } from './http/error-handler.js';
import { registerRequestLog } from './http/request-log.js';
import { registerRpcRoutes } from './http/rpc-route.js';
import { registerXmlBodyParser } from './http/xml-body.js';
import { createLogger } from './logger.js';
import { Upstream } from './upstream/upstream.js';
import { compilePolicies, type CompiledPolicy } from './policy/index.js';

export interface GatewayOptions {
  /** A logger to use instead of one built from config.log (tests pass a silent or capturing one). */
  readonly logger?: Logger;
}

/** Resolves every user's policy name at start, so a typo is a start-up error, not a 403 at run time. */
function checkAccess(config: GatewayConfig, policies: Map<string, CompiledPolicy>): void {
  for (const [user, access] of config.access.users) {
    if (!policies.has(access.policy)) {
      throw new ConfigError(
        `access.users.${user}: unknown policy "${access.policy}" (known: ${[...policies.keys()].join(', ')})`,
      );
    }
  }
}

/**
 * Builds a gateway from a validated config: a Fastify instance, not yet listening. Everything it
 * needs hangs off the instance, so tests can build as many as they like.
 */
export async function buildGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<FastifyInstance> {
  const policies = compilePolicies(config.policies, { bodyLimit: config.server.bodyLimit });
  checkAccess(config, policies);
  const users = await loadHtpasswd(config.auth.htpasswd);
  const authenticator = new Authenticator(users, new VerifiedCredentialCache());
  const logger = options.logger ?? createLogger(config.log);
  for (const user of config.access.users.keys()) {
    if (!users.has(user)) logger.warn({ user, htpasswd: config.auth.htpasswd }, 'user in [access.users] has no password in the htpasswd file');
  }

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's two lines per request are replaced by our one (src/http/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    // Behind a reverse proxy the admin sets the real client address; we do not trust X-Forwarded-For by default.
    trustProxy: false,
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false },
  });

  registerRequestLog(app);
  registerXmlBodyParser(app, config.server.bodyLimit);
  registerErrorHandlers(app, config.server.bodyLimit);
  const authenticate = await registerBasicAuth(app, {
    realm: config.auth.realm,
    authenticator: () => authenticator,
    access: () => ({ policyOf: (user) => config.access.users.get(user)?.policy }),
  });
  registerRpcRoutes(app, {
    paths: config.server.paths,
    upstream: new Upstream(config.upstream.scgi, {
      timeoutMs: config.upstream.timeoutMs,
      maxConnections: config.upstream.maxConnections,
      maxQueue: config.upstream.maxQueue,
    }),
    authenticate,
    crossSite: crossSiteGuard({ hosts: config.server.hosts, allowedOrigins: config.server.allowedOrigins }),
    policyNamed: (name) => policies.get(name),
  });
  return app;
}
