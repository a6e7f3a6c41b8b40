import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';
import { sendGatewayError } from './replies.js';

export interface CrossSiteOptions {
  readonly hosts: readonly string[];
  readonly allowedOrigins: readonly string[];
}

/** "Host: [::1]:8000" → "::1"; "Host: Example.org:8000" → "example.org". */
function hostName(header: string): string {
  const lower = header.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(1, lower.indexOf(']'));
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/**
 * A web page in the user's browser must not be able to drive rtorrent: not by posting to the
 * gateway with credentials the browser has cached, and not by DNS rebinding (a name the attacker
 * controls, pointed at our address, so the browser thinks it is same-origin).
 *
 * - Host must be one of ours: an IP literal, localhost, or a name listed in server.hosts. A
 *   rebinding page always arrives with the attacker's name in Host.
 * - A request that says it comes from a browser page (Origin, or Sec-Fetch-Site other than
 *   same-origin/none) is refused unless its origin is listed in server.allowed_origins. XML-RPC
 *   clients (Sonarr, Python, curl…) send neither header.
 * - Only XML (and, where enabled, JSON) bodies are parsed (415 otherwise, see body-parsers.ts): an HTML
 *   form can only send urlencoded, multipart or text/plain without a CORS preflight.
 */
export function crossSiteGuard(options: CrossSiteOptions): onRequestHookHandler {
  const anyHost = options.hosts.includes('*');
  const names = new Set(['localhost', ...options.hosts]);
  const origins = new Set(options.allowedOrigins);

  const refuse = (request: FastifyRequest, reply: FastifyReply, message: string): FastifyReply => {
    request.gateway.outcome = 'cross_site';
    request.gateway.denial = message;
    return sendGatewayError(reply, new GatewayError('GW_CROSS_SITE', message));
  };

  return (request, reply, done) => {
    const host = request.headers.host;
    if (!anyHost) {
      const name = host === undefined ? '' : hostName(host);
      if (!(isIP(name) !== 0 || names.has(name) || name.endsWith('.localhost'))) {
        refuse(request, reply, `Host "${host ?? ''}" is not one of this gateway's names: add "${name}" to server.hosts if clients use it`);
        return;
      }
    }
    const origin = request.headers.origin;
    const fetchSite = request.headers['sec-fetch-site'];
    if (origin !== undefined && !origins.has(origin.toLowerCase())) {
      refuse(request, reply, `requests from web pages are refused (Origin "${origin}"); list trusted origins in server.allowed_origins`);
      return;
    }
    if (origin === undefined && fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') {
      refuse(request, reply, `cross-site browser requests are refused (Sec-Fetch-Site: ${fetchSite})`);
      return;
    }
    done();
  };
}
