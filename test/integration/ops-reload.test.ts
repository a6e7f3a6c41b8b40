import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withCliGateway, writeHtpasswd, type CliProcess } from './ops-support.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;

describe('SIGHUP reloads the configuration and the htpasswd file', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withCliGateway('reload');
  let cli: CliProcess;
  let base: string;
  let configPath: string;
  let htpasswdPath: string;

  const config = (users: Record<string, string>, extra = '', listen = '127.0.0.1:0'): void => stack.config(users, { extra, listen });

  const version = (user: string, password: string) => post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth(user, password) });

  /** Sends SIGHUP and waits for the outcome line that follows it. */
  async function hangUp(): Promise<Record<string, unknown>> {
    const from = cli.lines().length;
    cli.child.kill('SIGHUP');
    return cli.waitForLine((line) => line.msg === 'configuration reloaded' || String(line.msg).startsWith('configuration reloaded;') || line.msg === 'reload failed: still serving the previous configuration', { from });
  }

  before(() => {
    ({ cli, base, configPath, htpasswdPath } = stack);
  });

  it('lets a user added to the htpasswd file and [access.users] in, with the policy given', async () => {
    assert.equal((await version('bob', 'bob-secret')).status, 401);
    writeHtpasswd(htpasswdPath, { admin: 'admin-secret', bob: 'bob-secret' });
    config({ admin: 'full', bob: 'readonly' });
    const outcome = await hangUp();
    assert.equal(outcome.msg, 'configuration reloaded');
    assert.equal(outcome.users, 2);
    const answer = await version('bob', 'bob-secret');
    assert.equal(answer.status, 200);
    assert.match(answer.body.toString(), /0\.9\.8/);
    const denied = await post(`${base}/RPC2`, xmlCall('execute.throw', ['', 'true']), { authorization: basicAuth('bob', 'bob-secret') });
    assert.match(denied.body.toString(), /not allowed for user "bob" \(policy "readonly"\)/);
  });

  it('keeps serving the previous configuration when the new file is broken, and says where', async () => {
    writeFileSync(configPath, '[server\nlisten = "127.0.0.1:0"\n');
    const outcome = await hangUp();
    assert.equal(outcome.msg, 'reload failed: still serving the previous configuration');
    assert.equal(outcome.level, 'error');
    assert.match(String((outcome.err as { message: string }).message), new RegExp(`${configPath}:1:\\d+: TOML syntax error`));
    assert.equal((await version('bob', 'bob-secret')).status, 200);
    assert.equal((await version('admin', 'admin-secret')).status, 200);
  });

  it('keeps the previous users when the new htpasswd file has a bad line', async () => {
    config({ admin: 'full', bob: 'readonly', carol: 'readonly' });
    writeFileSync(htpasswdPath, 'carol:plain-text-password\n');
    const outcome = await hangUp();
    assert.equal(outcome.msg, 'reload failed: still serving the previous configuration');
    assert.match(String((outcome.err as { message: string }).message), /htpasswd line 1 \(user "carol"\): plain-text/);
    assert.equal((await version('bob', 'bob-secret')).status, 200);
    assert.equal((await version('carol', 'plain-text-password')).status, 401);
  });

  it('refuses a user mapped to an unknown policy, keeping the old table', async () => {
    writeHtpasswd(htpasswdPath, { admin: 'admin-secret', bob: 'bob-secret' });
    config({ admin: 'full', bob: 'no-such-policy' });
    const outcome = await hangUp();
    assert.match(String((outcome.err as { message: string }).message), /access\.users\.bob: unknown policy "no-such-policy"/);
    assert.equal((await version('bob', 'bob-secret')).status, 200);
  });

  it('shuts a removed user out', async () => {
    writeHtpasswd(htpasswdPath, { admin: 'admin-secret' });
    config({ admin: 'full' });
    assert.equal((await hangUp()).msg, 'configuration reloaded');
    assert.equal((await version('bob', 'bob-secret')).status, 401);
  });

  it('names the changed keys that need a restart and keeps listening where it was', async () => {
    config({ admin: 'full' }, '', '127.0.0.1:1');
    const outcome = await hangUp();
    assert.deepEqual(outcome.restartNeeded, ['server.listen']);
    assert.equal((await version('admin', 'admin-secret')).status, 200);
  });

  it('counts reloads in /metrics', async () => {
    const response = await fetch(`${base}/metrics`, { headers: { authorization: basicAuth('admin', 'admin-secret') } });
    const text = await response.text();
    assert.match(text, /^rtorrent_gateway_config_reloads_total\{result="success"\} 3$/m);
    assert.match(text, /^rtorrent_gateway_config_reloads_total\{result="failure"\} 3$/m);
    assert.match(text, /^rtorrent_gateway_config_last_reload_successful 1$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m, 'the CLI adds the process metrics');
  });
});
