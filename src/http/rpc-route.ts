import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { SocketAddress } from '../config/address.js';
import { GatewayError } from '../errors.js';
import type { CompiledPolicy } from '../policy/index.js';
import { callScgi } from '../upstream/scgi-client.js';
import { encodeMethodCall } from '../xmlrpc/encode.js';
import { parseMethodCall } from '../xmlrpc/parse.js';
import { sendGatewayError, sendText } from './replies.js';

export interface RpcRouteOptions {
  readonly paths: readonly string[];
  readonly upstream: SocketAddress;
  readonly timeoutMs: number;
  readonly authenticate: onRequestHookHandler;
  /** Runs before authentication, so a browser's cached credentials are never even checked. */
  readonly crossSite: onRequestHookHandler;
  /** Looked up per request so a reload can swap the table. */
  readonly policyNamed: (name: string) => CompiledPolicy | undefined;
}

/** Upstream headers that describe the connection, not the answer, or that nginx hides too. */
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

function relayHeaders(reply: FastifyReply, headers: ReadonlyArray<readonly [string, string]>): void {
  for (const [name, value] of headers) {
    if (NOT_RELAYED.has(name) || name.startsWith('x-accel-')) continue;
    reply.header(name, value);
  }
}

async function handleCall(options: RpcRouteOptions, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const state = request.gateway;
  const body = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    state.outcome = 'invalid';
    return sendText(reply, 400, 'empty request body: expected an XML-RPC <methodCall>');
  }
  state.bytesIn = body.length;

  const call = parseMethodCall(body);
  state.methods = [call.methodName];
  const policy = options.policyNamed(state.policy ?? '');
  if (!policy) throw new GatewayError('GW_FORBIDDEN_USER', `user "${state.user}" has no usable policy`);
  const verdict = policy.check(call);
  state.methods = verdict.methods;
  if (!verdict.allowed) {
    state.outcome = 'denied';
    state.denial = `${verdict.method}: ${verdict.reason}`;
    return sendGatewayError(
      reply,
      new GatewayError(
        'GW_POLICY_DENIED',
        `denied by the gateway: ${verdict.method} is not allowed for user "${state.user}" (policy "${policy.name}"): ${verdict.reason}`,
      ),
    );
  }

  // Forward what was checked: rtorrent gets our encoding of the parsed tree, never the client's bytes.
  const canonical = encodeMethodCall(call);
  const response = await callScgi(
    options.upstream,
    canonical,
    { requestUri: request.url.split('?')[0] ?? '/RPC2', remoteAddr: request.ip },
    { timeoutMs: options.timeoutMs },
  );
  state.outcome = 'relayed';
  const { head, body: stream } = response;
  stream.on('data', (chunk: Buffer) => {
    state.bytesOut += chunk.length;
  });
  stream.once('error', () => {
    state.outcome = 'upstream_truncated';
  });
  // A client that leaves mid-answer must not keep rtorrent's connection (one of its 100 slots) open.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) stream.destroy();
  });
  relayHeaders(reply, head.headers);
  if (head.contentLength !== undefined) reply.header('content-length', head.contentLength);
  return reply.code(head.status).send(stream);
}

export function registerRpcRoutes(app: FastifyInstance, options: RpcRouteOptions): void {
  for (const url of options.paths) {
    app.route({
      method: 'POST',
      url,
      onRequest: [options.crossSite, options.authenticate],
      handler: (request, reply) => handleCall(options, request, reply),
    });
    app.route({
      method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url,
      exposeHeadRoute: false,
      handler: (request, reply) => {
        request.gateway.outcome = 'method_not_allowed';
        reply.header('allow', 'POST');
        return sendText(reply, 405, `${request.method} is not allowed here: XML-RPC calls are POST requests`);
      },
    });
  }
}
