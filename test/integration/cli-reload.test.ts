/**
 * `rtorrent-gateway reload --pid PID`, the unit's ExecReload= and the container's `docker exec`
 * reload: the new configuration is checked the way --check checks it, and the running gateway is
 * signalled only when it holds. A refused reload must leave the gateway exactly as it was: not
 * signalled at all, so not even a failed reload shows in its log or its metrics.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { basicAuth, post } from '../helpers/gateway.js';
import { sample } from '../helpers/metrics.js';
import { requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { CLI, withCliGateway, writeHtpasswd, type CliProcess } from './ops-support.js';

const run = promisify(execFile);
const haveRtorrent = requireBinary('rtorrent') !== undefined;
/** Linux's largest possible pid_max is 2^22: no process ever has a larger id. */
const NO_SUCH_PID = String(2 ** 22 + 1);

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The subcommand as ExecReload= runs it: its own process, only the environment given. */
function reloadCommand(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return run(process.execPath, [CLI, 'reload', ...args], { env: { PATH: process.env.PATH, ...env } }).then(
    (output) => ({ code: 0, stdout: output.stdout, stderr: output.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

describe('rtorrent-gateway reload', () => {
  it('is listed in --help, and explains itself with reload --help', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help']);
    assert.match(stdout, /^ {2}reload --pid PID +check the configuration, then send SIGHUP/m);
    const help = await reloadCommand(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: rtorrent-gateway reload --pid PID \[--config FILE\]/);
  });
});

describe('rtorrent-gateway reload --pid PID, against a running gateway', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withCliGateway('cli-reload');
  let cli: CliProcess;
  let base: string;
  let pid: string;
  let configPath: string;
  let htpasswdPath: string;
  /** Reloads the gateway was asked for and carried out; the refused ones must not add to it. */
  let reloadsDone = 0;

  const config = (users: Record<string, string>, path = configPath): void => stack.config(users, { path });
  const version = (user: string, password: string) => post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth(user, password) });

  /** Runs the command and waits for the gateway to say it reloaded. */
  async function reloadAndWait(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
    const from = cli.lines().length;
    const outcome = await reloadCommand(args, env);
    assert.equal(outcome.code, 0, outcome.stderr);
    await cli.waitForLine((line) => line.msg === 'configuration reloaded', { from });
    reloadsDone++;
    return outcome;
  }

  before(() => {
    ({ cli, base, configPath, htpasswdPath } = stack);
    pid = String(cli.child.pid);
  });

  it('checks the new configuration, then sends SIGHUP: the gateway reloads and lets a new user in', async () => {
    assert.equal((await version('bob', 'bob-secret')).status, 401);
    writeHtpasswd(htpasswdPath, { admin: 'admin-secret', bob: 'bob-secret' });
    config({ admin: 'full', bob: 'readonly' });
    const outcome = await reloadAndWait(['--pid', pid, '--config', configPath]);
    assert.match(outcome.stdout, new RegExp(`^configuration OK; sent SIGHUP to PID ${pid}\\b`));
    assert.equal((await version('bob', 'bob-secret')).status, 200);
  });

  it('refuses a config file that does not parse: exit 78 naming the file and line, and the gateway keeps serving', async () => {
    writeFileSync(configPath, '[server\nlisten = "127.0.0.1:0"\n');
    const outcome = await reloadCommand(['--pid', pid, '--config', configPath]);
    assert.equal(outcome.code, 78);
    assert.match(outcome.stderr, new RegExp(`not reloading, the running gateway keeps its configuration: ${configPath}:1:\\d+: TOML syntax error`));
    assert.equal(outcome.stdout, '');
    assert.equal((await version('bob', 'bob-secret')).status, 200);
  });

  it('refuses an htpasswd file with a bad line, as --check does', async () => {
    config({ admin: 'full', bob: 'readonly', carol: 'readonly' });
    writeFileSync(htpasswdPath, 'carol:plain-text-password\n');
    const outcome = await reloadCommand(['--pid', pid, '--config', configPath]);
    assert.equal(outcome.code, 78);
    assert.match(outcome.stderr, /htpasswd line 1 \(user "carol"\): plain-text/);
    assert.equal((await version('bob', 'bob-secret')).status, 200);
  });

  it('refuses a user bound to an unknown policy, which only building the gateway finds', async () => {
    writeHtpasswd(htpasswdPath, { admin: 'admin-secret', bob: 'bob-secret' });
    config({ admin: 'full', bob: 'no-such-policy' });
    const outcome = await reloadCommand(['--pid', pid, '--config', configPath]);
    assert.equal(outcome.code, 78);
    assert.match(outcome.stderr, /access\.users\.bob: unknown policy "no-such-policy"/);
    assert.equal((await version('bob', 'bob-secret')).status, 200);
  });

  it('reads the configuration the gateway reads: RTORRENT_GATEWAY_CONFIG and the other variables, as `docker exec` passes them', async () => {
    config({ admin: 'full', bob: 'readonly' });
    const broken = await reloadCommand(['--pid', pid], { RTORRENT_GATEWAY_CONFIG: configPath, RTORRENT_GATEWAY_UPSTREAM_MAX_QUEUE: 'many' });
    assert.equal(broken.code, 78);
    assert.match(broken.stderr, /RTORRENT_GATEWAY_UPSTREAM_MAX_QUEUE/);
    await reloadAndWait(['--pid', pid], { RTORRENT_GATEWAY_CONFIG: configPath });
  });

  it('takes only a plain positive process id, never 0 or a negative one (a process group, or every process)', async () => {
    // The file does not parse either: an implementation that skipped the id check would still
    // have nothing valid to signal with, instead of sending SIGHUP to a whole group of processes.
    writeFileSync(configPath, '[server\n');
    for (const args of [[], ['--pid'], ['--pid', ''], ['--pid', '0'], ['--pid', '-1'], ['--pid=-1'], ['--pid', '12x'], ['--pid', pid, '--pid', pid]]) {
      const outcome = await reloadCommand([...args, '--config', configPath]);
      assert.equal(outcome.code, 2, `${args.join(' ')}: ${outcome.stderr}`);
      assert.match(outcome.stderr, /see rtorrent-gateway reload --help/);
    }
    config({ admin: 'full', bob: 'readonly' });
  });

  it('fails with exit 1 when no such process runs', async () => {
    const outcome = await reloadCommand(['--pid', NO_SUCH_PID, '--config', configPath]);
    assert.equal(outcome.code, 1);
    assert.match(outcome.stderr, new RegExp(`cannot signal PID ${NO_SUCH_PID}: no such process`));
  });

  it('left the gateway untouched by every refused reload: its log and /metrics show only the reloads that were sent', async () => {
    // One more, so any stray signal from the refused ones would have been handled before it.
    await reloadAndWait(['--pid', pid, '--config', configPath]);
    const hangUps = cli.lines().filter((line) => line.signal === 'SIGHUP');
    assert.equal(hangUps.length, reloadsDone);
    const response = await fetch(`${base}/metrics`, { headers: { authorization: basicAuth('admin', 'admin-secret') } });
    const text = await response.text();
    assert.equal(sample(text, 'rtorrent_gateway_config_reloads_total', { result: 'success' }), reloadsDone);
    assert.equal(sample(text, 'rtorrent_gateway_config_reloads_total', { result: 'failure' }) ?? 0, 0);
    assert.equal(sample(text, 'rtorrent_gateway_config_last_reload_successful'), 1);
    assert.equal(cli.child.exitCode, null, 'still running');
  });
});
