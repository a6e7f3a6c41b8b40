import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { buildGateway } from '../../src/gateway.js';
import { makeTempDir, removeTempDir } from './processes.js';

export interface TestUser {
  readonly password: string;
  /** Policy name for [access.users]; omit to leave the user out of it (403). */
  readonly policy?: string;
}

export interface GatewayTestOptions {
  /** unix:/path or tcp://host:port */
  readonly upstream: string;
  readonly users?: Record<string, TestUser>;
  /** Extra TOML appended to the generated file (sections other than access.users). */
  readonly extraToml?: string;
  readonly serverToml?: string;
  readonly upstreamToml?: string;
  /** Extra keys for the [auth] section (e.g. htdigest). */
  readonly authToml?: string;
}

export interface GatewayTestInstance {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly dir: string;
  readonly configPath: string;
  readonly htpasswdPath: string;
  /** Parsed JSON log lines, in order. */
  readonly logs: Array<Record<string, unknown>>;
  url(path?: string): string;
  close(): Promise<void>;
}

export const DEFAULT_USERS: Record<string, TestUser> = {
  admin: { password: 'admin-secret', policy: 'full' },
  app: { password: 'app-secret', policy: 'standard' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
  stranger: { password: 'stranger-secret' },
};

/** Writes an htpasswd file with cheap bcrypt hashes ($2b$, cost 4) and a config file, then builds the gateway in-process on port 0. */
export async function startGateway(options: GatewayTestOptions): Promise<GatewayTestInstance> {
  const dir = makeTempDir('gateway');
  const users = options.users ?? DEFAULT_USERS;
  const htpasswdPath = join(dir, 'htpasswd');
  writeFileSync(
    htpasswdPath,
    Object.entries(users)
      .map(([name, user]) => `${name}:${bcrypt.hashSync(user.password, 4)}`)
      .join('\n') + '\n',
  );
  const access = Object.entries(users)
    .filter(([, user]) => user.policy !== undefined)
    .map(([name, user]) => `${name} = "${user.policy}"`)
    .join('\n');
  const configPath = join(dir, 'gateway.toml');
  writeFileSync(
    configPath,
    [
      '[server]',
      'listen = "127.0.0.1:0"',
      options.serverToml ?? '',
      '[upstream]',
      `scgi = "${options.upstream}"`,
      options.upstreamToml ?? 'timeout = "10s"',
      '[auth]',
      `htpasswd = "${htpasswdPath}"`,
      options.authToml ?? '',
      '[access.users]',
      access,
      options.extraToml ?? '',
    ].join('\n'),
  );

  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const config = loadConfig({ file: configPath });
  const app = await buildGateway(config, { logger: pino({ level: 'info' }, sink) });
  await app.gateway.listen();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    port,
    dir,
    configPath,
    htpasswdPath,
    logs,
    url: (path = '/RPC2') => `http://127.0.0.1:${port}${path}`,
    async close() {
      await app.close();
      await removeTempDir(dir);
    },
  };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** POSTs an XML body and returns status, headers and the raw body bytes. */
export async function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', ...headers },
    body,
    signal,
  });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}
