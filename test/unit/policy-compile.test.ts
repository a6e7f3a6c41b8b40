import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { BUILTIN_DEFINITIONS, LOAD_TRAILING_COMMANDS } from '../../src/policy/builtin.js';
import { RTORRENT_0_9_8, RTORRENT_MASTER } from '../../src/policy/command-names.data.js';
import { isKnownCommand, KNOWN_COMMANDS } from '../../src/policy/command-names.js';
import { EVALUATORS } from '../../src/policy/evaluators.js';
import { BUILTIN_POLICY_NAMES, compilePolicies, type PolicyDefinition } from '../../src/policy/index.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';

const H = '0123456789ABCDEF0123456789ABCDEF01234567';
const call = (methodName: string, ...params: string[]): MethodCall => ({
  methodName,
  params: params.map((value) => ({ kind: 'string', value })),
});

function compileError(custom: Record<string, unknown>, opts?: { bodyLimit?: number }): string {
  try {
    compilePolicies(custom as Record<string, PolicyDefinition>, opts);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'GW_CONFIG_INVALID');
    return error.message;
  }
  assert.fail('expected compilePolicies to throw');
}

describe('built-in policies', () => {
  test('are exactly full, standard, readonly, arr, mobile, autobrr, monitoring, flood, rutorrent and tenant', () => {
    assert.deepEqual([...BUILTIN_POLICY_NAMES].sort(), ['arr', 'autobrr', 'flood', 'full', 'mobile', 'monitoring', 'readonly', 'rutorrent', 'standard', 'tenant']);
    assert.deepEqual([...compilePolicies({}).keys()].sort(), [...BUILTIN_POLICY_NAMES].sort());
  });

  test('name only commands rtorrent knows', () => {
    for (const [name, definition] of BUILTIN_DEFINITIONS) {
      for (const command of definition.allow ?? []) assert.ok(isKnownCommand(command), `${name} allows unknown ${command}`);
    }
    for (const command of [...LOAD_TRAILING_COMMANDS, ...EVALUATORS.keys()]) assert.ok(isKnownCommand(command), command);
  });

  test('never allow anything that executes, writes files, defines code or changes rpc, network or paths', () => {
    const forbidden =
      /^(execute|lua\.|method\.|schedule|import$|try_import$|log\.|file\.append|fs\.|event\.|try$|catch$|p\.call_target$|d\.(create_link|delete_link)$|ip_tables|ipv4_filter|argument\.|on_ratio$|group\.insert|ratio\.(enable|disable)$|view\.(filter|sort|event|add|persistent)|directory\.watch|system\.(env|cwd|umask|shutdown|daemon\.set)|network\.scgi\.open|session\.save)/;
    // settings of the RPC listener, the network, TLS, proxies and paths
    const forbiddenSetter = /^(network|session|directory|dht|protocol|system)\..*\.set$/;
    for (const [name, definition] of BUILTIN_DEFINITIONS) {
      for (const command of definition.allow ?? []) {
        if (command === 'network.xmlrpc.size_limit.set') continue; // bounded by the body limit, see policy-arguments
        assert.doesNotMatch(command, forbidden, `${name} allows ${command}`);
        assert.doesNotMatch(command, forbiddenSetter, `${name} allows ${command}`);
      }
    }
  });

  test('readonly allows no setter, action or load', () => {
    const readonly = BUILTIN_DEFINITIONS.get('readonly')!.allow!;
    for (const command of readonly) {
      assert.doesNotMatch(command, /\.set($|_)|^load\.|^d\.(start|stop|open|close|erase|pause|resume|check_hash|delete_tied|save)/, command);
    }
  });
});

describe('the command-name data', () => {
  const candidates = [
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/docs/data'),
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/docs/data'),
    '/work/shared/docs/data',
  ];
  const dataDir = candidates.find((dir) => existsSync(path.join(dir, 'rtorrent-master-commands.txt')));
  const read = (file: string) => readFileSync(path.join(dataDir!, file), 'utf8').split('\n').map((line) => line.trim()).filter(Boolean);

  test('matches the shared 0.9.8 and master lists', { skip: dataDir === undefined && 'shared/docs/data is not beside this checkout' }, () => {
    assert.deepEqual([...RTORRENT_0_9_8], read('rtorrent-0.9.8-commands.txt').filter((name) => name !== 'group.'));
    assert.deepEqual([...RTORRENT_MASTER], read('rtorrent-master-commands.txt'));
  });

  test('covers rtorrent own untrusted-safe names', { skip: dataDir === undefined && 'shared/docs/data is not beside this checkout' }, () => {
    const safe = read('rtorrent-untrusted-safe-names.txt').filter((name) => /^[a-z][a-z0-9_.]*[a-z0-9_]$/.test(name));
    const missing = safe.filter((name) => !KNOWN_COMMANDS.has(name));
    assert.deepEqual(missing, []);
  });

  test('includes the names real clients send that the extracted lists miss', () => {
    for (const name of ['d.custom1.set', 'd.tied_to_file.set', 'throttle.max_peers.normal.set', 'system.multicall', 'd.connection_seed.set', 'system.sockets.http.max_alloc.set', 'd.down.sequential.set', 'load.start_throw']) {
      assert.ok(isKnownCommand(name), name);
    }
  });
});

describe('custom policies', () => {
  test('extend a built-in and add commands', () => {
    const policies = compilePolicies({ ops: { extends: 'readonly', allow: ['d.start', 'd.stop'] } });
    const ops = policies.get('ops')!;
    assert.equal(ops.name, 'ops');
    assert.equal(ops.check(call('d.start', H)).allowed, true);
    assert.equal(ops.check(call('d.erase', H)).allowed, false);
    assert.equal(ops.check(call('d.multicall2', '', 'main', 'd.stop=')).allowed, true);
  });

  test('deny wins over allow, at the top level and inside command strings', () => {
    const policies = compilePolicies({ noerase: { extends: 'standard', allow: ['d.erase'], deny: ['d.erase'] } });
    const noerase = policies.get('noerase')!;
    assert.equal(noerase.check(call('d.erase', H)).allowed, false);
    const nested = noerase.check(call('d.multicall2', '', 'main', 'd.erase='));
    assert.equal(nested.allowed, false);
    assert.equal(nested.allowed ? '' : nested.method, 'd.erase');
  });

  test('a deny also removes a command from what may follow a load', () => {
    const policies = compilePolicies({ nolabels: { extends: 'standard', deny: ['d.custom1.set'] } });
    assert.equal(policies.get('nolabels')!.check(call('load.start', '', 'magnet:?xt=1', 'd.custom1.set=x')).allowed, false);
  });

  test('a child may re-allow what its parent denied', () => {
    const policies = compilePolicies({ a: { extends: 'standard', deny: ['d.erase'] }, b: { extends: 'a', allow: ['d.erase'] } });
    assert.equal(policies.get('a')!.check(call('d.erase', H)).allowed, false);
    assert.equal(policies.get('b')!.check(call('d.erase', H)).allowed, true);
  });

  test('chains of extends resolve in any order', () => {
    const policies = compilePolicies({ c: { extends: 'b', allow: ['d.erase'] }, b: { extends: 'a' }, a: { extends: 'readonly' } });
    assert.equal(policies.get('c')!.check(call('d.erase', H)).allowed, true);
    assert.equal(policies.get('c')!.check(call('d.name', H)).allowed, true);
  });

  test('a policy built on full with a deny list inspects command strings', () => {
    const policies = compilePolicies({ admin: { extends: 'full', deny: ['execute.throw'] } });
    const admin = policies.get('admin')!;
    assert.equal(admin.check(call('import', '', '/etc/rc')).allowed, true);
    assert.equal(admin.check(call('execute.throw', '', 'sh')).allowed, false);
    assert.equal(admin.check(call('d.multicall2', '', 'main', 'cat=$execute.throw=sh')).allowed, false);
    assert.equal(admin.check(call('d.multicall2', '', 'main', 'cat=$execute.nothrow=sh')).allowed, true);
  });

  test('inherit download roots and load sources, and may replace them', () => {
    const policies = compilePolicies({
      movies: { extends: 'standard', download_roots: ['/srv/movies/'], load_sources: ['magnet'] },
      kids: { extends: 'movies' },
      tv: { extends: 'movies', download_roots: ['/srv/tv'] },
    });
    assert.equal(policies.get('kids')!.check(call('d.directory.set', H, '/srv/movies/a')).allowed, true);
    assert.equal(policies.get('kids')!.check(call('load.start', '', 'https://x/y.torrent')).allowed, false);
    assert.equal(policies.get('tv')!.check(call('d.directory.set', H, '/srv/movies/a')).allowed, false);
    assert.equal(policies.get('tv')!.check(call('d.directory.set', H, '/srv/tv/a')).allowed, true);
  });
});

describe('configuration errors stop the gateway with the policy and the key', () => {
  const table: [string, Record<string, unknown>, string | RegExp][] = [
    ['an unknown command in allow', { foo: { allow: ['d.name', 'd.hash', 'd.size_bytes', 'd.nmae'] } }, 'policies.foo.allow[3]: unknown rtorrent command "d.nmae"'],
    ['an unknown command in deny', { foo: { deny: ['exec'] } }, 'policies.foo.deny[0]: unknown rtorrent command "exec"'],
    ['a prefix instead of a name', { foo: { allow: ['d.*'] } }, 'policies.foo.allow[0]: unknown rtorrent command "d.*"'],
    ['a name in the wrong case', { foo: { allow: ['D.name'] } }, 'policies.foo.allow[0]: unknown rtorrent command "D.name"'],
    ['an unknown parent', { foo: { extends: 'stadnard' } }, 'policies.foo.extends: unknown policy "stadnard"'],
    ['a cycle', { a: { extends: 'b' }, b: { extends: 'c' }, c: { extends: 'a' } }, /^policies\.a\.extends: cycle a -> b -> c -> a$/],
    ['a policy extending itself', { a: { extends: 'a' } }, 'policies.a.extends: cycle a -> a'],
    ['redefining a built-in', { standard: { allow: ['execute.throw'] } }, /^policies\.standard: "standard" is a built-in policy/],
    ['an unknown key', { foo: { alow: ['d.name'] } }, /^policies\.foo\.alow: unknown key/],
    ['allow that is not a list', { foo: { allow: 'd.name' } }, 'policies.foo.allow: must be a list of strings'],
    ['a definition that is not a table', { foo: 'standard' }, /^policies\.foo: must be a table/],
    ['a relative download root', { foo: { download_roots: ['srv'] } }, /^policies\.foo\.download_roots\[0\]: "srv" must be an absolute directory/],
    ['/ as a download root', { foo: { download_roots: ['/'] } }, /^policies\.foo\.download_roots\[0\]/],
    ['a download root with ..', { foo: { download_roots: ['/srv/../etc'] } }, /^policies\.foo\.download_roots\[0\]/],
    ['an unknown load source', { foo: { load_sources: ['magnet', 'gopher'] } }, /^policies\.foo\.load_sources\[1\]: unknown load source "gopher"/],
    ['local files without roots', { foo: { load_sources: ['file'] } }, 'policies.foo.load_sources: "file" needs download_roots to confine the paths'],
    ['an odd policy name', { 'a b': {} }, /^policies\.a b: a policy name/],
  ];
  for (const [what, custom, expected] of table) {
    test(`for ${what}`, () => {
      const message = compileError(custom);
      if (typeof expected === 'string') assert.equal(message, expected);
      else assert.match(message, expected);
    });
  }

  test('for a body limit that is not a size', () => {
    assert.match(compileError({}, { bodyLimit: 0 }), /^bodyLimit:/);
  });
});
