import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Authenticator } from '../auth/authenticator.js';
import { ConnectionCredentials } from '../auth/connection-credentials.js';
import { parseDigestCredentials, type DigestAuthenticator } from '../auth/digest.js';
import { LoginThrottle, type LoginThrottleOptions, type ThrottleBlock } from '../auth/login-throttle.js';
import type { AccessTable } from '../auth/access.js';
import { GatewayError, LoginThrottledError } from '../errors.js';


/**
 * Ten wrong passwords a minute for one name from one address, fifty for one name from anywhere,
 * or ten with names that do not exist from one address, block that for a minute.
 */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  maxFailuresPerPair: 10,
  maxFailuresPerUser: 50,
  maxFailuresPerAddress: 10,
  windowMs: 60_000,
  blockMs: 60_000,
};

export interface AuthOptions {
  readonly realm: string;
  readonly authenticator: () => Authenticator;
  /** HTTP Digest, offered next to Basic when auth.htdigest is configured. */
  readonly digest?: () => DigestAuthenticator | undefined;
  readonly access: () => AccessTable;
  readonly throttle?: LoginThrottleOptions;
}

const DIGEST_SCHEME = /^digest(?:\s|$)/i;

/** The name a failed Digest attempt claims, read with the same parser as a good one (for the throttle and the log). */
function claimedDigestUser(header: string): string {
  const params = parseDigestCredentials(header);
  return params instanceof Map ? (params.get('username') ?? '') : '';
}

/**
 * Authentication in front of every RPC route: HTTP Basic, and Digest when configured. A request
 * without credentials is a challenge, not a failure: the Sonarr family and Transdroid send every
 * first request that way and only answer the 401's WWW-Authenticate.
 */
export async function registerAuth(app: FastifyInstance, options: AuthOptions): Promise<onRequestHookHandler> {
  const throttle = new LoginThrottle(options.throttle ?? DEFAULT_LOGIN_THROTTLE);
  const connections = new ConnectionCredentials();
  const basicChallenge = `Basic realm="${options.realm}", charset="UTF-8"`;

  /**
   * 429 for an attempt the throttle refuses. A pair block and an address block (names that do
   * not exist) read the same, so the answer does not say whether the name exists.
   */
  const throttled = (request: FastifyRequest, user: string, verdict: ThrottleBlock): GatewayError => {
    request.gateway.outcome = 'throttled';
    const seconds = Math.ceil(verdict.retryAfterMs / 1000);
    const what = verdict.scope === 'user' ? `user "${user}"` : `user "${user}" from address ${request.ip}`;
    return new LoginThrottledError(`too many failed logins for ${what}; retry in ${seconds} s`, seconds);
  };

  const wrongCredentials = (request: FastifyRequest, user: string): GatewayError => {
    request.gateway.outcome = 'unauthenticated';
    return new GatewayError('GW_UNAUTHENTICATED', `wrong user name or password for "${user}"`);
  };

  /** Who is in: the user's policy, or 403 for a user with a password but no [access.users] entry. */
  const admit = (request: FastifyRequest, user: string): void => {
    const policy = options.access().policyOf(user);
    if (policy === undefined) {
      request.gateway.outcome = 'forbidden';
      const error = new GatewayError('GW_FORBIDDEN_USER', `user "${user}" has no access: add it to [access.users] in the gateway config`);
      throw error;
    }
    request.gateway.policy = policy;
  };

  /** Basic credentials `authenticator` has just accepted: the connection may skip the check next time. */
  const passed = (request: FastifyRequest, user: string, authenticator: Authenticator): void => {
    const header = request.headers.authorization;
    if (header !== undefined) connections.remember(request.raw.socket, header, user, authenticator);
  };

  await app.register(basicAuth, {
    authenticate: { realm: options.realm },
    // Passwords are UTF-8 on every client we know of; the header then also carries charset="UTF-8" (RFC 7617).
    utf8: true,
    // Callback style, so the common case (credentials verified a moment ago) runs without a promise.
    validate(user, password, request, _reply, done) {
      request.gateway.user = user;
      const authenticator = options.authenticator();
      const address = request.ip ?? '';
      try {
        if (authenticator.isKnownGood(user, password)) {
          const verdict = throttle.admitKnownGood(address, user);
          if (verdict.blocked) throw throttled(request, user, verdict);
          admit(request, user);
          passed(request, user, authenticator);
          done();
          return;
        }
      } catch (error) {
        done(error as Error);
        return;
      }
      // Refused here, a guess never reaches the hash.
      const attempt = throttle.begin(address, user, authenticator.users.has(user), request.headers.authorization ?? '');
      if (attempt.blocked) {
        done(throttled(request, user, attempt));
        return;
      }
      authenticator.verify(user, password).then(
        (ok) => {
          attempt.settle(ok);
          try {
            if (!ok) throw wrongCredentials(request, user);
            admit(request, user);
            passed(request, user, authenticator);
            done();
          } catch (error) {
            done(error as Error);
          }
        },
        (error: Error) => {
          attempt.settle(undefined);
          done(error);
        },
      );
    },
  });

  // With Digest on, every 401 offers it first (Python's urllib reads only the first challenge),
  // then Basic; a stale nonce is flagged so the client retries silently with the new one.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode === 401) {
      const digest = options.digest?.();
      if (digest) reply.header('www-authenticate', [...digest.challenges(request.gateway.digestStale === true), basicChallenge]);
    }
    done(null, payload);
  });

  return function authenticate(request, reply, done) {
    const header = request.headers.authorization;
    const known = header === undefined ? undefined : connections.userFor(request.raw.socket, header, options.authenticator());
    // The throttle is not asked: this header is the right password and got in from this
    // connection's address within the last minute, which makes the address a known one for the
    // name, and no block refuses known-good credentials there (login-throttle.ts).
    // [access.users] is asked every time, so a removed user is shut out at once.
    if (known !== undefined) {
      request.gateway.user = known;
      try {
        admit(request, known);
      } catch (error) {
        done(error as Error);
        return;
      }
      done();
      return;
    }
    const digest = options.digest?.();
    if (digest === undefined || header === undefined || !DIGEST_SCHEME.test(header)) {
      app.basicAuth(request, reply, done);
      return;
    }
    const result = digest.verify(header, request.method, request.raw.url ?? request.url);
    const user = result.ok ? result.user : claimedDigestUser(header);
    request.gateway.user = user || undefined;
    const address = request.ip ?? '';
    try {
      // A stale nonce comes only with a correct digest (digest.ts), so both are the right
      // password, and pass the blocks known-good Basic credentials pass.
      if (result.ok || result.stale) {
        const verdict = result.ok ? throttle.admitKnownGood(address, user) : throttle.checkKnownGood(address, user);
        if (verdict.blocked) throw throttled(request, user, verdict);
        // A stale nonce is the protocol working, not a wrong password.
        if (!result.ok) {
          request.gateway.digestStale = true;
          request.gateway.outcome = 'unauthenticated';
          throw new GatewayError('GW_UNAUTHENTICATED', 'Digest nonce expired; retry with the new one');
        }
        admit(request, user);
        done();
        return;
      }
      // Digest's check (one MD5 or SHA-256) has run by now, cheaper than parsing the header twice;
      // a refused attempt gets the same 429 whether its digest was right or not, so past the
      // limit no guess is tested.
      const attempt = throttle.begin(address, user, digest.users.has(user), header);
      if (attempt.blocked) throw throttled(request, user, attempt);
      attempt.settle(false);
      request.log.debug({ user, reason: result.reason }, 'Digest authentication failed');
      throw wrongCredentials(request, user);
    } catch (error) {
      done(error as Error);
    }
  };
}
