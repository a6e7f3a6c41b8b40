import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { basicAuth, post } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary, track } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { until } from '../helpers/wait.js';

/** The built CLI, exactly what `npx rtorrent-gateway` and the systemd unit run. */
const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const haveRtorrent = requireBinary('rtorrent') !== undefined;

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Whether every directory above the built CLI lets other users through (a clone in a 0700 directory does not). */
function othersReachTheCli(): boolean {
  for (let dir = dirname(CLI); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * The gateway as a user that cannot write to the socket. Normally `nobody`; where nobody cannot even
 * reach the code, root itself without the capabilities that pass over file permissions
 * (setpriv from util-linux), against a socket nobody owns.
 */
function asOtherUser(socketPath: string): { uid?: number; gid?: number; wrapper?: string[] } {
  if (othersReachTheCli()) return { uid: 65534, gid: 65534 };
  chownSync(socketPath, 65534, 65534);
  return { wrapper: ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-all', '--'] };
}

function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; wrapper?: string[] } = {},
): { child: ChildProcess; exited: Promise<Exited>; output: () => string } {
  const [command, ...prefix] = options.wrapper ?? [process.execPath];
  const child = track(
    spawn(command as string, options.wrapper ? [...prefix, process.execPath, CLI, ...args] : [CLI, ...args], {
      env: { PATH: process.env.PATH, ...options.env },
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  // track() unrefs children so a forgotten one cannot hold the run open; these tests await the exit.
  child.ref();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exited>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, exited, output: () => stdout + stderr };
}

async function waitForListening(output: () => string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /"listen":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output());
    if (match) return Number(match[1]);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gateway did not start:\n${output()}`);
}

describe('the rtorrent-gateway command', () => {
  let dir: string;
  let htpasswd: string;

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('cli');
    chmodSync(dir, 0o755);
    htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `admin:${bcrypt.hashSync('admin-secret', 4)}\n`, { mode: 0o644 });
  });
  after(async () => {
    await removeTempDir(dir);
  });

  it('--check accepts a valid configuration', async () => {
    const { exited } = runCli(['--check', '--upstream', 'unix:/nonexistent/scgi.socket', '--htpasswd', htpasswd, '--user', 'admin=full']);
    const result = await exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /configuration OK/);
  });

  it('stops with exit code 78 and one line naming the file and the unknown key', async () => {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, `[upstream]\nscgi = "unix:/x"\nsocket = "oops"\n[auth]\nhtpasswd = "${htpasswd}"\n`);
    const result = await runCli(['--config', file]).exited;
    assert.equal(result.code, 78);
    assert.equal(result.stderr, `rtorrent-gateway: ${file}: unknown key upstream.socket\n`);
  });

  it('refuses a plain-text htpasswd entry at start with a line naming the file, line and user', async () => {
    const plain = join(dir, 'plain-htpasswd');
    writeFileSync(plain, 'bob:hunter2\n');
    const result = await runCli(['--check', '--upstream', 'unix:/x', '--htpasswd', plain, '--user', 'bob=full']).exited;
    assert.equal(result.code, 78);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('error: '));
    assert.equal(errors.length, 1, result.stderr);
    assert.match(errors[0] as string, new RegExp(`${plain}.*line 1.*"bob"`));
  });

  it('refuses a user mapped to an unknown policy, naming the key', async () => {
    const result = await runCli(['--check', '--upstream', 'unix:/x', '--htpasswd', htpasswd, '--user', 'admin=fulll']).exited;
    assert.equal(result.code, 78);
    assert.match(result.stderr, /access\.users\.admin: unknown policy "fulll"/);
  });

  describe('running against a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    before(async () => {
      rtorrent = await startRtorrent({ name: 'cli' });
    });
    after(async () => {
      await rtorrent?.stop();
    });

    it('starts from flags alone, relays calls, and exits 0 on SIGTERM', async () => {
      const gateway = runCli(['--listen', '127.0.0.1:0', '--upstream', `unix:${rtorrent.socketPath}`, '--htpasswd', htpasswd, '--user', 'admin=full']);
      const port = await waitForListening(gateway.output);
      const response = await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
      assert.equal(response.status, 200);
      assert.match(response.body.toString(), /0\.9\.8/);
      gateway.child.kill('SIGTERM');
      assert.equal((await gateway.exited).code, 0);
      const lines = gateway.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.ok(lines.some((line) => line.msg === 'request' && line.user === 'admin' && line.status === 200), 'JSON request line on stdout');
    });

    it('writes each call\'s log line promptly though it buffers them: a lone call shows up without another one to push it out', async () => {
      const gateway = runCli(['--listen', '127.0.0.1:0', '--upstream', `unix:${rtorrent.socketPath}`, '--htpasswd', htpasswd, '--user', 'admin=full']);
      try {
        const port = await waitForListening(gateway.output);
        await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
        // Flushed every 100 ms; the deadline leaves a busy machine ample margin.
        assert.ok(await until(() => /"msg":"request"/.test(gateway.output()), 5000), 'the request line on stdout');
      } finally {
        gateway.child.kill('SIGTERM');
        await gateway.exited;
      }
    });

    it('loses no log line on a clean stop: every call answered before SIGTERM has its line', async () => {
      const gateway = runCli(['--listen', '127.0.0.1:0', '--upstream', `unix:${rtorrent.socketPath}`, '--htpasswd', htpasswd, '--user', 'admin=full']);
      const port = await waitForListening(gateway.output);
      const calls = 200;
      for (let i = 0; i < calls; i++) {
        const response = await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
        assert.equal(response.status, 200);
      }
      gateway.child.kill('SIGTERM');
      assert.equal((await gateway.exited).code, 0);
      const lines = gateway.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(lines.filter((line) => line.msg === 'request').length, calls);
      assert.equal(lines.at(-1)?.msg, 'stopped');
    });

    it('reads its settings from RTORRENT_GATEWAY_* variables, as the container does', async () => {
      const gateway = runCli([], {
        env: {
          RTORRENT_GATEWAY_SERVER_LISTEN: '127.0.0.1:0',
          RTORRENT_GATEWAY_UPSTREAM_SCGI: `unix:${rtorrent.socketPath}`,
          RTORRENT_GATEWAY_AUTH_HTPASSWD: htpasswd,
          RTORRENT_GATEWAY_ACCESS_USERS: 'admin=full',
        },
      });
      const port = await waitForListening(gateway.output);
      const response = await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
      assert.equal(response.status, 200);
      gateway.child.kill('SIGTERM');
      assert.equal((await gateway.exited).code, 0);
    });
  });

  describe('socket permissions', { skip: process.getuid?.() !== 0 && 'needs root to run the gateway as another user' }, () => {
    let fake: FakeScgiServer;
    before(async () => {
      fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    });
    after(async () => {
      await fake?.close();
    });

    it('answers 502 explaining the socket permission problem when the gateway\'s user cannot write to the socket', async () => {
      chmodSync(join(fake.socketPath, '..'), 0o755);
      chmodSync(fake.socketPath, 0o755);
      const gateway = runCli(['--listen', '127.0.0.1:0', '--upstream', `unix:${fake.socketPath}`, '--htpasswd', htpasswd, '--user', 'admin=full'], asOtherUser(fake.socketPath));
      const port = await waitForListening(gateway.output);
      const response = await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
      assert.equal(response.status, 502);
      assert.match(response.body.toString(), new RegExp(`permission denied connecting to unix:${fake.socketPath}: .*group-writable`));
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    });
  });
});
