/**
 * Every failure the gateway reports has a stable code. The HTTP status and the XML-RPC fault code
 * come from this one table, so callers and tests match on codes rather than on messages.
 */
export const ERROR_TABLE = {
  GW_CONFIG_INVALID: { status: 500, faultCode: -32500 },
  GW_HTPASSWD_INVALID: { status: 500, faultCode: -32500 },
  GW_BAD_REQUEST: { status: 400, faultCode: -32700 },
  GW_NOT_FOUND: { status: 404, faultCode: -32601 },
  GW_METHOD_NOT_ALLOWED: { status: 405, faultCode: -32601 },
  // A request a browser page may have sent (Host, Origin, Sec-Fetch-Site): refused before any login.
  GW_CROSS_SITE: { status: 403, faultCode: -32403 },
  // Problems inside a well-delivered XML-RPC request are answered the way rtorrent answers them:
  // HTTP 200 with a fault, which every XML-RPC client surfaces to its user with the message.
  GW_XMLRPC_INVALID: { status: 200, faultCode: -32700 },
  GW_XMLRPC_UNSUPPORTED: { status: 200, faultCode: -32602 },
  GW_UNSUPPORTED_MEDIA_TYPE: { status: 415, faultCode: -32700 },
  GW_BODY_TOO_LARGE: { status: 413, faultCode: -32700 },
  GW_UNAUTHENTICATED: { status: 401, faultCode: -32401 },
  GW_FORBIDDEN_USER: { status: 403, faultCode: -32403 },
  GW_TOO_MANY_FAILURES: { status: 429, faultCode: -32401 },
  GW_POLICY_DENIED: { status: 200, faultCode: -32403 },
  // What a call would cost rtorrent, or what its answer came to, is over the user's limits.
  GW_COST_LIMIT: { status: 200, faultCode: -32413 },
  GW_ANSWER_TOO_LARGE: { status: 200, faultCode: -32413 },
  GW_OVER_BUDGET: { status: 429, faultCode: -32429 },
  GW_UPSTREAM_UNREACHABLE: { status: 502, faultCode: -32300 },
  GW_UPSTREAM_BAD_RESPONSE: { status: 502, faultCode: -32300 },
  GW_UPSTREAM_TIMEOUT: { status: 504, faultCode: -32300 },
  GW_UPSTREAM_BUSY: { status: 503, faultCode: -32300 },
  // nginx's 499: only ever logged, since the client is no longer there to read it.
  GW_CLIENT_CLOSED: { status: 499, faultCode: -32300 },
} as const;

export type GatewayErrorCode = keyof typeof ERROR_TABLE;

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  /**
   * The HTTP status, under the name Fastify and its plugins read (@fastify/basic-auth sends its
   * challenge for a 401): every error carries its own, so no caller patches one on.
   */
  readonly statusCode: number;
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = ERROR_TABLE[code].status;
  }
  get status(): number {
    return ERROR_TABLE[this.code].status;
  }
  get faultCode(): number {
    return ERROR_TABLE[this.code].faultCode;
  }
}

/** Start-up and reload problems: the message names the file and the key. */
export class ConfigError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_CONFIG_INVALID', message, options);
  }
}

export class HtpasswdError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_HTPASSWD_INVALID', message, options);
  }
}

/**
 * The request body is not a call we can read with certainty, XML-RPC or JSON-RPC. (The code keeps
 * the name it had before JSON-RPC, since clients match on codes.)
 */
export class MalformedCallError extends GatewayError {
  constructor(message: string) {
    super('GW_XMLRPC_INVALID', message);
  }
}

/** A well-formed call, but with a type or shape rtorrent does not take. */
export class UnsupportedCallError extends GatewayError {
  constructor(message: string) {
    super('GW_XMLRPC_UNSUPPORTED', message);
  }
}

/** A call refused for one user under one policy, with the command that decided it and why. */
abstract class CallRefusedError extends GatewayError {
  readonly user: string;
  readonly policy: string;
  readonly method: string;
  readonly reason: string;
  constructor(code: 'GW_POLICY_DENIED' | 'GW_COST_LIMIT', message: string, refused: { user: string; policy: string; method: string; reason: string }) {
    super(code, message);
    this.user = refused.user;
    this.policy = refused.policy;
    this.method = refused.method;
    this.reason = refused.reason;
  }
}

export class PolicyDeniedError extends CallRefusedError {
  constructor(user: string, policy: string, method: string, reason: string) {
    super('GW_POLICY_DENIED', `denied by the gateway: ${method} is not allowed for user "${user}" (policy "${policy}"): ${reason}`, { user, policy, method, reason });
  }
}

/**
 * Refused for what it would cost rtorrent (an answer estimated over the user's limit, a nested
 * multicall, a glob pattern rtorrent matches in exponential time); the message names the limit and
 * the key that raises it.
 */
export class CostLimitError extends CallRefusedError {
  constructor(user: string, policy: string, method: string, reason: string) {
    super('GW_COST_LIMIT', `refused by the gateway for user "${user}" (policy "${policy}"): ${reason}`, { user, policy, method, reason });
  }
}

/** The user has too many calls in flight or calls too fast; retry after `retryAfterSeconds`. */
export class OverBudgetError extends GatewayError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('GW_OVER_BUDGET', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class UpstreamError extends GatewayError {
  readonly upstream: string;
  constructor(
    code: 'GW_UPSTREAM_UNREACHABLE' | 'GW_UPSTREAM_BAD_RESPONSE' | 'GW_UPSTREAM_TIMEOUT' | 'GW_UPSTREAM_BUSY' | 'GW_CLIENT_CLOSED' | 'GW_ANSWER_TOO_LARGE',
    upstream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.upstream = upstream;
  }
}

/**
 * The call as the gateway would send it is larger than the rtorrent release behind it reads in one
 * request (2 MiB before 0.10, 16 MiB since); rtorrent would close the connection without an answer.
 */
export class UpstreamRequestTooLargeError extends GatewayError {
  readonly upstream: string;
  readonly bytes: number;
  readonly limit: number;
  constructor(upstream: string, version: string | undefined, bytes: number, limit: number) {
    const release = version === undefined ? 'rtorrent' : `rtorrent ${version}`;
    super(
      'GW_BODY_TOO_LARGE',
      `the call is ${bytes} bytes as sent to ${release} at ${upstream}, which reads at most ${limit} bytes in one request ` +
        '(2 MiB before rtorrent 0.10, 16 MiB since); send a smaller call, e.g. a smaller torrent file or fewer calls in one system.multicall',
    );
    this.upstream = upstream;
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Too many failed logins from one address or for one user name; retry after `retryAfterSeconds`. */
export class LoginThrottledError extends GatewayError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('GW_TOO_MANY_FAILURES', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** EX_CONFIG: the configuration is unusable. The unit file tells systemd not to restart-loop on it. */
export const EXIT_CONFIG = 78;

/** A problem the operator fixes in the configuration or a file it names (exit EXIT_CONFIG). */
export function isConfigProblem(error: unknown): boolean {
  return error instanceof GatewayError && (error.code === 'GW_CONFIG_INVALID' || error.code === 'GW_HTPASSWD_INVALID');
}
