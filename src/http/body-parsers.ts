import type { FastifyInstance } from 'fastify';

/**
 * Fastify parses only JSON and text by default, and we want neither as objects. XML-RPC clients send text/xml (Transdroid adds
 * "; charset=utf-8") and a few application/xml; anything else is refused with 415, which also
 * keeps a browser's plain form posts (text/plain, urlencoded) from ever reaching rtorrent.
 */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, body);
  });
  // JSON-RPC bodies are read as bytes too; the route refuses them (415) unless the upstream has
  // jsonrpc on, and parses them strictly itself. A browser cannot send this type without CORS.
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, body);
  });
}
