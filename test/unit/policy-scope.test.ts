/**
 * scope = "own" without rtorrent: how a tenant's allowed call is narrowed before it is sent
 * (test/integration/tenants.test.ts shows the same against real rtorrents).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { GatewayError } from '../../src/errors.js';
import { buildRuntime } from '../../src/ops/runtime.js';
import { compilePolicies } from '../../src/policy/index.js';
import { confineTargets, type ScopedCall } from '../../src/policy/scope.js';
import { VerifiedCredentialCache } from '../../src/auth/credential-cache.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, multicall, value } from '../helpers/call-tree.js';

const A = '0123456789ABCDEF0123456789ABCDEF01234567';
const B = 'FEDCBA9876543210FEDCBA9876543210FEDCBA98';
const policies = compilePolicies({ 'tenant-roots': { extends: 'tenant', download_roots: ['/srv/torrents/{user}'] } });
const tenant = policies.get('tenant-roots')!.forUser('alice');

/** The call as it would be sent for alice, after the policy allowed it. */
function scoped(sent: MethodCall): ScopedCall {
  const verdict = tenant.check(sent);
  assert.ok(verdict.allowed, verdict.allowed ? '' : verdict.reason);
  const result = tenant.scopeCall(sent, 'alice');
  assert.ok(result !== undefined && !('reason' in result), JSON.stringify(result));
  return result;
}

function refusal(sent: MethodCall): string {
  const verdict = tenant.check(sent);
  if (!verdict.allowed) return verdict.reason;
  const result = tenant.scopeCall(sent, 'alice');
  assert.ok(result !== undefined && 'reason' in result, `${sent.methodName} was not refused`);
  return result.reason;
}

describe('a tenant\'s lists (scope = "own")', () => {
  it('become d.multicall.filtered on the owner tag, with the same view and rows', () => {
    const asked = call('d.multicall2', '', 'main', 'd.hash=', 'd.name=');
    const { call: sent } = scoped(asked);
    assert.deepEqual(sent, call('d.multicall.filtered', '', 'main', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash=', 'd.name='));
  });

  it('are narrowed the same way when sent as d.multicall, 0.16\'s name for d.multicall2', () => {
    assert.deepEqual(scoped(call('d.multicall', '', 'main', 'd.hash=')).call, call('d.multicall.filtered', '', 'main', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash='));
  });

  it('are narrowed inside system.multicall too, leaving the other calls as they were', () => {
    const { call: sent } = scoped(multicall(call('system.client_version'), call('d.multicall2', '', 'main', 'd.hash=')));
    assert.deepEqual(sent, multicall(call('system.client_version'), call('d.multicall.filtered', '', 'main', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash=')));
  });

  it('send download_list and view.size as the rows of the user\'s own torrents, to be counted or listed', () => {
    const listed = scoped(call('download_list', '', 'main'));
    assert.deepEqual(listed.call, call('d.multicall.filtered', '', 'main', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash='));
    assert.deepEqual(listed.answer, { whole: 'hashes' });
    assert.deepEqual(scoped(call('view.size', '', 'seeding')).answer, { whole: 'count' });
  });

  it('do the same for download_list and view.size inside system.multicall, naming which answers to turn back', () => {
    const sent = scoped(multicall(call('system.client_version'), call('view.size', '', 'main'), call('download_list', '', 'seeding')));
    assert.deepEqual(
      sent.call,
      multicall(
        call('system.client_version'),
        call('d.multicall.filtered', '', 'main', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash='),
        call('d.multicall.filtered', '', 'seeding', 'equal={d.custom=gateway.owner,cat=alice}', 'd.hash='),
      ),
    );
    assert.deepEqual(sent.answer, { members: new Map([[1, 'count'], [2, 'hashes']]) });
  });

  it('keep the user\'s own d.multicall.filtered filter, quoted as one string beside the owner filter', () => {
    const sent = scoped(call('d.multicall.filtered', '', 'main', 'equal={d.custom1=,cat="tv \\ films"}', 'd.hash='));
    assert.deepEqual(sent.call, call('d.multicall.filtered', '', 'main', 'and={"equal={d.custom=gateway.owner,cat=alice}"," equal={d.custom1=,cat=\\"tv \\\\ films\\"}"}', 'd.hash='));
    assert.equal(sent.answer, undefined, 'rows come back as they are');
  });

  it('refuse view.size_not_visible, which rtorrent cannot narrow, naming what to count instead', () => {
    for (const sent of [call('view.size_not_visible', '', 'main'), multicall(call('view.size_not_visible', '', 'main'))]) {
      assert.match(refusal(sent), /every user's torrents: .*cannot be narrowed; count the rows of d\.multicall2/, sent.methodName);
    }
  });

  it('refuse a list reached from a command string, which would walk every torrent', () => {
    assert.match(refusal(call('d.multicall2', '', 'main', 'cat="$d.multicall2=main,d.hash="')), /d\.multicall2 is not allowed/);
    assert.match(refusal(call('d.multicall2', '', 'main', 'cat=$view.size=main')), /view\.size is not allowed/);
  });

  it('take plain strings only, the one shape every rtorrent reads alike', () => {
    assert.match(refusal(call('d.multicall2', '', 'main', ['d.hash=', 'd.name='])), /plain string arguments/);
  });
});

describe('a tenant\'s loads', () => {
  it('are sent flat, tagged with the owner and put under the user\'s root when they name no directory', () => {
    const { call: sent } = scoped(call('load.start', '', ['magnet:?xt=urn:btih:' + A, 'd.custom1.set=tv']));
    assert.deepEqual(sent, call('load.start', '', `magnet:?xt=urn:btih:${A}`, 'd.custom1.set=tv', 'd.directory.set=/srv/torrents/alice', 'd.custom.set=gateway.owner,alice'));
  });

  it('keep a directory the user chose inside their root', () => {
    const { call: sent } = scoped(call('load.raw', '', Buffer.from('d4:infoe'), 'd.directory.set=/srv/torrents/alice/tv'));
    assert.deepEqual(sent.params.slice(2).map((param) => (param.kind === 'string' ? param.value : '')), ['d.directory.set=/srv/torrents/alice/tv', 'd.custom.set=gateway.owner,alice']);
    assert.deepEqual(sent.params[1], value(Buffer.from('d4:infoe')), 'the .torrent stays base64');
  });

  it('may not go into another user\'s root', () => {
    assert.match(refusal(call('load.normal', '', 'magnet:?xt=urn:btih:' + A, 'd.directory.set=/srv/torrents/bob')), /outside the download roots/);
  });
});

describe('the owner tag', () => {
  it('is neither read, written nor listed by a tenant, at the top level, in a row or after a load', () => {
    for (const sent of [
      call('d.custom', A, 'gateway.owner'),
      call('d.custom.set', A, 'gateway.owner', 'bob'),
      call('d.custom_throw', A, 'gateway.owner'),
      call('d.multicall2', '', 'main', 'd.custom.set=gateway.owner,bob'),
      call('d.multicall2', '', 'main', 'd.custom=gateway.owner'),
      call('load.normal', '', 'magnet:?xt=urn:btih:' + A, 'd.custom.set=gateway.owner,bob'),
    ]) {
      assert.match(refusal(sent), /owner tag/, JSON.stringify(sent.params));
    }
    assert.match(refusal(call('d.custom.keys', A)), /would show the owner tag/);
    assert.match(refusal(call('d.multicall2', '', 'main', 'd.custom.set="$cat=gateway.,owner",bob')), /literal arguments/);
  });

  it('is a tenant\'s to use for their own keys', () => {
    scoped(call('d.custom.set', A, 'addtime', '1700000000'));
    scoped(call('d.multicall2', '', 'main', 'd.custom=addtime'));
  });

  it('stays open to policies that see every torrent', () => {
    const standard = compilePolicies({}).get('standard')!;
    assert.ok(standard.check(call('d.custom', A, 'gateway.owner')).allowed);
    assert.equal(standard.scopeCall(call('d.name', A), 'alice'), undefined);
  });
});

describe('per-torrent calls', () => {
  it('name their targets, upper-cased and without a file, tracker or peer suffix', () => {
    const asked = multicall(call('d.name', A.toLowerCase()), call('f.path', `${B}:f0`), call('system.client_version'));
    const { call: sent, targets } = scoped(asked);
    assert.deepEqual([...targets].sort(), [A, B]);
    assert.equal(sent, asked, 'nothing was added to the call');
  });

  it('have a foreign target swapped for a hash no torrent has, keeping the suffix', () => {
    const sent = multicall(call('d.name', A), call('f.path', `${B}:f0`));
    assert.deepEqual(
      confineTargets(sent, new Set([B])),
      multicall(call('d.name', A), call('f.path', `${'0'.repeat(40)}:f0`)),
    );
    assert.deepEqual(confineTargets(call('d.erase', B), new Set([B])), call('d.erase', '0'.repeat(40)));
  });

  it('leave system calls alone', () => {
    assert.deepEqual(scoped(call('system.client_version')).targets, new Set());
  });
});

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtg-scope-'));
  const htpasswd = join(dir, 'htpasswd');
  writeFileSync(htpasswd, '');
  async function runtimeFor(toml: string): Promise<unknown> {
    const file = join(dir, 'gateway.toml');
    writeFileSync(file, `[upstream]\nscgi = "unix:${dir}/scgi.socket"\n[auth]\nhtpasswd = "${htpasswd}"\n${toml}`);
    return buildRuntime(loadConfig({ file, overrides: [] }), { cache: new VerifiedCredentialCache(), logger: pino({ level: 'silent' }) });
  }

  it('refuses a scoped user whose name could not be a tag or a path', async () => {
    await assert.rejects(runtimeFor('[access.users]\n"alice@home" = "tenant"\n'), (error: unknown) => error instanceof GatewayError && /access\.users\.alice@home: .*letters, digits/.test(error.message));
    await runtimeFor('[access.users]\nalice = "tenant"\n');
  });

  it('takes scope = "own" in a configuration file, on a policy of the operator\'s own', async () => {
    const runtime = (await runtimeFor('[policies.home]\nextends = "standard"\nscope = "own"\ndownload_roots = ["/srv/torrents/{user}"]\n[access.users]\nalice = "home"\n')) as {
      policies: ReadonlyMap<string, { scope: string }>;
    };
    assert.equal(runtime.policies.get('home')?.scope, 'own');
    await assert.rejects(runtimeFor('[policies.home]\nextends = "standard"\nscope = "mine"\n[access.users]\nalice = "home"\n'), /policies\.home\.scope/);
  });

  it('refuses scope = "own" on a policy built on full, and other placeholders than {user}', () => {
    assert.throws(() => compilePolicies({ x: { extends: 'full', scope: 'own' } }), /built on full/);
    assert.throws(() => compilePolicies({ x: { extends: 'tenant', download_roots: ['/srv/{name}'] } }), /only placeholder is \{user\}/);
    assert.throws(() => compilePolicies({ x: { extends: 'tenant', scope: 'mine' as never } }), /"all" or "own"/);
  });

  it('fills {user} in per user, so one policy keeps every tenant in their own root', () => {
    const shared = policies.get('tenant-roots')!;
    assert.notEqual(shared.forUser('alice'), shared.forUser('bob'));
    assert.equal(shared.forUser('alice'), shared.forUser('alice'));
    assert.ok(shared.forUser('bob').check(call('d.directory.set', A, '/srv/torrents/bob/x')).allowed);
    assert.equal(shared.forUser('alice').check(call('d.directory.set', A, '/srv/torrents/bob/x')).allowed, false);
  });
});

