/**
 * The daemon's log as an operator meets it: JSON lines for machines (ISO-8601 times, levels by
 * name), a text line per call for people, one start line naming the socket really bound, and no
 * warning for the 401 that asks a client for its password. The built CLI runs in front of a fake
 * rtorrent: what is checked is the log, not rtorrent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatTextLine } from '../../src/log-text.js';
import { basicAuth, post } from '../helpers/gateway.js';
import { rtorrentStyleReply, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary, track } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { until } from '../helpers/wait.js';
import { CLI, listeningAddress, REPO_ROOT, runCli, stopCli, writeHtpasswd, type CliProcess } from './ops-support.js';

const scriptBin = requireBinary('script');
const VERSION = '<?xml version="1.0"?><methodResponse><params><param><value><string>0.9.8</string></value></param></params></methodResponse>';
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** The text format's start line, e.g. "… INFO  rtorrent-gateway listening listen=http://127.0.0.1:41234 …". */
const TEXT_LISTENING = /rtorrent-gateway listening listen=(http:\/\/\S+)/;

/**
 * What `npm ci --omit=dev` (or `npm prune --omit=dev`) leaves: package.json, dist/ and the
 * packages package-lock.json does not mark as development-only, outside this clone, so nothing
 * from its development node_modules can be found by walking up.
 */
function productionInstall(target: string): string {
  mkdirSync(target, { recursive: true });
  cpSync(join(REPO_ROOT, 'package.json'), join(target, 'package.json'));
  cpSync(join(REPO_ROOT, 'dist'), join(target, 'dist'), { recursive: true });
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const copied: string[] = [];
  for (const path of Object.keys(lock.packages).sort()) {
    if (!path.startsWith('node_modules/') || lock.packages[path]?.dev === true) continue;
    // A nested package came with the package it is nested in; an optional one may not be installed.
    if (copied.some((parent) => path.startsWith(`${parent}/`)) || !existsSync(join(REPO_ROOT, path))) continue;
    cpSync(join(REPO_ROOT, path), join(target, path), { recursive: true });
    copied.push(path);
  }
  return join(target, 'dist', 'cli.js');
}

describe('the gateway log', () => {
  let fake: FakeScgiServer;
  let dir: string;
  let htpasswd: string;
  const running: CliProcess[] = [];

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
    dir = makeTempDir('cli-logs');
    htpasswd = join(dir, 'htpasswd');
    writeHtpasswd(htpasswd, { admin: 'admin-secret', viewer: 'viewer-secret' });
  });
  after(async () => {
    await Promise.all(running.map(stopCli));
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  const gatewayArgs = (...extra: string[]): string[] => [
    '--listen', '127.0.0.1:0',
    '--upstream', `unix:${fake.socketPath}`,
    '--htpasswd', htpasswd,
    '--user', 'admin=full',
    '--user', 'viewer=readonly',
    ...extra,
  ];
  const start = (args: string[], options: Parameters<typeof runCli>[1] = {}): CliProcess => {
    const cli = runCli(args, options);
    running.push(cli);
    return cli;
  };
  const call = (base: string, user: string, password: string, method = 'system.client_version') =>
    post(`${base}/RPC2`, xmlCall(method), { authorization: basicAuth(user, password) });

  describe('as JSON (the default)', () => {
    it('gives each line an ISO-8601 time and its level by name', async () => {
      const cli = start(gatewayArgs());
      const base = await listeningAddress(cli);
      assert.equal((await call(base, 'admin', 'admin-secret')).status, 200);
      const request = await cli.waitForLine((line) => line.msg === 'request' && line.user === 'admin');
      assert.equal(request.level, 'info');
      assert.match(String(request.time), ISO_TIME);
      assert.ok(Math.abs(Date.parse(String(request.time)) - Date.now()) < 60_000, 'the time is now, in UTC');
      for (const line of cli.lines()) assert.ok(['debug', 'info', 'warn', 'error', 'fatal'].includes(String(line.level)), JSON.stringify(line));
    });

    it('writes one start line, naming the address really bound: 0.0.0.0, not 127.0.0.1', async () => {
      const cli = start(gatewayArgs('--listen', '0.0.0.0:0'));
      const base = await listeningAddress(cli);
      assert.match(base, /^http:\/\/0\.0\.0\.0:\d+$/);
      const port = Number(/:(\d+)$/.exec(base)?.[1]);
      assert.equal((await call(`http://127.0.0.1:${port}`, 'admin', 'admin-secret')).status, 200);
      await cli.waitForLine((line) => line.msg === 'request');
      assert.equal(cli.lines().filter((line) => /listening/i.test(String(line.msg))).length, 1, cli.output());
      assert.doesNotMatch(cli.output(), /Server listening at/);
    });

    it('logs the 401 that asks a client for its password at debug, and a wrong password at warn', async () => {
      const cli = start(gatewayArgs('--log-level', 'debug'));
      const base = await listeningAddress(cli);
      // What every Basic and Digest client sends first: no credentials, to learn the scheme and realm.
      assert.equal((await post(`${base}/RPC2`, xmlCall('system.client_version'))).status, 401);
      assert.equal((await call(base, 'admin', 'wrong')).status, 401);
      const challenge = await cli.waitForLine((line) => line.status === 401 && line.user === undefined);
      const failure = await cli.waitForLine((line) => line.status === 401 && line.user === 'admin');
      assert.equal(challenge.level, 'debug');
      assert.equal(challenge.msg, 'credentials requested');
      assert.equal(failure.level, 'warn');
      assert.equal(failure.msg, 'authentication failed');
      assert.deepEqual(cli.lines().filter((line) => line.level === 'warn' && line.user === undefined), [], 'no other warning');
    });
  });

  describe('as text', () => {
    it('reads like an access log for a call and a denied call, without terminal codes in a pipe (RTORRENT_GATEWAY_LOG_FORMAT)', async () => {
      const cli = start(gatewayArgs(), { env: { RTORRENT_GATEWAY_LOG_FORMAT: 'text' } });
      assert.ok(await until(() => TEXT_LISTENING.test(cli.output()), 10_000), cli.output());
      const base = TEXT_LISTENING.exec(cli.output())?.[1] as string;
      assert.equal((await call(base, 'admin', 'admin-secret')).status, 200);
      await call(base, 'viewer', 'viewer-secret', 'execute.throw');
      assert.ok(await until(() => / denied /.test(cli.output()), 5000), cli.output());
      const lines = cli.output().split('\n');
      const relayed = lines.find((line) => line.includes(' admin '));
      const denied = lines.find((line) => line.includes(' viewer '));
      // time, level, client address, user, methods, status, outcome, bytes in and out, milliseconds;
      // then the rest as key=value (a full user's calls and denials are audit records).
      assert.match(relayed ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}127\.0\.0\.1 admin system\.client_version 200 relayed in=\d+B out=\d+B [\d.]+ms audit=true$/);
      assert.match(denied ?? '', /^\S+Z WARN {2}127\.0\.0\.1 viewer execute\.throw 200 denied in=\d+B out=\d+B [\d.]+ms audit=true denial="execute\.throw: .*\\"readonly\\""$/);
      assert.equal(cli.lines().length, 0, 'no JSON');
      assert.doesNotMatch(cli.output(), /\x1b/, 'no escape codes into a pipe, a file or the journal');
    });

    it('colours the level on a terminal', { skip: scriptBin === undefined && 'script (util-linux) not installed' }, async () => {
      // The gateway on a pseudo-terminal of its own; `exec` makes the shell's pid the gateway's, for SIGTERM.
      const command = ['exec', process.execPath, CLI, ...gatewayArgs('--log-format', 'text')].map((word) => `'${word}'`).join(' ');
      const child = track(spawn(scriptBin as string, ['-qec', `echo "pid=$$"; ${command}`, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'xterm' }, stdio: 'pipe' }));
      child.ref();
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const closed = new Promise((resolve) => child.on('close', resolve));
      try {
        assert.ok(await until(() => TEXT_LISTENING.test(output), 10_000), output);
        assert.match(output, /\x1b\[32mINFO \x1b\[0m rtorrent-gateway listening/);
      } finally {
        const pid = Number(/pid=(\d+)/.exec(output)?.[1]);
        if (pid > 0) process.kill(pid, 'SIGTERM');
        else child.kill('SIGKILL');
        await closed;
      }
    });

    it('escapes what a client sent, so a user name cannot forge a line or repaint a terminal', () => {
      const line = JSON.stringify({ level: 'warn', time: '2025-06-01T10:00:00.000Z', remote: '192.0.2.7', user: 'x\n2025 INFO \x1b[2J\u009b2J\u2028', methods: [], path: '/RPC2', outcome: 'unauthenticated', status: 401, bytesIn: 0, bytesOut: 0, ms: 1, msg: 'authentication failed' });
      assert.equal(formatTextLine(line, false), '2025-06-01T10:00:00.000Z WARN  192.0.2.7 "x\\n2025 INFO \\u001b[2J\\u009b2J\\u2028" /RPC2 401 unauthenticated in=0B out=0B 1ms\n');
    });

    it('writes other lines as level, message and key=value', () => {
      const line = JSON.stringify({ level: 'info', time: '2025-06-01T10:00:00.000Z', name: 'rtorrent-gateway', restartNeeded: ['server.listen'], users: 2, msg: 'configuration reloaded' });
      assert.equal(formatTextLine(line, false), '2025-06-01T10:00:00.000Z INFO  configuration reloaded restartNeeded=server.listen users=2\n');
    });

    it('--pretty, the deprecated name, still gives it, from a production install without pino-pretty', async () => {
      const cli = productionInstall(join(dir, 'production'));
      assert.throws(() => createRequire(cli).resolve('pino-pretty'), /Cannot find module/, 'pino-pretty is not installed there');
      const gateway = start(gatewayArgs('--pretty'), { command: [process.execPath, cli] });
      assert.ok(await until(() => TEXT_LISTENING.test(gateway.output()), 10_000), gateway.output());
      const base = TEXT_LISTENING.exec(gateway.output())?.[1] as string;
      assert.equal((await call(base, 'admin', 'admin-secret')).status, 200);
      assert.ok(await until(() => / admin system\.client_version 200 relayed /.test(gateway.output()), 5000), gateway.output());
    });

    it('refuses --pretty next to log.format = "json", which it contradicts, naming the key', async () => {
      const checked = start(gatewayArgs('--check', '--pretty', '--log-format', 'json'));
      const { code } = await checked.exited;
      assert.equal(code, 78);
      assert.match(checked.output(), /log\.pretty: .*contradicts log\.format = "json"/);
    });
  });
});
