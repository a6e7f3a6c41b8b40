import type { FastifyReply } from 'fastify';
import { ERROR_TABLE, GatewayError } from '../errors.js';
import { encodeFaultResponse } from '../xmlrpc/encode.js';

/**
 * Our own answers. Problems inside an XML-RPC call become a fault (HTTP 200, as rtorrent answers
 * them), so every XML-RPC client shows the message; transport problems get an HTTP status with a
 * plain-text body naming the problem.
 */
export function sendGatewayError(reply: FastifyReply, error: GatewayError): FastifyReply {
  // Every answer of the gateway's own names its code, so a client or a test can tell which it is.
  const { status, faultCode } = ERROR_TABLE[error.code];
  reply.header('x-gateway-error', error.code);
  if (status === 200) {
    return reply.code(200).type('text/xml').send(encodeFaultResponse(faultCode, error.message));
  }
  return sendText(reply, status, error.message);
}

export function sendText(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

/** A JSON-RPC refusal: the JSON error body when there is one, else (notifications only) an empty 200. */
export function sendJsonRpcRefusal(reply: FastifyReply, error: GatewayError, body: Buffer | null): FastifyReply {
  const { status } = ERROR_TABLE[error.code];
  if (status !== 200) return sendGatewayError(reply, error);
  reply.header('x-gateway-error', error.code);
  if (body === null) return reply.code(200).send('');
  return reply.code(200).type('application/json').send(body);
}
