import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { basicAuth, post } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { listeningAddress, REPO_ROOT, runCli, stopCli, writeConfig, writeHtpasswd } from './ops-support.js';

const run = promisify(execFile);
const SERVICE = join(REPO_ROOT, 'systemd', 'rtorrent-gateway.service');
const SOCKET = join(REPO_ROOT, 'systemd', 'rtorrent-gateway.socket');
const systemdAnalyze = requireBinary('systemd-analyze');

/** Every value of `key` in a unit file, in order (a key may repeat). */
function values(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

/**
 * The unit as it would run on this machine: node wherever it is here, the checkout instead of
 * /opt/rtorrent-gateway, a temp config instead of /etc/rtorrent-gateway.
 */
function localise(unit: string, config?: string): string {
  let text = unit.replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/rtorrent-gateway', REPO_ROOT.replace(/\/$/, ''));
  if (config) text = text.replaceAll('/etc/rtorrent-gateway/gateway.toml', config);
  return text;
}

describe('the systemd units', () => {
  const service = readFileSync(SERVICE, 'utf8');
  const socket = readFileSync(SOCKET, 'utf8');
  let dir: string;

  before(() => {
    dir = makeTempDir('systemd');
  });
  after(async () => {
    if (dir) await removeTempDir(dir);
  });

  it('pass systemd-analyze verify without a warning', { skip: !systemdAnalyze && 'systemd-analyze not installed (Debian package systemd)' }, async () => {
    const unitDir = join(dir, 'verify');
    await run('mkdir', ['-p', unitDir]);
    writeFileSync(join(unitDir, 'rtorrent-gateway.service'), localise(service));
    writeFileSync(join(unitDir, 'rtorrent-gateway.socket'), socket);
    const result = await run(systemdAnalyze as string, ['verify', join(unitDir, 'rtorrent-gateway.service'), join(unitDir, 'rtorrent-gateway.socket')]).then(
      (output) => ({ code: 0, text: output.stdout + output.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, text: error.stdout + error.stderr }),
    );
    // verify exits 0 on unknown keys and only warns, so any line about our units is a failure.
    const ours = result.text.split('\n').filter((line) => line.includes('rtorrent-gateway'));
    assert.deepEqual({ code: result.code, ours }, { code: 0, ours: [] }, result.text);
  });

  it('rate "OK" or better in systemd-analyze security', { skip: !systemdAnalyze && 'systemd-analyze not installed' }, async () => {
    const { stdout } = await run(systemdAnalyze as string, ['security', '--offline=true', '--no-pager', SERVICE]);
    const match = /Overall exposure level for rtorrent-gateway\.service: (\d+\.\d+) (\w+)/.exec(stdout);
    assert.ok(match, stdout);
    assert.ok(Number(match[1]) <= 2.0, `exposure ${match[1]} ${match[2]}`);
  });

  it('run the gateway as its own user with the socket group and the hardening an admin expects', () => {
    assert.deepEqual(values(service, 'User'), ['rtorrent-gateway']);
    assert.deepEqual(values(service, 'SupplementaryGroups'), ['rtorrent']);
    assert.deepEqual(values(service, 'Type'), ['exec']);
    assert.deepEqual(values(service, 'Restart'), ['on-failure']);
    assert.deepEqual(values(service, 'RestartPreventExitStatus'), ['78']);
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      UMask: '0077',
      SystemCallArchitectures: 'native',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(values(service, key), [value], key);
    assert.equal(values(service, 'SystemCallFilter')[0], '@system-service');
    const stopSeconds = Number(values(service, 'TimeoutStopSec')[0]?.replace(/s$/, ''));
    assert.ok(stopSeconds > 10, 'longer than the default server.shutdown_timeout of 10 s');
  });

  it('reload through the gateway itself (no /bin/kill): the same program and config options as ExecStart', () => {
    const [start] = values(service, 'ExecStart');
    const reloads = values(service, 'ExecReload');
    assert.equal(reloads.length, 1, 'one command: the check and the signal cannot be split');
    const words = (line: string | undefined): string[] => (line ?? '').split(' ');
    const startWords = words(start);
    const cliAt = startWords.findIndex((word) => word.endsWith('/dist/cli.js'));
    assert.ok(cliAt > 0, start);
    const [node, cli] = [startWords[0], startWords[cliAt]];
    const configOptions = startWords.slice(cliAt + 1);
    assert.deepEqual(words(reloads[0]), [node, cli, 'reload', '--pid', '$MAINPID', ...configOptions]);
  });

  it('hand one listening socket to the service', () => {
    assert.equal(values(socket, 'ListenStream').length, 1);
    assert.deepEqual(values(socket, 'Service'), ['rtorrent-gateway.service']);
    assert.deepEqual(values(socket, 'Accept'), ['no']);
  });

  describe('the ExecStart and ExecReload lines, run as written', { skip: !requireBinary('rtorrent') && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    before(async () => {
      rtorrent = await startRtorrent({ name: 'systemd' });
    });
    after(async () => {
      await rtorrent?.stop();
    });

    it('start the gateway, and reload it (checked, then SIGHUP to $MAINPID)', async () => {
      const config = join(dir, 'gateway.toml');
      const htpasswd = join(dir, 'htpasswd');
      writeHtpasswd(htpasswd, { admin: 'admin-secret' });
      writeConfig(config, { listen: '127.0.0.1:0', upstream: `unix:${rtorrent.socketPath}`, htpasswd, users: { admin: 'full' } });
      const unit = localise(service, config);
      const [start] = values(unit, 'ExecStart');
      assert.ok(start);
      const [command, ...args] = start.split(' ');
      const cli = runCli(args, { command: [command as string] });
      try {
        const base = await listeningAddress(cli);
        const mainPid = String(cli.child.pid);
        writeHtpasswd(htpasswd, { admin: 'admin-secret', bob: 'bob-secret' });
        writeConfig(config, { listen: '127.0.0.1:0', upstream: `unix:${rtorrent.socketPath}`, htpasswd, users: { admin: 'full', bob: 'readonly' } });
        const from = cli.lines().length;
        assert.equal(values(unit, 'ExecReload').length, 1, 'one ExecReload line');
        for (const line of values(unit, 'ExecReload')) {
          const [file, ...rest] = line.replaceAll('$MAINPID', mainPid).split(' ');
          await run(file as string, rest);
        }
        await cli.waitForLine((entry) => entry.msg === 'configuration reloaded', { from });
        const answer = await post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('bob', 'bob-secret') });
        assert.equal(answer.status, 200);

        // A broken file: systemctl reload fails with the reason, and the gateway is not even signalled.
        writeFileSync(config, '[server\n');
        const brokenFrom = cli.lines().length;
        for (const line of values(unit, 'ExecReload')) {
          const [file, ...rest] = line.replaceAll('$MAINPID', mainPid).split(' ');
          const failed = await run(file as string, rest).then(
            () => ({ code: 0, stderr: '' }),
            (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
          );
          assert.equal(failed.code, 78);
          assert.match(failed.stderr, /TOML syntax error/);
        }
        const bobAgain = await post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('bob', 'bob-secret') });
        assert.equal(bobAgain.status, 200);
        // Lines are written in batches: wait for bob's call, logged after any SIGHUP would have been.
        await cli.waitForLine((entry) => entry.msg === 'request' && entry.user === 'bob', { from: brokenFrom });
        assert.deepEqual(cli.lines().slice(brokenFrom).filter((entry) => entry.signal === 'SIGHUP'), []);
      } finally {
        await stopCli(cli);
      }
      assert.equal((await cli.exited).code, 0);
    });
  });
});
