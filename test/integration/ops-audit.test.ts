import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const VERSION = '<?xml version="1.0"?><methodResponse><params><param><value><string>0.9.8</string></value></param></params></methodResponse>';
const MULTICALL = `<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>
<value><struct><member><name>methodName</name><value><string>system.client_version</string></value></member><member><name>params</name><value><array><data/></array></value></member></struct></value>
<value><struct><member><name>methodName</name><value><string>d.multicall2</string></value></member><member><name>params</name><value><array><data><value><string></string></value><value><string>main</string></value><value><string>d.hash=</string></value></data></array></value></member></struct></value>
</data></array></value></param></params></methodCall>`;

function records(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('the audit log', () => {
  let dir: string;
  let auditFile: string;
  let fake: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    dir = makeTempDir('audit');
    auditFile = join(dir, 'audit.log');
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
    gateway = await startGateway({
      upstream: `unix:${fake.socketPath}`,
      users: {
        admin: { password: 'admin-secret', policy: 'full' },
        ops: { password: 'ops-secret', policy: 'ops' },
        viewer: { password: 'viewer-secret', policy: 'readonly' },
        stranger: { password: 'stranger-secret' },
      },
      extraToml: `[policies.ops]\nextends = "full"\ndeny = ["d.erase"]\n[audit]\nfile = "${auditFile}"`,
    });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  it('records a denied call with the user, the remote address, the methods and why', async () => {
    await post(gateway.url(), xmlCall('execute.throw', ['', 'touch', '/tmp/pwned']), { authorization: basicAuth('viewer', 'viewer-secret') });
    const record = records(auditFile).at(-1);
    assert.ok(record);
    assert.equal(record.msg, 'audit');
    assert.equal(record.user, 'viewer');
    assert.equal(record.remote, '127.0.0.1');
    assert.deepEqual(record.methods, ['execute.throw']);
    assert.equal(record.outcome, 'denied');
    assert.match(String(record.denial), /^execute\.throw: /);
    assert.match(String(record.time), /^\d{4}-\d\d-\d\dT/);
  });

  it('records every call by a full user, with each method of a multicall', async () => {
    const before = records(auditFile).length;
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
    await post(gateway.url(), MULTICALL, { authorization: basicAuth('admin', 'admin-secret') });
    const added = records(auditFile).slice(before);
    assert.equal(added.length, 2);
    assert.deepEqual(added.map((record) => [record.user, record.policy, record.outcome]), [
      ['admin', 'full', 'relayed'],
      ['admin', 'full', 'relayed'],
    ]);
    assert.deepEqual(added[1]?.methods, ['system.multicall', 'system.client_version', 'd.multicall2']);
  });

  it('treats a policy built on full as full', async () => {
    const before = records(auditFile).length;
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('ops', 'ops-secret') });
    assert.equal(records(auditFile).slice(before)[0]?.policy, 'ops');
  });

  it('records a wrong password for a named user and a user without access, but not an allowed call by a limited user', async () => {
    const before = records(auditFile).length;
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('viewer', 'viewer-secret') });
    await post(gateway.url(), xmlCall('system.client_version'));
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('admin', 'guess') });
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('stranger', 'stranger-secret') });
    const added = records(auditFile).slice(before);
    assert.deepEqual(added.map((record) => [record.user, record.outcome, record.status]), [
      ['admin', 'unauthenticated', 401],
      ['stranger', 'forbidden', 403],
    ]);
  });

  it('marks the same requests in the main log with "audit": true', () => {
    const requests = gateway.logs.filter((line) => line.path === '/RPC2');
    const audited = requests.filter((line) => line.audit === true).map((line) => `${String(line.user)}:${String(line.outcome)}`);
    assert.ok(audited.includes('viewer:denied'));
    assert.ok(audited.includes('admin:relayed'));
    assert.ok(!requests.some((line) => line.user === 'viewer' && line.outcome === 'relayed' && line.audit === true));
  });

  it('starts a new file after logrotate moves the old one away and SIGHUP reloads', async () => {
    renameSync(auditFile, `${auditFile}.1`);
    await gateway.app.gateway.reload(loadConfig({ file: gateway.configPath }));
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
    assert.equal(records(auditFile).length, 1);
  });

  it('refuses a reload whose audit file cannot be opened, and keeps writing the old one', async () => {
    const broken = { ...loadConfig({ file: gateway.configPath }), audit: { file: join(dir, 'missing-dir', 'audit.log') } };
    await assert.rejects(gateway.app.gateway.reload(broken), /audit\.file: cannot open .*missing-dir\/audit\.log/);
    await post(gateway.url(), xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
    assert.equal(records(auditFile).length, 2);
  });
});
