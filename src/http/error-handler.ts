import type { FastifyError, FastifyInstance } from 'fastify';
import { GatewayError, LoginThrottledError, OverBudgetError, type GatewayErrorCode } from '../errors.js';
import type { RequestOutcome } from '../request-summary.js';
import { sendGatewayError, sendText } from './replies.js';

export interface ErrorHandlerOptions {
  readonly bodyLimit: number;
  /** Whether the 401 offers Digest too (auth.htdigest), which a reload may change. */
  readonly offersDigest: () => boolean;
}

/** Fastify's own errors, reworded to say what the client must change, with the gateway's code where one fits. */
function describeFastifyError(error: FastifyError, options: ErrorHandlerOptions): GatewayError | { status: number; message: string; outcome: RequestOutcome } {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('GW_BODY_TOO_LARGE', `request body is larger than the gateway's limit of ${options.bodyLimit} bytes (server.body_limit)`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('GW_BAD_REQUEST', 'request body length does not match Content-Length');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return new GatewayError('GW_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be text/xml or application/xml (an XML-RPC call)');
    case 'FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER':
      return new GatewayError('GW_UNAUTHENTICATED', `authentication required (HTTP ${options.offersDigest() ? 'Digest or Basic' : 'Basic'})`);
    default:
      return {
        status: error.statusCode && error.statusCode >= 400 ? error.statusCode : 500,
        message: error.statusCode && error.statusCode < 500 ? error.message : 'internal error',
        outcome: 'error',
      };
  }
}

/** The outcome a request's log line shows for an answer Fastify's own error led to. */
const FASTIFY_OUTCOMES: Partial<Record<GatewayErrorCode, RequestOutcome>> = {
  GW_BODY_TOO_LARGE: 'too_large',
  GW_BAD_REQUEST: 'invalid',
  GW_UNSUPPORTED_MEDIA_TYPE: 'invalid',
  GW_UNAUTHENTICATED: 'unauthenticated',
};

export function registerErrorHandlers(app: FastifyInstance, options: ErrorHandlerOptions): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (!(error instanceof GatewayError)) {
      const described = describeFastifyError(error, options);
      if (described instanceof GatewayError) {
        if (request.gateway.outcome === 'unknown') request.gateway.outcome = FASTIFY_OUTCOMES[described.code] ?? described.code;
        return sendGatewayError(reply, described);
      }
      if (described.status >= 500) request.log.error({ err: error }, 'unexpected error');
      if (request.gateway.outcome === 'unknown') request.gateway.outcome = described.outcome;
      return sendText(reply, described.status, described.message);
    }
    request.gateway.outcome = request.gateway.outcome === 'unknown' ? error.code : request.gateway.outcome;
    if (error.code === 'GW_UPSTREAM_BUSY') reply.header('retry-after', '1');
    if (error instanceof LoginThrottledError || error instanceof OverBudgetError) reply.header('retry-after', String(error.retryAfterSeconds));
    // The request's one log line (request-log.ts) carries the code as its outcome.
    request.gateway.denial ??= error.message;
    return sendGatewayError(reply, error);
  });

  app.setNotFoundHandler((request, reply) => {
    request.gateway.outcome = 'not_found';
    return sendGatewayError(reply, new GatewayError('GW_NOT_FOUND', `no XML-RPC endpoint at ${request.url.split('?')[0]}`));
  });
}
