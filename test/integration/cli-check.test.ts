/**
 * `rtorrent-gateway --check` as an operator runs it: the built CLI against real sockets, files and
 * users. Findings are lines prefixed "ok:", "warning:" or "error:" (ok on stdout, problems on
 * stderr), then a summary on stdout; only a configuration the gateway would not start with fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { makeTempDir, removeTempDir, requireBinary, track } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const NOBODY = 65534;

interface Checked {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every line of both streams, in the order of its kind: findings, then the summary. */
  readonly lines: string[];
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** Whether every directory above the built CLI lets other users through (a clone in a 0700 directory does not). */
function othersReachTheCli(): boolean {
  for (let dir = dirname(CLI); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * Runs the check as a user the file permissions apply to: `nobody` where it can reach the code,
 * else root itself without the capabilities that pass over file permissions (setpriv, from
 * util-linux), which the kernel then treats like any other user for files it does not own.
 */
function asOtherUser(): { uid?: number; gid?: number; wrapper?: string[]; owner: number } {
  if (othersReachTheCli()) return { uid: NOBODY, gid: NOBODY, owner: 0 };
  return { wrapper: ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-all', '--'], owner: NOBODY };
}

function check(args: string[], options: { uid?: number; gid?: number; wrapper?: string[] } = {}): Promise<Checked> {
  const [command, ...prefix] = options.wrapper ?? [process.execPath];
  const child = track(
    spawn(command as string, options.wrapper ? [...prefix, process.execPath, CLI, '--check', ...args] : [CLI, '--check', ...args], {
      env: { PATH: process.env.PATH },
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  child.ref();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, lines: [...lines(stderr), ...lines(stdout)] })));
}

function findings(result: Checked, level: 'ok' | 'warning' | 'error'): string[] {
  return result.lines.filter((line) => line.startsWith(`${level}: `));
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

describe('rtorrent-gateway --check', () => {
  let dir: string;
  let htpasswd: string;
  let user: string[];

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('cli-check');
    chmodSync(dir, 0o755);
    htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `admin:${bcrypt.hashSync('admin-secret', 4)}\n`, { mode: 0o644 });
    user = ['--htpasswd', htpasswd, '--user', 'admin=full'];
  });
  after(async () => {
    await removeTempDir(dir);
  });

  describe('with a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    before(async () => {
      rtorrent = await startRtorrent({ name: 'cli-check' });
    });
    after(async () => {
      await rtorrent?.stop();
    });

    it('asks rtorrent for its version through the socket and prints it', async () => {
      const result = await check(['--upstream', `unix:${rtorrent.socketPath}`, ...user]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^ok: upstream\\.scgi unix:${rtorrent.socketPath}: rtorrent ${rtorrent.version.replaceAll('.', '\\.')} answers`, 'm'));
      assert.match(result.stdout, /^ok: auth\.htpasswd .*: 1 user$/m);
      assert.match(result.stdout, /^ok: access\.users: 1 user \(admin: full\)$/m);
      assert.equal(result.stderr, '', 'no warnings');
      assert.equal(lines(result.stdout).at(-1), 'configuration OK; rtorrent answers; no warnings');
    });

    it('probes every upstream, [upstreams.NAME] too, and says which one does not answer', async () => {
      const config = join(dir, 'two-upstreams.toml');
      writeFileSync(config, `[upstream]\nscgi = "unix:${rtorrent.socketPath}"\n[upstreams.alice]\nscgi = "unix:${dir}/alice/scgi.socket"\n[auth]\nhtpasswd = "${htpasswd}"\n[access.users]\nadmin = "full"\n`);
      const result = await check(['--config', config]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^ok: upstream\.scgi unix:.*: rtorrent \S+ answers/m);
      assert.match(result.stderr, new RegExp(`^warning: upstreams\\.alice\\.scgi unix:${dir}/alice/scgi\\.socket: the socket .* does not exist`, 'm'));
      assert.equal(lines(result.stdout).at(-1), 'configuration OK; 1 of 2 rtorrents answers; 1 warning');
    });
  });

  describe('an rtorrent it cannot reach is a warning, and the check still passes', () => {
    it('a socket path that does not exist, in a directory that does: names the path and that its directory exists', async () => {
      const socket = join(dir, 'scgi.socket');
      const result = await check(['--upstream', `unix:${socket}`, ...user]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(findings(result, 'warning'), [
        `warning: upstream.scgi unix:${socket}: the socket ${socket} does not exist; its directory ${dir} exists: is rtorrent running, with network.scgi.open_local = ${socket}?`,
      ]);
      assert.equal(lines(result.stdout).at(-1), 'configuration OK; rtorrent does not answer; 1 warning');
    });

    it('a socket path whose directory is missing too: says so, and names the nearest directory that exists', async () => {
      const socket = join(dir, 'no-such-dir', 'deeper', 'scgi.socket');
      const result = await check(['--upstream', `unix:${socket}`, ...user]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`neither does its directory ${dir}/no-such-dir/deeper \\(the nearest that exists is ${dir}\\)`));
    });

    it('a socket file nothing listens on: connection refused, rtorrent stopped and left it behind', { skip: requireBinary('python3') === undefined && 'python3 not installed' }, async () => {
      const socket = join(dir, 'stale.socket');
      // Bound but never listening: what a killed rtorrent leaves.
      spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socket)})`]);
      assert.ok(existsSync(socket), 'python3 made the socket file');
      const result = await check(['--upstream', `unix:${socket}`, ...user]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^warning: upstream\.scgi unix:.*: connection refused: nothing accepts connections on .*stale\.socket; rtorrent has stopped/m);
    });

    it('a TCP port nothing listens on: connection refused, naming host and port', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise((resolve) => server.close(resolve));
      const result = await check(['--upstream', `tcp://127.0.0.1:${port}`, ...user]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`^warning: upstream\\.scgi tcp://127\\.0\\.0\\.1:${port}: connection refused: nothing listens on 127\\.0\\.0\\.1:${port}`, 'm'));
    });

    it('a socket under /home: warns that the shipped systemd unit hides it (ProtectHome=yes) and names the fix', async () => {
      const result = await check(['--upstream', 'unix:/home/no-such-user-here/scgi.socket', ...user]);
      assert.equal(result.code, 0, result.stderr);
      const advice = findings(result, 'warning').find((line) => line.includes('ProtectHome'));
      assert.ok(advice, result.stderr);
      assert.match(advice, /is under \/home, which the shipped systemd unit \(systemd\/rtorrent-gateway\.service\) hides from the service with ProtectHome=yes/);
      assert.match(advice, /add ProtectHome=read-only in a drop-in \(systemctl edit rtorrent-gateway\)/);
    });
  });

  describe('file permissions, checked as the user who cannot pass them', { skip: process.getuid?.() !== 0 && 'needs root to run the check as another user' }, () => {
    let server: Server;
    let locked: string;
    before(async () => {
      const other = asOtherUser();
      // A directory only its owner may enter, holding a socket anyone could write to.
      locked = join(dir, 'locked');
      mkdirSync(locked, { mode: 0o700 });
      chownSync(locked, other.owner, other.owner);
      server = createServer((socket) => socket.destroy());
      await listen(server, join(locked, 'scgi.socket'));
      chmodSync(join(locked, 'scgi.socket'), 0o777);
    });
    after(async () => {
      await new Promise((resolve) => server?.close(resolve));
    });

    it('a socket in a directory without search permission: names that directory, its mode and owner, and who was refused', async () => {
      const other = asOtherUser();
      const socket = join(locked, 'scgi.socket');
      const result = await check(['--upstream', `unix:${socket}`, ...user], other);
      assert.equal(result.code, 0, result.stderr);
      const [line, ...rest] = findings(result, 'warning');
      assert.deepEqual(rest, [], result.stderr);
      assert.ok(line, result.stderr);
      assert.match(line, new RegExp(`^warning: upstream\\.scgi unix:${socket}: permission denied: the directory ${locked} \\(drwx------ \\S+\\) does not let uid ${other.uid ?? 0}\\b.* search it`));
      assert.doesNotMatch(line, /socket_mode|write permission on the socket/, 'not blamed on the socket');
    });

    it('an htpasswd file the user may not read: a warning naming the file\'s mode, since the service\'s own user may well read it', async () => {
      const other = asOtherUser();
      const secret = join(dir, 'private-htpasswd');
      writeFileSync(secret, `admin:${bcrypt.hashSync('admin-secret', 4)}\n`, { mode: 0o600 });
      chownSync(secret, other.owner, other.owner);
      const result = await check(['--upstream', 'tcp://127.0.0.1:1', '--htpasswd', secret, '--user', 'admin=full'], other);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`^warning: auth\\.htpasswd ${secret}: cannot be read by uid ${other.uid ?? 0}\\b.*: the file is -rw------- \\S+; .*\\(the gateway will not start or reload unless its own user can read it\\)$`, 'm'),
      );
      assert.doesNotMatch(result.stderr, /no password in the htpasswd file/, 'users are not blamed for a file that was not read');
    });

    it('a socket the user may not write to: names the socket, its mode and group, and the fix', async () => {
      const other = asOtherUser();
      const open = makeTempDir('cli-check-socket');
      chmodSync(open, 0o755);
      const socket = join(open, 'scgi.socket');
      const refusing = createServer((connection) => connection.destroy());
      await listen(refusing, socket);
      try {
        chownSync(socket, other.owner, other.owner);
        chmodSync(socket, 0o755);
        const result = await check(['--upstream', `unix:${socket}`, ...user], other);
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(`^warning: upstream\\.scgi unix:${socket}: permission denied: connecting needs write permission on the socket, and ${socket} \\(srwxr-xr-x \\S+\\) gives none to uid ${other.uid ?? 0}\\b.*; .*group`, 'm'),
        );
      } finally {
        await new Promise((resolve) => refusing.close(resolve));
        await removeTempDir(open);
      }
    });
  });

  describe('users and passwords', () => {
    it('an htpasswd file without users: a warning that nobody can log in, and the check passes', async () => {
      const empty = join(dir, 'empty-htpasswd');
      writeFileSync(empty, '# no users yet\n');
      const result = await check(['--upstream', 'tcp://127.0.0.1:1', '--htpasswd', empty, '--user', 'admin=full']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(findings(result, 'warning').includes(`warning: auth.htpasswd ${empty}: holds no users, so nobody can log in; add one with htpasswd -B FILE USER`), result.stderr);
    });

    it('no users in [access.users]: a warning that every call is refused, and the check passes', async () => {
      const result = await check(['--upstream', 'tcp://127.0.0.1:1', '--htpasswd', htpasswd]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(findings(result, 'warning').some((line) => line.startsWith('warning: access.users: no users, so every call is refused (403)')), result.stderr);
    });

    it('a user in [access.users] without a password: the warning the gateway would log at start', async () => {
      const result = await check(['--upstream', 'tcp://127.0.0.1:1', '--htpasswd', htpasswd, '--user', 'admin=full', '--user', 'bob=readonly']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^warning: user in \[access\.users\] has no password in the htpasswd file \(user bob, htpasswd .*\)$/m);
    });

    it('an htpasswd file that does not exist is an error: the gateway would not start', async () => {
      const missing = join(dir, 'no-such-htpasswd');
      const result = await check(['--upstream', 'tcp://127.0.0.1:1', '--htpasswd', missing, '--user', 'admin=full']);
      assert.equal(result.code, 78);
      assert.deepEqual(findings(result, 'error'), [`error: auth.htpasswd ${missing}: the file does not exist; its directory ${dir} exists`]);
      assert.match(lines(result.stdout).at(-1) ?? '', /^configuration invalid: 1 error, 1 warning; rtorrent-gateway would not start with it$/);
    });
  });

  describe('a configuration the gateway would not start with', () => {
    it('lists every problem as an error line, unknown keys next to a missing one, and exits 78 without asking rtorrent', async () => {
      const config = join(dir, 'broken.toml');
      writeFileSync(config, '[server]\nlsiten = "127.0.0.1:8000"\n[upstream]\nscgi = "unix:/x"\ntimeout = true\nsocket = "/x"\n');
      const result = await check(['--config', config]);
      assert.equal(result.code, 78);
      assert.deepEqual(findings(result, 'error'), [
        `error: ${config}: unknown key server.lsiten (did you mean server.listen?)`,
        `error: ${config}: upstream.timeout: expected a duration such as "500ms", "2s" or "1m", got true (a boolean)`,
        `error: ${config}: unknown key upstream.socket`,
        `error: ${config}: auth.htpasswd: required key is missing (or give --htpasswd or RTORRENT_GATEWAY_AUTH_HTPASSWD)`,
      ]);
      assert.deepEqual(findings(result, 'warning'), [], 'rtorrent is not asked');
      assert.equal(lines(result.stdout).at(-1), 'configuration invalid: 4 errors; rtorrent-gateway would not start with it');
    });
  });
});
