import type { FastifyInstance } from 'fastify';
import { newRequestState } from './request-state.js';

/**
 * One JSON line per request, written when the response is done: who, which methods, what
 * happened, how many bytes and how long. Refusals are at warn so they stand out (and feed
 * fail2ban-style tooling); everything else at info.
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.decorateRequest('gateway', null as never);
  app.addHook('onRequest', async (request) => {
    request.gateway = newRequestState();
  });
  app.addHook('onResponse', async (request, reply) => {
    const state = request.gateway;
    const line = {
      remote: request.ip,
      method: request.method,
      path: request.url.split('?')[0],
      user: state.user,
      policy: state.policy,
      methods: state.methods,
      outcome: state.outcome,
      status: reply.statusCode,
      bytesIn: state.bytesIn,
      bytesOut: state.bytesOut || Number(reply.getHeader('content-length') ?? 0),
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (state.outcome === 'denied') request.log.warn({ ...line, denial: state.denial }, 'call denied');
    else if (state.outcome === 'invalid' || state.outcome === 'cross_site') request.log.warn({ ...line, problem: state.denial }, 'request refused');
    else if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else if (reply.statusCode === 401 && state.user !== undefined) request.log.warn(line, 'authentication failed');
    else if (reply.statusCode >= 400) request.log.warn(line, 'request refused');
    else request.log.info(line, 'request');
  });
}
