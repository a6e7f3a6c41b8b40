import type { FastifyInstance } from 'fastify';

export type ShutdownResult = 'drained' | 'forced';

/**
 * Stops accepting connections and waits for the calls in flight, at most `timeoutMs`; after that
 * their connections are cut, so a call stuck on a hung rtorrent cannot hold the stop (and
 * systemd's TimeoutStopSec) hostage. Requests that arrive on a kept-alive connection meanwhile
 * get 503 with Connection: close (Fastify's return503OnClosing).
 */
export async function shutdownGracefully(app: FastifyInstance, timeoutMs: number): Promise<ShutdownResult> {
  let result: ShutdownResult = 'drained';
  const timer = setTimeout(() => {
    result = 'forced';
    app.server.closeAllConnections();
  }, timeoutMs);
  // server.close() drops the connections idle at that moment only. One that finishes its call
  // afterwards stays open as keep-alive (72 s in Fastify) and would hold the stop until the
  // timeout; so idle connections are closed again as calls finish.
  const sweeper = setInterval(() => app.server.closeIdleConnections(), 50);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
    clearInterval(sweeper);
  }
  return result;
}
