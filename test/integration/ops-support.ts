/**
 * Shared by the ops-*.test.ts files: the built CLI as a child process, its JSON log, config and
 * htpasswd files, and HTTP requests over TCP, Unix sockets and TLS.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before } from 'node:test';
import bcrypt from 'bcryptjs';
import { makeTempDir, removeTempDir, track, waitForExit } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';

/** The built CLI, exactly what the systemd unit and the container run. */
export const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
export const REPO_ROOT = new URL('../..', import.meta.url).pathname;

export interface CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every JSON line printed so far. */
  lines(): Array<Record<string, unknown>>;
  output(): string;
  /** Resolves with the first log line (from index `from` on) matching `predicate`. */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean, opts?: { from?: number; timeoutMs?: number }): Promise<Record<string, unknown>>;
}

export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; command?: readonly string[]; cwd?: string } = {},
): CliProcess {
  const [file, ...rest] = options.command ?? [process.execPath, CLI];
  const child = track(
    spawn(file as string, [...rest, ...args], {
      env: { PATH: process.env.PATH, ...options.env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  // track() unrefs children; these tests wait for them.
  child.ref();
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = (): Array<Record<string, unknown>> =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return {
    child,
    exited,
    lines,
    output: () => output,
    async waitForLine(predicate, opts = {}) {
      const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
      while (Date.now() < deadline) {
        const found = lines().slice(opts.from ?? 0).find(predicate);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`no matching log line; output so far:\n${output}`);
    },
  };
}

/** Waits for the "listening" line and returns its address ("http://127.0.0.1:PORT", a socket path…). */
export async function listeningAddress(cli: CliProcess): Promise<string> {
  const line = await cli.waitForLine((entry) => entry.msg === 'rtorrent-gateway listening');
  return String(line.listen);
}

export async function stopCli(cli: CliProcess): Promise<void> {
  if (cli.child.exitCode === null && cli.child.signalCode === null) {
    cli.child.kill('SIGTERM');
    if (!(await waitForExit(cli.child, 15_000))) cli.child.kill('SIGKILL');
  }
  await cli.exited;
}

export function writeHtpasswd(file: string, users: Record<string, string>): void {
  writeFileSync(
    file,
    Object.entries(users)
      .map(([name, password]) => `${name}:${bcrypt.hashSync(password, 4)}`)
      .join('\n') + '\n',
  );
}

/** A config file with the given sections; `users` becomes [access.users]. */
export function writeConfig(
  file: string,
  options: { listen: string; upstream: string; htpasswd: string; users: Record<string, string>; extra?: string; server?: string },
): void {
  writeFileSync(
    file,
    [
      '[server]',
      `listen = "${options.listen}"`,
      options.server ?? '',
      '[upstream]',
      `scgi = "${options.upstream}"`,
      'timeout = "10s"',
      '[auth]',
      `htpasswd = "${options.htpasswd}"`,
      '[access.users]',
      ...Object.entries(options.users).map(([name, policy]) => `${name} = "${policy}"`),
      options.extra ?? '',
    ].join('\n'),
  );
}

/** A TCP port that was free a moment ago, for commands that need the port up front (Docker's ENV, systemd's socket). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP(S) request with node:http, which (unlike fetch) speaks to Unix sockets and takes a CA. */
export function request(
  options: RequestOptions & { tls?: { ca?: Buffer | string; rejectUnauthorized?: boolean } },
  body?: string,
): Promise<RawResponse> {
  const { tls, ...rest } = options;
  return new Promise((resolve, reject) => {
    const send = tls ? httpsRequest : httpRequest;
    const req = send({ ...rest, ...(tls ?? {}), agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

export function rpcHeaders(user: string, password: string): Record<string, string> {
  return { 'content-type': 'text/xml', authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

export interface CliGatewayStack {
  readonly rtorrent: RtorrentInstance;
  /** The gateway, run as the built CLI with `--config configPath`. */
  readonly cli: CliProcess;
  /** http://127.0.0.1:PORT, the address it logged. */
  readonly base: string;
  readonly dir: string;
  readonly configPath: string;
  readonly htpasswdPath: string;
  /** Writes a configuration naming the stack's rtorrent and htpasswd file (to configPath unless `path` says otherwise). */
  config(users: Record<string, string>, options?: { extra?: string; listen?: string; path?: string }): void;
}

/**
 * An rtorrent and the gateway CLI in front of it, started from a config file in a temp dir with the
 * user admin (password admin-secret, policy full), for one describe: the reload suites rewrite the
 * files and signal the process. Registers its own before() and after().
 */
export function withCliGateway(name: string): CliGatewayStack {
  let rtorrent: RtorrentInstance | undefined;
  let cli: CliProcess | undefined;
  let base: string | undefined;
  let dir: string | undefined;
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the stack's ${what} is not there yet`);
    return value;
  };
  const stack: CliGatewayStack = {
    get rtorrent() {
      return started(rtorrent, 'rtorrent');
    },
    get cli() {
      return started(cli, 'gateway');
    },
    get base() {
      return started(base, 'address');
    },
    get dir() {
      return started(dir, 'temp dir');
    },
    get configPath() {
      return join(stack.dir, 'gateway.toml');
    },
    get htpasswdPath() {
      return join(stack.dir, 'htpasswd');
    },
    config(users, options = {}) {
      writeConfig(options.path ?? stack.configPath, {
        listen: options.listen ?? '127.0.0.1:0',
        upstream: `unix:${stack.rtorrent.socketPath}`,
        htpasswd: stack.htpasswdPath,
        users,
        extra: options.extra,
      });
    },
  };
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    rtorrent = await startRtorrent({ name });
    dir = makeTempDir(name);
    writeHtpasswd(stack.htpasswdPath, { admin: 'admin-secret' });
    stack.config({ admin: 'full' });
    cli = runCli(['--config', stack.configPath]);
    base = await listeningAddress(cli);
  });
  after(async () => {
    try {
      if (cli) await stopCli(cli);
    } finally {
      await rtorrent?.stop();
      if (dir) await removeTempDir(dir);
    }
  });
  return stack;
}
