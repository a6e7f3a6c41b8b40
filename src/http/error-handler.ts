import type { FastifyError, FastifyInstance } from 'fastify';
import { GatewayError, LoginThrottledError, OverBudgetError } from '../errors.js';
import { sendGatewayError, sendText } from './replies.js';

/** Fastify's own errors, reworded to say what the client must change. */
function describeFastifyError(error: FastifyError, bodyLimit: number): { status: number; message: string; outcome: string } {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        message: `request body is larger than the gateway's limit of ${bodyLimit} bytes (server.body_limit)`,
        outcome: 'too_large',
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return error.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'
        ? { status: 400, message: 'request body length does not match Content-Length', outcome: 'invalid' }
        : { status: 415, message: 'Content-Type must be text/xml or application/xml (an XML-RPC call)', outcome: 'invalid' };
    case 'FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER':
      return { status: 401, message: 'authentication required (HTTP Basic)', outcome: 'unauthenticated' };
    default:
      return {
        status: error.statusCode && error.statusCode >= 400 ? error.statusCode : 500,
        message: error.statusCode && error.statusCode < 500 ? error.message : 'internal error',
        outcome: 'error',
      };
  }
}

export function registerErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof GatewayError) {
      request.gateway.outcome = request.gateway.outcome === 'unknown' ? error.code : request.gateway.outcome;
      if (error.code === 'GW_UPSTREAM_BUSY') reply.header('retry-after', '1');
      if (error instanceof LoginThrottledError || error instanceof OverBudgetError) reply.header('retry-after', String(error.retryAfterSeconds));
      // The request's one log line (request-log.ts) carries the code as its outcome.
      request.gateway.denial ??= error.message;
      return sendGatewayError(reply, error);
    }
    const described = describeFastifyError(error, bodyLimit);
    if (described.status >= 500) request.log.error({ err: error }, 'unexpected error');
    if (request.gateway.outcome === 'unknown') request.gateway.outcome = described.outcome;
    return sendText(reply, described.status, described.message);
  });

  app.setNotFoundHandler((request, reply) => {
    request.gateway.outcome = 'not_found';
    return sendText(reply, 404, `no XML-RPC endpoint at ${request.url.split('?')[0]}`);
  });
}
