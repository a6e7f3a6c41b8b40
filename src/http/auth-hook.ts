import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { LoginThrottle, type LoginThrottleOptions } from '../auth/login-throttle.js';
import { GatewayError, LoginThrottledError } from '../errors.js';

/** Ten wrong passwords a minute from one address, or fifty for one name, block it for a minute. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  maxFailuresPerAddress: 10,
  maxFailuresPerUser: 50,
  windowMs: 60_000,
  blockMs: 60_000,
};

export interface AccessTable {
  /** Policy name for each user allowed in; a user missing here is authenticated but refused (403). */
  policyOf(user: string): string | undefined;
}

/**
 * HTTP Basic in front of every RPC route. A request without credentials is a challenge, not a
 * failure: the Sonarr family and Transdroid send every first request that way and only answer
 * the 401's WWW-Authenticate.
 */
export async function registerBasicAuth(
  app: FastifyInstance,
  options: {
    realm: string;
    authenticator: () => Authenticator;
    access: () => AccessTable;
    throttle?: LoginThrottleOptions;
  },
): Promise<onRequestHookHandler> {
  const throttle = new LoginThrottle(options.throttle ?? DEFAULT_LOGIN_THROTTLE);
  await app.register(basicAuth, {
    authenticate: { realm: options.realm },
    // Passwords are UTF-8 on every client we know of; the header then also carries charset="UTF-8" (RFC 7617).
    utf8: true,
    async validate(user, password, request) {
      request.gateway.user = user;
      const authenticator = options.authenticator();
      const blocked = throttle.check(request.ip, user);
      // A blocked name still lets in credentials verified recently, so guessing at a client's user
      // name cannot lock the client itself out.
      if (blocked.blocked && !(blocked.scope === 'user' && authenticator.isKnownGood(user, password))) {
        request.gateway.outcome = 'throttled';
        const seconds = Math.ceil(blocked.retryAfterMs / 1000);
        const what = blocked.scope === 'address' ? `address ${request.ip}` : `user "${user}"`;
        throw Object.assign(new LoginThrottledError(`too many failed logins for ${what}; retry in ${seconds} s`, seconds), {
          statusCode: 429,
        });
      }
      if (!(await authenticator.verify(user, password))) {
        throttle.recordFailure(request.ip, user);
        request.gateway.outcome = 'unauthenticated';
        throw new GatewayError('GW_UNAUTHENTICATED', `wrong user name or password for "${user}"`);
      }
      const policy = options.access().policyOf(user);
      if (policy === undefined) {
        request.gateway.outcome = 'forbidden';
        const error = new GatewayError(
          'GW_FORBIDDEN_USER',
          `user "${user}" has no access: add it to [access.users] in the gateway config`,
        );
        throw Object.assign(error, { statusCode: 403 });
      }
      request.gateway.policy = policy;
    },
  });
  return app.basicAuth;
}
