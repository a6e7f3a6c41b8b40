/**
 * `npm run demo`: a throwaway rtorrent (the Debian package) on a socket in a temp dir, the gateway
 * in front of it with a small example config, and a few lines to paste. Ctrl-C stops both and
 * removes the temp dir. Nothing outside the temp dir is touched; everything listens on loopback.
 *
 *   DEMO_PORT=8080 npm run demo     # another port than 8000
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';

/** Loopback-only throwaway credentials, printed for the evaluator to paste. */
export const DEMO_USERS = {
  admin: { password: 'demo-admin', policy: 'full' },
  viewer: { password: 'demo-viewer', policy: 'readonly' },
} as const;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');

function findBinary(name: string): string | undefined {
  // rtorrent is in /usr/bin; the sbin dirs are for a root shell whose PATH lacks them.
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/local/bin', '/usr/bin']) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number): Promise<number | undefined> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen({ host: '127.0.0.1', port }, () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address ? address.port : undefined;
        server.close(() => resolve(chosen));
      });
    });
  return (await tryPort(preferred)) ?? (await tryPort(0)) ?? preferred;
}

function rtorrentRc(dir: string, socket: string): string {
  // A random 50-port window: rtorrent exits at start when it cannot bind any port of its range.
  const low = 20000 + Math.floor(Math.random() * 800) * 50;
  return [
    'system.daemon.set = true',
    `session.path.set = "${join(dir, 'session')}"`,
    `directory.default.set = "${join(dir, 'download')}"`,
    // The socket is created group-writable by setting rtorrent's umask around it, instead of a
    // chmod afterwards: there is no moment when it has other permissions. (README: socket permissions.)
    'system.umask.set = 0007',
    `network.scgi.open_local = "${socket}"`,
    'system.umask.set = 0022',
    // A demo must not talk to the world.
    'dht.mode.set = disable',
    'protocol.pex.set = no',
    'trackers.use_udp.set = no',
    `network.port_range.set = ${low}-${low + 49}`,
    '',
  ].join('\n');
}

function gatewayToml(dir: string, socket: string, port: number): string {
  return `# Written by npm run demo; see gateway.example.toml for every key.
[server]
listen = "127.0.0.1:${port}"

[upstream]
scgi = "unix:${socket}"
timeout = "10s"

[auth]
htpasswd = "${join(dir, 'htpasswd')}"

[access.users]
${Object.entries(DEMO_USERS)
  .map(([name, user]) => `${name} = "${user.policy}"`)
  .join('\n')}

[audit]
file = "${join(dir, 'audit.log')}"

[log]
format = "text"
`;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what} did not happen within ${ms} ms`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function main(): Promise<void> {
  const rtorrentBin = findBinary('rtorrent');
  if (!rtorrentBin) {
    process.stderr.write('The demo needs rtorrent: sudo apt-get install rtorrent\n');
    process.exit(1);
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`${CLI} is missing: run npm run build (npm run demo does)\n`);
    process.exit(1);
  }

  const dir = mkdtempSync(join(tmpdir(), 'rtg-demo-'));
  const socket = join(dir, 'scgi.socket');
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      process.stdout.write('\nStopping the gateway and rtorrent…\n');
      // Gateway first, so it finishes its calls while rtorrent still answers.
      for (const child of [...children].reverse()) {
        child.kill('SIGTERM');
        if (!(await exited(child, 5000))) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`Removed ${dir}\n`);
    }
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));

  try {
    mkdirSync(join(dir, 'session'));
    mkdirSync(join(dir, 'download'));
    writeFileSync(join(dir, 'rtorrent.rc'), rtorrentRc(dir, socket));
    const rtorrent = spawn(rtorrentBin, ['-n', '-o', `import=${join(dir, 'rtorrent.rc')}`], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(rtorrent);
    rtorrent.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`rtorrent exited (${signal ?? code}); stopping the demo\n`);
        void stop(1);
      }
    });
    await waitFor(`rtorrent's socket ${socket}`, () => existsSync(socket), 10_000);

    writeFileSync(
      join(dir, 'htpasswd'),
      Object.entries(DEMO_USERS)
        .map(([name, user]) => `${name}:${bcrypt.hashSync(user.password, 10)}`)
        .join('\n') + '\n',
    );
    const port = await freePort(Number(process.env.DEMO_PORT ?? 8000));
    const config = join(dir, 'gateway.toml');
    writeFileSync(config, gatewayToml(dir, socket, port));
    const gateway = spawn(process.execPath, [CLI, '--config', config], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(gateway);
    gateway.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`the gateway exited (${signal ?? code}); stopping the demo\n`);
        void stop(1);
      }
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`the gateway's ${base}/healthz`, () => healthy(`${base}/healthz`), 15_000);

    const { admin, viewer } = DEMO_USERS;
    const call = (method: string, params = ''): string =>
      `'<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>'`;
    process.stdout.write(
      [
        '',
        'rtorrent-gateway demo is running:',
        `  rtorrent (pid ${rtorrent.pid}) on unix:${socket}`,
        `  the gateway on ${base}/RPC2, config ${config}`,
        '',
        'Ask rtorrent for its version, as the full-access user:',
        `  curl -sS -u admin:${admin.password} -H 'Content-Type: text/xml' --data ${call('system.client_version')} ${base}/RPC2`,
        `  python3 -c 'import xmlrpc.client as x; print(x.ServerProxy("http://admin:${admin.password}@127.0.0.1:${port}/RPC2").system.client_version())'`,
        'A call the read-only user may not make (answered with an XML-RPC fault; the audit log records it):',
        `  curl -sS -u viewer:${viewer.password} -H 'Content-Type: text/xml' --data ${call('execute.throw', '<param><value><string></string></value></param><param><value><string>touch</string></value></param><param><value><string>/tmp/pwned</string></value></param>')} ${base}/RPC2`,
        'Health (no password) and Prometheus metrics:',
        `  curl -sS ${base}/healthz`,
        `  curl -sS -u admin:${admin.password} ${base}/metrics`,
        `Audit trail: ${join(dir, 'audit.log')}`,
        '',
        'Press Ctrl-C to stop both and remove the temp dir.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
    await stop(1);
  }
}

// Run only as a script: the integration test imports DEMO_USERS from here.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main();
