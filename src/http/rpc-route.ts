import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { UserBudgets } from '../budget/user-budgets.js';
import type { Caller } from '../call-decision.js';
import { relayCall, relayFailure } from '../call-relay.js';
import { GatewayError, OverBudgetError } from '../errors.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { CallBudget } from '../policy/types.js';
import { ClientGone } from '../upstream/call-signal.js';
import type { XmlLimits } from '../xmlrpc/call-limits.js';
import type { Upstream } from '../upstream/upstream.js';
import { answerHeaders, type ResponseHead } from '../upstream/response-head.js';
import { answerEncoding, CompressedRelay, compressWhole, GatherBuffers, SharedAnswerEncodings, varyOnAcceptEncoding, type CompressionSettings } from './compression.js';
import { sendGatewayError, sendJsonRpcRefusal } from './replies.js';

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

/** rtorrent's answer headers, but its Content-Length: HTTP sets its own, for the bytes it sends. */
function relayable(head: ResponseHead): ReadonlyArray<readonly [string, string]> {
  return answerHeaders(head).filter(([name]) => name !== 'content-length');
}

function relayHeaders(reply: FastifyReply, head: ResponseHead): void {
  for (const [name, value] of relayable(head)) reply.header(name, value);
}

/**
 * An answer read whole: relayed as it is, or compressed for a client that asked, with its length
 * either way. `shared`: the answer is shared with other callers, and so is its compressed copy.
 */
async function sendWhole(reply: FastifyReply, settings: CompressionSettings, head: ResponseHead, body: Buffer, shared?: SharedAnswerEncodings): Promise<FastifyReply> {
  const encoding = answerEncoding(settings, reply.request.headers['accept-encoding'], head, body.length);
  relayHeaders(reply, head);
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
  // A client that leaves mid-call must not keep a queue place or rtorrent's connection (one of its 100 slots).
  const gone = new ClientGone();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const result = await relayCall({
    body,
    json,
    caller,
    upstream,
    limits: options.limits,
    readOnlyPolicy: options.policyNamed('readonly'),
    budget: { budgets: options.budgets, of: options.budgetOf(caller.user, policy), hold: (release) => reply.raw.once('close', release) },
    // Behind a Unix socket without trust_proxy there is no address to report.
    meta: { requestUri: request.url.split('?')[0] ?? '/RPC2', remoteAddr: request.ip ?? '' },
    signal: gone,
    logger: request.log,
  });
  state.methods = result.methods;
  // The error handler answers with the code's status and names the code as the outcome.
  if (result.kind === 'failed') throw result.error;
  state.outcome = result.outcome;
  if (result.kind === 'refused') {
    state.denial = result.problem;
    if (result.budget !== undefined) state.budget = result.budget;
    // The error handler adds Retry-After to an over-budget refusal.
    if (result.error instanceof OverBudgetError) throw result.error;
    return result.jsonBody === undefined ? sendGatewayError(reply, result.error) : sendJsonRpcRefusal(reply, result.error, result.jsonBody);
  }
  const compression = options.compression?.() ?? NO_COMPRESSION;
  const { response } = result;
  if (response.kind === 'whole') return sendWhole(reply, compression, response.head, response.body, result.shared ? encodings : undefined);
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
    for (const [name, value] of relayable(head)) raw.appendHeader(name, value);
    if (encoding.vary) raw.setHeader('vary', varyOnAcceptEncoding(raw.getHeader('vary')));
    if (encoding.coding === undefined) {
      if (head.contentLength !== undefined) raw.setHeader('content-length', head.contentLength);
      await answer.pipeTo(raw, result.answerLimit);
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
      await answer.pipeTo(compressed.input, result.answerLimit);
      await compressed.finish();
      state.bytesOut = compressed.bytes;
    }
  } catch (error) {
    answer.destroy();
    compressed?.abort();
    state.bytesOut = compressed?.bytes ?? answer.bytes;
    const failure = relayFailure(error, result, answer.bytes);
    state.outcome = failure.outcome;
    if (failure.outcome !== 'client_gone') state.denial = failure.problem;
    // The head promised Content-Length bytes, or a chunked body's end; closing is the only honest signal left.
    raw.destroy();
  }
  return reply;
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
