import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { buildGateway } from '../../src/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary, terminate, track } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import pino from 'pino';
import { CLI, freePort, listeningAddress, request, rpcHeaders, runCli, stopCli, writeConfig, writeHtpasswd } from './ops-support.js';

const VERSION = '<?xml version="1.0"?><methodResponse><params><param><value><string>0.9.8</string></value></param></params></methodResponse>';
const isRoot = process.getuid?.() === 0;

/** A group other than ours that root may hand the socket to; without root, our own primary group. */
function someGroup(): { name: string; gid: number } {
  const ownGid = process.getgid?.() ?? 0;
  const groups = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 3 && /^\d+$/.test(fields[2] as string))
    .map((fields) => ({ name: fields[0] as string, gid: Number(fields[2]) }));
  const other = groups.find((group) => group.gid !== ownGid && group.gid !== 0);
  const own = groups.find((group) => group.gid === ownGid);
  return (isRoot ? other : own) ?? { name: String(ownGid), gid: ownGid };
}

describe('listening', () => {
  let dir: string;
  let fake: FakeScgiServer;
  let htpasswd: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('listen');
    htpasswd = join(dir, 'htpasswd');
    writeHtpasswd(htpasswd, { admin: 'admin-secret' });
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
  });
  after(async () => {
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  function config(name: string, listen: string, server = ''): string {
    const file = join(dir, `${name}.toml`);
    writeConfig(file, { listen, upstream: `unix:${fake.socketPath}`, htpasswd, users: { admin: 'full' }, server });
    return file;
  }

  it('on a Unix socket with the configured mode and group, for a reverse proxy in front', async () => {
    const socketPath = join(dir, 'http.sock');
    const group = someGroup();
    const cli = runCli(['--config', config('unix', `unix:${socketPath}`, `socket_mode = "0660"\nsocket_group = "${group.name}"`)]);
    try {
      assert.equal(await listeningAddress(cli), socketPath);
      const stats = statSync(socketPath);
      assert.ok(stats.isSocket());
      assert.equal(stats.mode & 0o777, 0o660);
      assert.equal(stats.gid, group.gid);
      const answer = await request({ socketPath, path: '/RPC2', method: 'POST', headers: rpcHeaders('admin', 'admin-secret') }, xmlCall('system.client_version'));
      assert.equal(answer.status, 200);
      assert.equal(answer.body, VERSION);
      const line = await cli.waitForLine((entry) => entry.msg === 'request' && entry.path === '/RPC2');
      assert.equal(line.remote, 'unix');
    } finally {
      await stopCli(cli);
    }
    assert.equal(existsSync(socketPath), false, 'the socket file is removed on exit');
  });

  it('records the address a trusted proxy forwards (server.trust_proxy), and only then', async () => {
    for (const trusted of [true, false]) {
      const socketPath = join(dir, `proxied-${trusted}.sock`);
      const cli = runCli(['--config', config(`proxied-${trusted}`, `unix:${socketPath}`, `trust_proxy = ${trusted}`)]);
      try {
        await listeningAddress(cli);
        const headers = { ...rpcHeaders('admin', 'admin-secret'), 'x-forwarded-for': '203.0.113.7' };
        assert.equal((await request({ socketPath, path: '/RPC2', method: 'POST', headers }, xmlCall('system.client_version'))).status, 200);
        const line = await cli.waitForLine((entry) => entry.msg === 'request' && entry.path === '/RPC2');
        assert.equal(line.remote, trusted ? '203.0.113.7' : 'unix');
      } finally {
        await stopCli(cli);
      }
    }
  });

  it('creates the socket owner-only when no mode is configured', async () => {
    const socketPath = join(dir, 'private.sock');
    const cli = runCli(['--config', config('private', `unix:${socketPath}`)]);
    try {
      await listeningAddress(cli);
      assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    } finally {
      await stopCli(cli);
    }
  });

  it('replaces a stale socket file left by a killed gateway, but never a live one', async () => {
    const socketPath = join(dir, 'stale.sock');
    const file = config('stale', `unix:${socketPath}`);
    const killed = runCli(['--config', file]);
    await listeningAddress(killed);
    killed.child.kill('SIGKILL');
    await killed.exited;
    assert.ok(existsSync(socketPath), 'SIGKILL leaves the socket file behind');

    const second = runCli(['--config', file]);
    try {
      assert.equal(await listeningAddress(second), socketPath);
      const third = runCli(['--config', file]);
      const exit = await third.exited;
      assert.equal(exit.code, 78);
      assert.match(third.output(), new RegExp(`another process is listening on unix:${socketPath}`));
    } finally {
      await stopCli(second);
    }
  });

  it('refuses a socket group that does not exist, before creating the socket', async () => {
    const socketPath = join(dir, 'nogroup.sock');
    const cli = runCli(['--config', config('nogroup', `unix:${socketPath}`, 'socket_group = "no-such-group-here"')]);
    assert.equal((await cli.exited).code, 78);
    assert.match(cli.output(), /server\.socket_group: no group "no-such-group-here"/);
    assert.equal(existsSync(socketPath), false);
  });

  it('on TCP host:port', async () => {
    const port = await freePort();
    const cli = runCli(['--config', config('tcp', `127.0.0.1:${port}`)]);
    try {
      assert.equal(await listeningAddress(cli), `http://127.0.0.1:${port}`);
      const answer = await request({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: rpcHeaders('admin', 'admin-secret') }, xmlCall('system.client_version'));
      assert.equal(answer.status, 200);
    } finally {
      await stopCli(cli);
    }
  });

  it('builds in-process as often as a test likes, each on its own socket', async () => {
    const apps = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const app = await buildGateway(loadConfig({ file: config(`inproc-${name}`, `unix:${join(dir, `${name}.sock`)}`, 'socket_mode = "0666"') }), { logger: pino({ level: 'silent' }) });
        await app.gateway.listen({});
        return app;
      }),
    );
    try {
      for (const name of ['a', 'b']) {
        const answer = await request({ socketPath: join(dir, `${name}.sock`), path: '/healthz' });
        assert.equal(answer.status, 200);
      }
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });
});

describe('systemd socket activation', { skip: !requireBinary('systemd-socket-activate') && 'systemd-socket-activate not installed' }, () => {
  let dir: string;
  let fake: FakeScgiServer;
  let blocker: Server | undefined;

  before(async () => {
    dir = makeTempDir('activate');
    writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
  });
  after(async () => {
    blocker?.close();
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  it('serves on the socket systemd passes (LISTEN_FDS), ignoring server.listen', async () => {
    const port = await freePort();
    const file = join(dir, 'gateway.toml');
    // server.listen names a port that is taken: binding it would fail, so success proves the passed socket was used.
    blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker?.once('listening', resolve));
    const taken = (blocker.address() as { port: number }).port;
    writeConfig(file, { listen: `127.0.0.1:${taken}`, upstream: `unix:${fake.socketPath}`, htpasswd: join(dir, 'htpasswd'), users: { admin: 'full' } });
    const activator = requireBinary('systemd-socket-activate') as string;
    const cli = runCli(['--config', file], { command: [activator, '-l', `127.0.0.1:${port}`, process.execPath, CLI] });
    try {
      const deadline = Date.now() + 5000;
      while (!/Listening on/.test(cli.output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // systemd-socket-activate starts the service on the first connection, as systemd does.
      const answer = await request({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: rpcHeaders('admin', 'admin-secret') }, xmlCall('system.client_version'));
      assert.equal(answer.status, 200);
      assert.equal(answer.body, VERSION);
      assert.equal(await listeningAddress(cli), `http://127.0.0.1:${port}`);
    } finally {
      await stopCli(cli);
    }
  });
});

describe('behind nginx on a Unix socket, as the README sets it up', { skip: (!isRoot && 'needs root for nginx workers running as nobody:nogroup') || (!requireBinary('nginx') && 'nginx not installed') }, () => {
  let dir: string;
  let fake: FakeScgiServer;
  let nginx: ReturnType<typeof spawn> | undefined;
  let port: number;
  const socketPath = (): string => join(dir, 'http.sock');

  before(async () => {
    dir = makeTempDir('proxied');
    // nginx's workers (nobody) must reach the socket's directory; the socket itself decides who may connect.
    chmodSync(dir, 0o755);
    writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
    port = await freePort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
user nobody nogroup;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')};
events {}
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    location /RPC2 {
      proxy_pass http://unix:${socketPath()};
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`,
    );
    nginx = track(spawn(requireBinary('nginx') as string, ['-c', join(dir, 'nginx.conf'), '-p', dir], { detached: true, stdio: 'ignore' }), { group: true });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const up = await new Promise<boolean>((resolve) => {
        const probe = connect({ host: '127.0.0.1', port }, () => {
          probe.destroy();
          resolve(true);
        });
        probe.once('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
  after(async () => {
    if (nginx) await terminate(nginx);
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  async function throughNginx(server: string): Promise<{ status: number; remote: unknown }> {
    const file = join(dir, 'gateway.toml');
    writeConfig(file, { listen: `unix:${socketPath()}`, upstream: `unix:${fake.socketPath}`, htpasswd: join(dir, 'htpasswd'), users: { admin: 'full' }, server });
    const cli = runCli(['--config', file]);
    try {
      await listeningAddress(cli);
      const answer = await request({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: rpcHeaders('admin', 'admin-secret') }, xmlCall('system.client_version'));
      const line = answer.status === 200 ? await cli.waitForLine((entry) => entry.msg === 'request' && entry.path === '/RPC2') : undefined;
      return { status: answer.status, remote: line?.remote };
    } finally {
      await stopCli(cli);
    }
  }

  it('reaches the gateway when the socket is group-writable for nginx\'s group, with the client address passed on', async () => {
    assert.deepEqual(await throughNginx('socket_mode = "0660"\nsocket_group = "nogroup"\ntrust_proxy = true'), { status: 200, remote: '127.0.0.1' });
  });

  it('keeps nginx out of a socket left owner-only (502 from nginx)', async () => {
    assert.equal((await throughNginx('')).status, 502);
  });
});
