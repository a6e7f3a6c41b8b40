import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { UserBudgets } from '../budget/user-budgets.js';
import { answerTooLarge, costRefusal, decideCall, decideJsonRpcCall, needsSizes, refusedAsUntrusted, requestFor, sendsUntrusted, UNTRUSTED_REFUSED, type Caller } from '../call-decision.js';
import { GatewayError, OverBudgetError, UpstreamError } from '../errors.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { CallBudget } from '../policy/types.js';
import { ClientGone } from '../upstream/call-signal.js';
import { reshapedAnswer } from '../answer-reshape.js';
import { relayOutcome } from '../upstream/coalescer.js';
import type { XmlLimits } from '../xmlrpc/call-limits.js';
import type { Upstream } from '../upstream/upstream.js';
import type { ResponseHead } from '../upstream/response-head.js';
import { answerEncoding, CompressedRelay, compressWhole, GatherBuffers, SharedAnswerEncodings, varyOnAcceptEncoding, type CompressionSettings } from './compression.js';
import { sendGatewayError, sendJsonRpcRefusal, sendText } from './replies.js';

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType);
}

export interface RpcRoute {
  readonly path: string;
  /** Where calls on this path go, unless the user is bound to an upstream of their own. */
  readonly upstream: Upstream;
}

export interface RpcRouteOptions {
  readonly routes: readonly RpcRoute[];
  /** The rtorrent a user is bound to ([access.users.NAME] upstream), if any. */
  readonly boundUpstream: (user: string) => Upstream | undefined;
  readonly authenticate: onRequestHookHandler;
  /** Runs before authentication, so a browser's cached credentials are never even checked. */
  readonly crossSite: onRequestHookHandler;
  /** Looked up per request so a reload can swap the table. */
  readonly policyNamed: (name: string) => CompiledPolicy | undefined;
  /** Bounds on one parsed call ([limits]). */
  readonly limits?: XmlLimits;
  /** Each user's calls in flight and call rate. */
  readonly budgets: UserBudgets;
  /** Looked up per request so a reload can change it. */
  readonly budgetOf: (user: string, policy: CompiledPolicy) => CallBudget;
  /** server.compress and server.compress_min_bytes; looked up per request so a reload can change them. */
  readonly compression?: () => CompressionSettings;
}

const NO_COMPRESSION: CompressionSettings = { enabled: false, minBytes: 0 };

/** Upstream headers that describe the connection, not the answer, or that nginx hides too. */
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

function relayable(headers: ReadonlyArray<readonly [string, string]>): ReadonlyArray<readonly [string, string]> {
  return headers.filter(([name]) => !NOT_RELAYED.has(name) && !name.startsWith('x-accel-'));
}

function relayHeaders(reply: FastifyReply, headers: ReadonlyArray<readonly [string, string]>): void {
  for (const [name, value] of relayable(headers)) reply.header(name, value);
}

/**
 * An answer read whole: relayed as it is, or compressed for a client that asked, with its length
 * either way. `shared`: the answer is shared with other callers, and so is its compressed copy.
 */
async function sendWhole(reply: FastifyReply, settings: CompressionSettings, head: ResponseHead, body: Buffer, shared?: SharedAnswerEncodings): Promise<FastifyReply> {
  const encoding = answerEncoding(settings, reply.request.headers['accept-encoding'], head, body.length);
  relayHeaders(reply, head.headers);
  if (encoding.vary) reply.header('vary', varyOnAcceptEncoding(reply.getHeader('vary')));
  const sent = encoding.coding === undefined ? body : await (shared?.compress(body, encoding.coding) ?? compressWhole(body, encoding.coding));
  if (encoding.coding !== undefined) {
    reply.header('content-encoding', encoding.coding);
    reply.request.gateway.encoding = encoding.coding;
  }
  reply.request.gateway.bytesOut = sent.length;
  return reply.code(head.status).send(sent);
}

/** What one gateway's calls share: gather buffers for compressing streamed answers, compressed copies of shared ones. */
interface RouteShared {
  readonly buffers: GatherBuffers;
  readonly encodings: SharedAnswerEncodings;
}

async function handleCall(options: RpcRouteOptions, { buffers, encodings }: RouteShared, route: RpcRoute, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const state = request.gateway;
  const upstream = options.boundUpstream(state.user ?? '') ?? route.upstream;
  const body = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    state.outcome = 'invalid';
    return sendGatewayError(reply, new GatewayError('GW_BAD_REQUEST', 'empty request body: expected an XML-RPC <methodCall>'));
  }
  state.bytesIn = body.length;

  const policy = options.policyNamed(state.policy ?? '');
  if (!policy) throw new GatewayError('GW_FORBIDDEN_USER', `user "${state.user}" has no usable policy`);
  const json = isJson(request.headers['content-type']);
  if (json && !upstream.acceptsJsonRpc) {
    state.outcome = 'invalid';
    return sendGatewayError(reply, new GatewayError('GW_UNSUPPORTED_MEDIA_TYPE', `JSON-RPC is not enabled for rtorrent at ${upstream.address.label} (upstream.jsonrpc); send XML-RPC as text/xml`));
  }
  const user = state.user ?? '';
  const caller: Caller = { user, policy: policy.forUser(user) };
  // Before the body is even parsed: a user past their budget costs nothing more.
  const admission = options.budgets.admit(caller.user, options.budgetOf(caller.user, policy));
  if (!admission.admitted) {
    state.outcome = 'over_budget';
    state.budget = admission.reason;
    throw new OverBudgetError(admission.message, admission.retryAfterSeconds);
  }
  reply.raw.once('close', admission.release);
  const decide = json ? decideJsonRpcCall : decideCall;
  const decision = decide(body, caller, { limits: options.limits, readOnlyPolicy: options.policyNamed('readonly'), sharesReads: upstream.reads !== undefined, knowsOwners: upstream.owners.size > 0 });
  state.methods = decision.methods;
  if (decision.kind === 'refuse') {
    state.outcome = decision.outcome;
    state.denial = decision.denial ?? decision.error.message;
    return json ? sendJsonRpcRefusal(reply, decision.error, decision.jsonBody ?? null) : sendGatewayError(reply, decision.error);
  }
  // The estimate is weighed with the sizes rtorrent last reported; only the very first call waits for them.
  const tooCostly = costRefusal(decision, caller, needsSizes(decision, caller) ? await upstream.shape.current() : undefined);
  if (tooCostly !== undefined) {
    state.outcome = 'too_costly';
    state.denial = `${tooCostly.method}: ${tooCostly.reason}`;
    return decision.jsonRefusal ? sendJsonRpcRefusal(reply, tooCostly, decision.jsonRefusal(tooCostly)) : sendGatewayError(reply, tooCostly);
  }
  const answerLimit = policy.limits.maxAnswerBytes?.value;
  const compression = options.compression?.() ?? NO_COMPRESSION;

  const meta = {
    requestUri: request.url.split('?')[0] ?? '/RPC2',
    // Behind a Unix socket without trust_proxy there is no address to report.
    remoteAddr: request.ip ?? '',
    untrusted: await sendsUntrusted(decision, upstream),
    contentType: json ? ('application/json' as const) : ('text/xml' as const),
  };
  const canonical = await requestFor(decision, upstream);

  // A client that leaves mid-call must not keep a queue place or rtorrent's connection (one of its 100 slots).
  const gone = new ClientGone();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const sent = await upstream.send(canonical, meta, { readOnly: decision.readOnly, changesOwners: decision.changesOwners, signal: gone });
  const { source } = sent;
  const response = decision.answer === undefined ? sent.response : await reshapedAnswer(sent.response, decision.answer, json, upstream.address.label);
  const tooLarge = answerTooLarge(caller, decision.methods, response.kind === 'whole' ? response.body.length : response.head.contentLength);
  if (tooLarge !== undefined) {
    if (response.kind === 'streamed') response.body.destroy();
    return refuseAnswer(reply, tooLarge, decision.jsonRefusal);
  }
  state.outcome = relayOutcome(source);
  if (response.kind === 'whole') {
    if (meta.untrusted && refusedAsUntrusted(response.body)) request.log.warn({ user: caller.user, methods: decision.methods, rtorrent: upstream.version.known }, UNTRUSTED_REFUSED);
    return sendWhole(reply, compression, response.head, response.body, source === undefined ? undefined : encodings);
  }
  const { head, body: answer } = response;
  gone.addEventListener('abort', () => answer.destroy());
  const encoding = answerEncoding(compression, request.headers['accept-encoding'], head, head.contentLength);
  // Written here rather than piped by Fastify: each chunk is a view into a read buffer that is
  // reused, so the next read must wait for this chunk's write to complete.
  reply.hijack();
  const raw = reply.raw;
  let compressed: CompressedRelay | undefined;
  try {
    raw.statusCode = head.status;
    // Node refuses some header values rtorrent's head may carry; the body must be dropped then too.
    for (const [name, value] of relayable(head.headers)) raw.appendHeader(name, value);
    if (encoding.vary) raw.setHeader('vary', varyOnAcceptEncoding(raw.getHeader('vary')));
    if (encoding.coding === undefined) {
      if (head.contentLength !== undefined) raw.setHeader('content-length', head.contentLength);
      await answer.pipeTo(raw, answerLimit);
      state.bytesOut = answer.bytes;
      raw.end();
    } else {
      // No Content-Length: the compressed size is known only at the end, so the answer goes chunked.
      raw.setHeader('content-encoding', encoding.coding);
      state.encoding = encoding.coding;
      // The head goes now, as it does with rtorrent's first bytes uncompressed: the first
      // compressed bytes come only after a quarter MiB of rtorrent's.
      raw.flushHeaders();
      compressed = new CompressedRelay(raw, encoding.coding, head.contentLength, buffers);
      // The limit counts rtorrent's bytes, not what they compress to.
      await answer.pipeTo(compressed.input, answerLimit);
      await compressed.finish();
      state.bytesOut = compressed.bytes;
    }
  } catch (error) {
    answer.destroy();
    compressed?.abort();
    state.bytesOut = compressed?.bytes ?? answer.bytes;
    if (error instanceof UpstreamError && error.code === 'GW_ANSWER_TOO_LARGE') {
      // No Content-Length to refuse it by beforehand: the relay ends where the limit is passed.
      state.outcome = 'answer_too_large';
      state.denial = answerTooLarge(caller, decision.methods, answer.bytes)?.message ?? error.message;
    } else if (error instanceof UpstreamError && error.code !== 'GW_CLIENT_CLOSED') state.outcome = 'upstream_truncated';
    // The head promised Content-Length bytes, or a chunked body's end; closing is the only honest signal left.
    raw.destroy();
  }
  return reply;
}

/** rtorrent has answered, but more than this caller may receive: the answer is dropped, the client told why. */
function refuseAnswer(reply: FastifyReply, error: GatewayError, jsonRefusal: ((error: GatewayError) => Buffer | null) | undefined): FastifyReply {
  const state = reply.request.gateway;
  state.outcome = 'answer_too_large';
  state.denial = error.message;
  return jsonRefusal ? sendJsonRpcRefusal(reply, error, jsonRefusal(error)) : sendGatewayError(reply, error);
}

export function registerRpcRoutes(app: FastifyInstance, options: RpcRouteOptions): void {
  const shared: RouteShared = { buffers: new GatherBuffers(), encodings: new SharedAnswerEncodings() };
  for (const route of options.routes) {
    const url = route.path;
    app.route({
      method: 'POST',
      url,
      onRequest: [options.crossSite, options.authenticate],
      handler: (request, reply) => handleCall(options, shared, route, request, reply),
    });
    app.route({
      method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url,
      exposeHeadRoute: false,
      handler: (request, reply) => {
        request.gateway.outcome = 'method_not_allowed';
        reply.header('allow', 'POST');
        return sendGatewayError(reply, new GatewayError('GW_METHOD_NOT_ALLOWED', `${request.method} is not allowed here: XML-RPC calls are POST requests`));
      },
    });
  }
}
