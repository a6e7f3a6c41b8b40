import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { GatewayError } from '../errors.js';

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
  options: { realm: string; authenticator: () => Authenticator; access: () => AccessTable },
): Promise<onRequestHookHandler> {
  await app.register(basicAuth, {
    authenticate: { realm: options.realm },
    // Passwords are UTF-8 on every client we know of; the header then also carries charset="UTF-8" (RFC 7617).
    utf8: true,
    async validate(user, password, request) {
      request.gateway.user = user;
      if (!(await options.authenticator().verify(user, password))) {
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
