import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { call } from '../helpers/call-tree.js';

const H = 'DD8255ECDC7CA55FB0BBF81323D87062DB1F6D1C';
const MAGNET = 'magnet:?xt=urn:btih:dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c';

const policies = compilePolicies(
  {
    rooted: { extends: 'standard', download_roots: ['/srv/torrents', '/mnt/media/'] },
    local: { extends: 'standard', download_roots: ['/srv/torrents'], load_sources: ['magnet', 'file'] },
    ftp: { extends: 'standard', load_sources: ['ftp', 'raw'] },
  },
  { bodyLimit: 4 * 1024 * 1024 },
);

type Row = [behaviour: string, policy: string, call: MethodCall, allowed: boolean];

function table(rows: Row[]): void {
  for (const [behaviour, name, request, allowed] of rows) {
    test(behaviour, () => {
      const verdict = policies.get(name)!.check(request);
      assert.equal(verdict.allowed, allowed, verdict.allowed ? 'allowed' : verdict.reason);
    });
  }
}

describe('targets', () => {
  table([
    ['an empty target is the generic target', 'readonly', call('system.client_version', ''), true],
    ['no parameters at all is fine', 'readonly', call('system.client_version'), true],
    ['an upper-case info-hash', 'readonly', call('d.name', H), true],
    ['a file route', 'readonly', call('f.path', `${H}:f123456`), true],
    ['a tracker route', 'readonly', call('t.url', `${H}:t0`), true],
    ['a peer route', 'readonly', call('p.address', `${H}:p${'a'.repeat(40)}`), true],
    ['a 39-character hash', 'readonly', call('d.name', H.slice(1)), false],
    ['a hash with trailing junk, which rtorrent would ignore', 'readonly', call('d.name', `${H}x`), false],
    ['a file route with a 7-digit index', 'readonly', call('f.path', `${H}:f1234567`), false],
    ['a short peer id', 'readonly', call('p.address', `${H}:pabc`), false],
    ['a base64 target', 'readonly', call('d.name', Buffer.from(H)), false],
    ['xmlrpc-c built-ins take a method name, not a target', 'readonly', call('system.methodHelp', 'd.name'), true],
  ]);
});

describe('download directories are confined to download_roots', () => {
  table([
    ['inside a root', 'rooted', call('d.directory.set', H, '/srv/torrents/tv'), true],
    ['the root itself', 'rooted', call('d.directory.set', H, '/srv/torrents'), true],
    ['the root with a trailing slash', 'rooted', call('d.directory_base.set', H, '/mnt/media/'), true],
    ['redundant slashes and dots are normalised', 'rooted', call('d.directory.set', H, '/srv//torrents/./tv/'), true],
    ['a sibling that shares the prefix', 'rooted', call('d.directory.set', H, '/srv/torrents-evil'), false],
    ['a .. escape', 'rooted', call('d.directory.set', H, '/srv/torrents/../../root/.ssh'), false],
    ['a .. that stays inside is still refused', 'rooted', call('d.directory.set', H, '/srv/torrents/a/../b'), false],
    ['a relative path', 'rooted', call('d.directory.set', H, 'torrents/tv'), false],
    ['a home-relative path', 'rooted', call('d.directory.set', H, '~/.ssh'), false],
    ['outside every root', 'rooted', call('d.directory.set', H, '/etc'), false],
    ['no roots, no directory changes', 'standard', call('d.directory.set', H, '/srv/torrents/tv'), false],
    ['xmlrpc-c unwraps a one-element array, so the path inside is checked', 'rooted', call('d.directory.set', H, ['/etc']), false],
    ['and a good path inside an array passes', 'rooted', call('d.directory.set', H, ['/srv/torrents/x']), true],
    ['two paths', 'rooted', call('d.directory.set', H, '/srv/torrents/a', '/srv/torrents/b'), false],
    ['an integer', 'rooted', call('d.directory.set', H, 5), false],
    ['inside a multicall row with a literal path', 'rooted', call('d.multicall2', '', 'main', 'd.directory.set=/srv/torrents/all'), true],
    ['inside a multicall row outside the roots', 'rooted', call('d.multicall2', '', 'main', 'd.directory.set=/root'), false],
    ['inside a multicall row with a computed path', 'rooted', call('d.multicall2', '', 'main', 'd.directory.set=$d.custom1='), false],
    ['through a function whose path is computed', 'rooted', call('d.multicall2', '', 'main', 'cat=(d.directory.set,(d.custom1))'), false],
    ['after a load with a quoted path', 'rooted', call('load.start', '', MAGNET, 'd.directory.set="/srv/torrents/movies"'), true],
    ['after a load with a path outside', 'rooted', call('load.start', '', MAGNET, 'd.directory_base.set=/root'), false],
  ]);
});

describe('load sources', () => {
  table([
    ['a magnet link', 'standard', call('load.start', '', MAGNET), true],
    ['magnet: without ? is a local path to rtorrent', 'standard', call('load.start', '', 'magnet:xt=foo'), false],
    ['an http URL', 'standard', call('load.normal', '', 'http://example.org/a.torrent'), true],
    ['an https URL', 'standard', call('load.start', '', 'https://example.org/a.torrent'), true],
    ['upper-case schemes are local paths to rtorrent', 'standard', call('load.start', '', 'HTTPS://example.org/a.torrent'), false],
    ['ftp is off by default', 'standard', call('load.start', '', 'ftp://example.org/a.torrent'), false],
    ['ftp where the policy allows it', 'ftp', call('load.start', '', 'ftp://example.org/a.torrent'), true],
    ['and then https is not allowed', 'ftp', call('load.start', '', 'https://example.org/a.torrent'), false],
    ['raw data', 'standard', call('load.raw_start', '', Buffer.from('d4:infodee')), true],
    ['raw data as a string', 'standard', call('load.raw', '', 'd4:infodee'), true],
    ['raw data where the policy does not allow it', 'local', call('load.raw', '', Buffer.from('d4:infodee')), false],
    ['a data: URI', 'standard', call('load.start', '', 'data:application/x-bittorrent;base64,ZDQ6aW5mb2RlZQ=='), true],
    ['a data: URI that is not base64', 'standard', call('load.start', '', 'data:text/plain,*'), false],
    ['a local file', 'standard', call('load.start', '', '/srv/torrents/a.torrent'), false],
    ['a local file inside the roots where files are allowed', 'local', call('load.start', '', '/srv/torrents/a.torrent'), true],
    ['a local file outside the roots', 'local', call('load.start', '', '/root/a.torrent'), false],
    ['a glob, which rtorrent expands', 'local', call('load.start', '', '/srv/torrents/*.torrent'), false],
    ['a relative local file', 'local', call('load.start', '', 'a.torrent'), false],
    ['no source at all', 'standard', call('load.start', ''), false],
    ['an integer source', 'standard', call('load.start', '', 5), false],
    ['a base64 URL, as autobrr sends', 'standard', call('load.start', '', [Buffer.from(MAGNET)]), true],
    ['a source and commands wrapped in one array, as autobrr sends', 'standard', call('load.start', '', [MAGNET, 'd.custom1.set=x']), true],
    ['a bad command wrapped in that array', 'standard', call('load.start', '', [MAGNET, 'd.erase=']), false],
    ['a command in a one-element array, which xmlrpc-c unwraps', 'standard', call('load.start', '', MAGNET, ['execute.throw=sh']), false],
    ['a nested array among the commands', 'standard', call('load.start', '', MAGNET, ['d.custom1.set=a', 'd.custom2.set=b']), false],
    ['a struct among the commands', 'standard', call('load.start', '', MAGNET, { struct: [['a', 'execute.throw=sh']] }), false],
  ]);
});

describe('commands after a load keep fixed, literal shapes', () => {
  table([
    ['a label', 'standard', call('load.start', '', MAGNET, 'd.custom1.set=tv'), true],
    ['a quoted label with blanks', 'standard', call('load.start', '', MAGNET, 'd.custom1.set="my tv"'), true],
    ['a key and a value', 'standard', call('load.start', '', MAGNET, 'd.custom.set=addtime,1764100000'), true],
    ['a priority', 'standard', call('load.start', '', MAGNET, 'd.priority.set=3'), true],
    ['several commands in one string', 'standard', call('load.start', '', MAGNET, 'd.custom1.set=tv;d.priority.set=1'), true],
    ['untying', 'standard', call('load.start', '', MAGNET, 'd.tied_to_file.set=""'), true],
    ['initial seeding', 'standard', call('load.start', '', MAGNET, 'd.connection_seed.set=initial_seed'), true],
    ['an unquoted label with a blank, which rtorrent cannot parse either', 'standard', call('load.start', '', MAGNET, 'd.custom1.set=my tv'), false],
    ['a $ value', 'standard', call('load.start', '', MAGNET, 'd.custom1.set=$d.name='), false],
    ['a function value', 'standard', call('load.start', '', MAGNET, 'd.custom1.set=(d.name)'), false],
    ['a list value', 'standard', call('load.start', '', MAGNET, 'd.custom.set=a,{b}'), false],
    ['a start after the load', 'standard', call('load.normal', '', MAGNET, 'd.start='), false],
    ['an erase after the load', 'standard', call('load.start', '', MAGNET, 'd.erase='), false],
    ['an evaluator after the load', 'standard', call('load.start', '', MAGNET, 'branch=d.name=,d.name='), false],
    ['a getter after the load', 'standard', call('load.start', '', MAGNET, 'd.name='), false],
    ['a policy built on full keeps its freedom after a load', 'full', call('load.start', '', MAGNET, 'd.erase='), true],
  ]);
});

describe('tied files', () => {
  table([
    ['untying a download', 'standard', call('d.tied_to_file.set', H, ''), true],
    ['tying a download to a path', 'standard', call('d.tied_to_file.set', H, '/srv/torrents/a.torrent'), false],
    ['tying inside a command string', 'standard', call('d.multicall2', '', 'main', 'd.tied_to_file.set=/x'), false],
    ['untying inside a command string', 'standard', call('d.multicall2', '', 'main', 'd.tied_to_file.set='), true],
  ]);
});

describe('network.xmlrpc.size_limit.set is clamped to the gateway body limit', () => {
  table([
    ['an integer at the body limit', 'mobile', call('network.xmlrpc.size_limit.set', '', 4 * 1024 * 1024), true],
    ['an i8', 'mobile', call('network.xmlrpc.size_limit.set', '', 3n * 1024n * 1024n), true],
    ['a string with a unit', 'mobile', call('network.xmlrpc.size_limit.set', '', '4M'), true],
    ['a string in bytes', 'mobile', call('network.xmlrpc.size_limit.set', '', '2000000'), true],
    ['over the body limit (then clamped, see below)', 'mobile', call('network.xmlrpc.size_limit.set', '', 4 * 1024 * 1024 + 1), true],
    ['ruTorrent\'s 64 MiB - 1 (then clamped)', 'standard', call('network.xmlrpc.size_limit.set', '', 67108863), true],
    ['64 MiB and more, which rtorrent itself refuses', 'mobile', call('network.xmlrpc.size_limit.set', '', '64M'), false],
    ['a unit far over', 'mobile', call('network.xmlrpc.size_limit.set', '', '1G'), false],
    ['below xmlrpc-c default, which breaks every client', 'mobile', call('network.xmlrpc.size_limit.set', '', 1024), false],
    ['an octal-looking string, which strtoll would read as octal', 'mobile', call('network.xmlrpc.size_limit.set', '', '010000000'), false],
    ['a negative value', 'mobile', call('network.xmlrpc.size_limit.set', '', -1), false],
    ['no value', 'mobile', call('network.xmlrpc.size_limit.set', ''), false],
    ['not inside command strings', 'mobile', call('d.multicall2', '', 'main', 'network.xmlrpc.size_limit.set=4M'), false],
    ['not in readonly', 'readonly', call('network.xmlrpc.size_limit.set', '', '1M'), false],
  ]);

  test('rtorrent is sent the gateway body limit instead of a larger value, at the top level and in a multicall', () => {
    const standard = compilePolicies({}, { bodyLimit: 4 * 1024 * 1024 }).get('standard')!;
    const clamped = standard.prepare(call('network.xmlrpc.size_limit.set', '', '32M'));
    assert.deepEqual(clamped.params[1], { kind: 'i8', value: 4n * 1024n * 1024n });
    const small = call('network.xmlrpc.size_limit.set', '', 1024 * 1024);
    assert.equal(standard.prepare(small), small, 'values within the limit are left alone');
    const multicall = call('system.multicall', [
      { struct: [['methodName', 'network.xmlrpc.size_limit.set'], ['params', ['', 67108863]]] },
      { struct: [['methodName', 'd.name'], ['params', [H]]] },
    ]);
    const prepared = standard.prepare(multicall);
    const members = prepared.params[0]?.kind === 'array' ? prepared.params[0].items : [];
    const first = members[0]?.kind === 'struct' ? members[0].members.get('params') : undefined;
    assert.deepEqual(first?.kind === 'array' ? first.items[1] : undefined, { kind: 'i8', value: 4n * 1024n * 1024n });
    assert.equal(members[1], multicall.params[0]?.kind === 'array' ? multicall.params[0].items[1] : undefined);
    const untouched = call('system.multicall', [{ struct: [['methodName', 'd.name'], ['params', [H]]] }]);
    assert.equal(standard.prepare(untouched), untouched, 'a multicall with nothing to clamp goes through as it is');
  });

  test('a value sent as base64 or wrapped in a one-element array is read as the policy read it, and clamped too', () => {
    const standard = compilePolicies({}, { bodyLimit: 4 * 1024 * 1024 }).get('standard')!;
    for (const value of [Buffer.from('67108863'), [67108863], [Buffer.from('32M')]]) {
      const request = call('network.xmlrpc.size_limit.set', '', value);
      assert.equal(standard.check(request).allowed, true);
      assert.deepEqual(standard.prepare(request).params[1], { kind: 'i8', value: 4n * 1024n * 1024n });
    }
  });

  test('a full user\'s call is sent as it came', () => {
    const full = compilePolicies({}, { bodyLimit: 4 * 1024 * 1024 }).get('full')!;
    const request = call('network.xmlrpc.size_limit.set', '', '32M');
    assert.equal(full.prepare(request), request);
  });
});

describe('structs are only accepted as system.multicall members', () => {
  table([
    ['a struct parameter to a getter', 'readonly', call('d.name', H, { struct: [['a', 'b']] }), false],
    ['a struct inside an array parameter', 'standard', call('d.custom1.set', H, [{ struct: [['a', 'b']] }]), false],
  ]);
});

describe('methods for logging', () => {
  test('list system.multicall members in order, also when refused', () => {
    const members = ['d.name', 'd.hash', 'execute.throw'].map((name) => ({
      kind: 'struct' as const,
      members: new Map<string, XmlRpcValue>([['methodName', { kind: 'string', value: name }], ['params', { kind: 'array', items: [{ kind: 'string', value: '' }] }]]),
    }));
    const verdict = policies.get('readonly')!.check({ methodName: 'system.multicall', params: [{ kind: 'array', items: members }] });
    assert.deepEqual(verdict.methods, ['system.multicall', 'd.name', 'd.hash', 'execute.throw']);
  });
});

describe('deeply nested arrays', () => {
  test('are refused instead of being walked', () => {
    let nested: XmlRpcValue = { kind: 'string', value: 'execute.throw=sh' };
    for (let i = 0; i < 100000; i++) nested = { kind: 'array', items: [nested] };
    const verdict = policies.get('standard')!.check({ methodName: 'branch', params: [{ kind: 'string', value: '' }, nested] });
    assert.equal(verdict.allowed, false);
  });
});
