import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { basicAuth, startGateway } from '../helpers/gateway.js';
import { sample } from '../helpers/metrics.js';
import { requireBinary } from '../helpers/processes.js';
import { ruTorrent } from '../helpers/client-calls.js';
import { scgiRequest, xmlCall, xmlMulticall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;

describe('[[scgi.listeners]] in the config file', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const floodSocket = (): string => join(stack.dir, 'flood.sock');
  const adminSocket = (): string => join(stack.dir, 'admin.sock');
  const stack = withStack({
    rtorrent: { name: 'scgi-config', torrents: 5 },
    gateway: () => ({
      users: {
        admin: { password: 'admin-secret', policy: 'full' },
        flood: { password: 'unused-secret', policy: 'standard' },
      },
      extraToml: [
        '[[scgi.listeners]]',
        `listen = "unix:${floodSocket()}"`,
        'user = "flood"',
        'mode = "0660"',
        '[[scgi.listeners]]',
        `listen = "unix:${adminSocket()}"`,
        'user = "admin"',
        'mode = "0600"',
        '[audit]',
        `file = "${join(stack.dir, 'audit.log')}"`,
      ].join('\n'),
    }),
  });

  it('opens each listener\'s socket with its configured mode when the gateway starts listening', () => {
    assert.equal(statSync(floodSocket()).mode & 0o777, 0o660);
    assert.equal(statSync(adminSocket()).mode & 0o777, 0o600);
  });

  it('logs, counts and audits a listener\'s calls as it does HTTP calls, with transport "scgi"', async () => {
    const refused = await scgiRequest({ path: floodSocket() }, xmlCall('execute.throw', ['', 'true']));
    assert.match(refused.body.toString(), /<fault>/);
    const allowed = await scgiRequest({ path: adminSocket() }, xmlCall('system.client_version'));
    assert.equal(allowed.status, 200);
    const metrics = await (await fetch(stack.url('/metrics'), { headers: { authorization: basicAuth('admin', 'admin-secret') } })).text();
    assert.equal(sample(metrics, 'rtorrent_gateway_requests_total', { transport: 'scgi', user: 'flood', method: 'execute.throw', outcome: 'denied' }), 1);
    assert.equal(sample(metrics, 'rtorrent_gateway_denials_total', { user: 'flood', method: 'execute.throw', reason: 'denied' }), 1);
    assert.equal(sample(metrics, 'rtorrent_gateway_requests_total', { transport: 'scgi', user: 'admin', method: 'system.client_version', outcome: 'relayed' }), 1);
    // The audit file holds denials and every call of a full user, as for HTTP.
    const records = readFileSync(join(stack.dir, 'audit.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(records.some((r) => r.user === 'flood' && r.outcome === 'denied' && String(r.path).endsWith('flood.sock')));
    assert.ok(records.some((r) => r.user === 'admin' && r.outcome === 'relayed'));
    const lines = stack.gateway.logs.filter((line) => line.transport === 'scgi');
    assert.ok(lines.some((line) => line.user === 'flood' && line.msg === 'call denied' && line.audit === true));
  });

  it('relays SCGI calls with the bytes rtorrent answers directly', async () => {
    const body = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=']);
    const direct = await stack.rtorrent.raw(body);
    const viaListener = await scgiRequest({ path: floodSocket() }, body);
    assert.equal(viaListener.status, 200);
    assert.ok(viaListener.body.equals(direct.body));
  });

  it('applies the bound user\'s policy: execute.throw is refused for the standard user, allowed for admin', async () => {
    const marker = join(stack.dir, 'marker');
    const attack = xmlCall('execute.throw', ['', 'touch', marker]);
    const refused = await scgiRequest({ path: floodSocket() }, attack);
    assert.match(refused.body.toString(), /<fault>[\s\S]*execute\.throw is not allowed for user "flood" \(policy "standard"\)/);
    assert.equal(existsSync(marker), false);
    const allowed = await scgiRequest({ path: adminSocket() }, attack);
    assert.doesNotMatch(allowed.body.toString(), /<fault>/);
    assert.equal(existsSync(marker), true);
  });

  it('lets ruTorrent\'s start-up multicall through, raising rtorrent\'s XML limit only to what 0.9.8 reads in one request (2 MiB)', async () => {
    const answer = await scgiRequest({ path: floodSocket() }, xmlMulticall(...ruTorrent.startup()));
    assert.doesNotMatch(answer.body.toString(), /faultCode/);
    assert.match(answer.body.toString(), /0\.9\.8/);
    assert.equal(await stack.rtorrent.call('network.xmlrpc.size_limit'), 2 * 1024 * 1024);
  });

  it('removes the sockets when the gateway closes', async () => {
    const second = await startGateway({
      upstream: `unix:${stack.rtorrent.socketPath}`,
      users: { flood: { password: 'x', policy: 'readonly' } },
      extraToml: `[[scgi.listeners]]\nlisten = "unix:${join(stack.dir, 'short.sock')}"\nuser = "flood"`,
    });
    assert.equal(existsSync(join(stack.dir, 'short.sock')), true);
    await second.close();
    assert.equal(existsSync(join(stack.dir, 'short.sock')), false);
  });
});
