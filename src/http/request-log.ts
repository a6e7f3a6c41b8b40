import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestLogEntry } from '../request-log-line.js';
import type { RequestOutcome, RequestSummary } from '../request-summary.js';
import { newRequestState } from './request-state.js';

/** Outcomes that say an answer went out whole: a response closed before its end was not one. */
const ANSWERED_OUTCOMES: ReadonlySet<RequestOutcome> = new Set(['unknown', 'relayed', 'coalesced', 'cached']);

export type { RequestSummary } from '../request-summary.js';

export interface RequestLogOptions {
  /** Called once per finished request, after the log line (metrics, the audit file). */
  readonly observers?: ReadonlyArray<(summary: RequestSummary) => void>;
  /** Marks the line as an audit record, so `grep '"audit":true'` finds the trail in the main log. */
  readonly audited?: (summary: RequestSummary) => boolean;
}

export function remoteOf(request: FastifyRequest): string {
  return request.ip ?? 'unix';
}

/**
 * A 401 that is the protocol at work, not a failed login: a request without credentials (every
 * Basic and Digest client's first, and all of the Sonarr family's and Transdroid's), or Digest
 * with the right password and an expired nonce. At warn, every client would leave a warning a call.
 */
function isChallenge(request: FastifyRequest): boolean {
  return request.headers.authorization === undefined || request.gateway.digestStale === true;
}

function summarise(request: FastifyRequest, reply: FastifyReply): RequestSummary {
  const state = request.gateway;
  return {
    transport: 'http',
    remote: remoteOf(request),
    method: request.method,
    path: request.url.split('?')[0] ?? '',
    user: state.user,
    authenticated: state.user !== undefined && state.outcome !== 'unauthenticated' && reply.statusCode !== 401,
    policy: state.policy,
    methods: state.methods,
    outcome: state.outcome,
    status: reply.statusCode,
    bytesIn: state.bytesIn,
    // Our own answers set no bytesOut; their Content-Length counts once they were sent in full.
    bytesOut: state.bytesOut || (reply.raw.writableFinished ? Number(reply.getHeader('content-length') ?? 0) : 0),
    encoding: state.encoding,
    ms: Math.round(reply.elapsedTime * 100) / 100,
    denial: state.denial,
    budget: state.budget,
  };
}

/**
 * One line per request, written when the response is done: who, which methods, what happened, how
 * many bytes and how long (request-log-line.ts says at which level).
 */
export function registerRequestLog(app: FastifyInstance, options: RequestLogOptions = {}): void {
  const observers = options.observers ?? [];
  app.decorateRequest('gateway', null as never);
  const writeLine = (request: FastifyRequest, reply: FastifyReply): void => {
    if (request.gateway.logged) return;
    request.gateway.logged = true;
    const summary = summarise(request, reply);
    const entry = requestLogEntry(summary, { challenge: reply.statusCode === 401 && isChallenge(request), audited: options.audited?.(summary) === true });
    request.log[entry.level](entry.fields, entry.message);
    for (const observe of observers) {
      try {
        observe(summary);
      } catch (error) {
        // A broken counter or a full disk under the audit file must not turn into a failed request.
        request.log.error({ err: error }, 'request observer failed');
      }
    }
  };
  // Callback-style hooks: an async hook costs a promise per request, for nothing here.
  app.addHook('onRequest', (request, reply, done) => {
    request.gateway = newRequestState();
    // Fastify skips onResponse when the response is destroyed (an answer cut short by rtorrent, a
    // client that left): those requests are logged, counted and audited when the socket closes.
    reply.raw.once('close', () => {
      // Closed before the response was complete: the client left (or the answer was cut, which the
      // route has already said). Neither is a relayed answer.
      const state = request.gateway;
      if (!reply.raw.writableFinished && ANSWERED_OUTCOMES.has(state.outcome)) state.outcome = 'client_gone';
      writeLine(request, reply);
    });
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    writeLine(request, reply);
    done();
  });
}
