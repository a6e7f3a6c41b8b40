import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { HEALTH_PATH, type GatewayConfig } from '../config/schema.js';

export interface HealthcheckResult {
  readonly ok: boolean;
  /** One line for `docker inspect` / the journal. */
  readonly message: string;
}

/** An "all interfaces" bind is reached on loopback; anything else as configured. */
function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

/**
 * `rtorrent-gateway --healthcheck`: asks the running gateway's /healthz, found from the same
 * configuration (file, flags, environment) the gateway was started with, so Docker's HEALTHCHECK
 * needs no curl and no port of its own. Exit 0 healthy, 1 otherwise.
 */
export function runHealthcheck(config: GatewayConfig, timeoutMs = 5000): Promise<HealthcheckResult> {
  const listen = config.server.listen;
  const tls = config.server.tls !== undefined;
  const target = listen.kind === 'unix' ? { socketPath: listen.path } : { host: connectHost(listen.host), port: listen.port };
  return new Promise((resolve) => {
    const request = (tls ? httpsRequest : httpRequest)(
      {
        ...target,
        path: HEALTH_PATH,
        method: 'GET',
        timeout: timeoutMs,
        // The gateway checking itself over loopback: liveness, not identity, and the certificate
        // names the public host name, not 127.0.0.1.
        ...(tls ? { rejectUnauthorized: false } : {}),
      },
      (response) => {
        response.resume();
        const ok = response.statusCode === 200;
        resolve({ ok, message: ok ? 'healthy' : `unhealthy: ${HEALTH_PATH} answered ${response.statusCode ?? '?'}` });
      },
    );
    request.once('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.once('error', (error) => resolve({ ok: false, message: `unreachable: ${error.message}` }));
    request.end();
  });
}
