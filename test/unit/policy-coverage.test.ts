/**
 * Every command name has a deliberate verdict in every built-in policy. The checked-in groups of
 * command-verdicts.ts say which built-ins allow each name; the compiled policies must agree with
 * them name by name, and no built-in but full may reach a command that runs programs, writes files,
 * stores code or reconfigures rtorrent, however it is called.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FROM_0_16_20_LISTMETHODS } from '../../src/policy/command-names.data.js';
import { isKnownCommand, KNOWN_COMMANDS } from '../../src/policy/command-names.js';
import { BUILTIN_POLICY_NAMES, compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { ALLOWED_BY, builtinVerdicts, CLASSIFIED_POLICIES, dangerWhy, VERDICT_GROUPS } from '../helpers/command-verdicts.js';

const H = '0123456789ABCDEF0123456789ABCDEF01234567';
const MAGNET = `magnet:?xt=urn:btih:${H}`;
const policies = compilePolicies({});
const allows = builtinVerdicts();
const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const call = (methodName: string, ...params: string[]): MethodCall => ({ methodName, params: params.map(str) });
const multicall = (methodName: string, ...params: string[]): MethodCall => {
  const member = new Map<string, XmlRpcValue>([['methodName', str(methodName)], ['params', { kind: 'array', items: params.map(str) }]]);
  return { methodName: 'system.multicall', params: [{ kind: 'array', items: [{ kind: 'struct', members: member }] }] };
};

describe('the verdict groups', () => {
  test('cover every built-in policy but full', () => {
    assert.deepEqual([...CLASSIFIED_POLICIES].sort(), BUILTIN_POLICY_NAMES.filter((name) => name !== 'full').sort());
  });

  test('name each command once, and only commands the gateway knows', () => {
    const names = VERDICT_GROUPS.flatMap(([, group]) => group);
    assert.deepEqual(names.filter((name, index) => names.indexOf(name) !== index), []);
    assert.deepEqual(names.filter((name) => !isKnownCommand(name)), []);
  });

  test('place every name rtorrent 0.16.20 lists that the older data lists miss', () => {
    assert.deepEqual(FROM_0_16_20_LISTMETHODS.filter((name) => !ALLOWED_BY.has(name)), []);
  });
});

describe('each built-in policy but full', () => {
  // Both directions: a name a policy reaches that its groups do not give it is an accident in
  // builtin.ts, and a name its groups give it that it refuses is a decision that was lost.
  for (const policy of CLASSIFIED_POLICIES) {
    test(`${policy} reaches exactly the names the groups give it, and refuses every other known name`, () => {
      const unexpected: string[] = [];
      const missing: string[] = [];
      for (const name of new Set([...KNOWN_COMMANDS, ...ALLOWED_BY.keys()])) {
        const expected = ALLOWED_BY.get(name)?.has(policy) ?? false;
        const actual = allows(policy, name);
        if (actual && !expected) unexpected.push(name);
        if (!actual && expected) missing.push(name);
      }
      assert.deepEqual({ unexpected, missing }, { unexpected: [], missing: [] });
    });
  }
});

describe('commands that run programs, touch files or reconfigure rtorrent', () => {
  const dangerous = [...KNOWN_COMMANDS].filter((name) => dangerWhy(name) !== undefined).sort();

  test('include every name 0.16.20 and master added that runs programs or touches files', () => {
    const added = [
      'lua.execute', 'lua.execute.str', 'log.print', 'log.open_file.flush', 'log.append_file', 'log.append_file.flush',
      'log.append_gz_file', 'log.rpc', 'network.scgi.open_systemd', 'network.scgi.use_gzip.set',
      'network.scgi.gzip.min_size.set', 'network.rpc.use_xmlrpc.set', 'network.rpc.use_jsonrpc.set', 'directory.watch.ready',
      'schedule.if_absent', 'schedule.remove', 'network.proxy.global.set', 'network.proxy.http.set', 'magnet.path.set',
    ];
    for (const name of added) {
      assert.ok(isKnownCommand(name), `${name} is not a known command`);
      assert.ok(dangerous.includes(name), `${name} is not treated as dangerous`);
    }
  });

  test('are refused by every built-in policy but full: at the top level, in a system.multicall and in a command string', () => {
    const reached: string[] = [];
    for (const policy of CLASSIFIED_POLICIES) {
      const compiled = policies.get(policy)!;
      for (const name of dangerous) {
        const shapes = [
          call(name),
          call(name, '', '/tmp/x'),
          multicall(name, '', '/tmp/x'),
          call('d.multicall2', '', 'main', `${name}=/tmp/x`),
          call('branch', '', 'false=', '', `${name}=/tmp/x`),
        ];
        for (const shape of shapes) {
          if (compiled.check(shape).allowed) reached.push(`${policy}: ${name} (${dangerWhy(name)}) through ${shape.methodName}`);
        }
      }
    }
    assert.deepEqual(reached, []);
  });

  test('are in no group that a built-in allows', () => {
    assert.deepEqual(dangerous.filter((name) => (ALLOWED_BY.get(name)?.size ?? 0) > 0), []);
  });

  test('run for full, which forwards anything that parses', () => {
    for (const name of dangerous) assert.equal(policies.get('full')!.check(call(name, '', '/tmp/x')).allowed, true, name);
  });

  test('load.* is taken only as a constructor: a local file or a trailing command other than a fixed setter is refused', () => {
    for (const policy of CLASSIFIED_POLICIES) {
      const compiled = policies.get(policy)!;
      if (!allows(policy, 'load.start')) continue;
      assert.equal(compiled.check(call('load.start', '', MAGNET, 'd.custom1.set=tv')).allowed, true, policy);
      assert.equal(compiled.check(call('load.start', '', '/etc/passwd')).allowed, false, policy);
      assert.equal(compiled.check(call('load.start', '', 'file:///etc/passwd')).allowed, false, policy);
      for (const trailing of ['execute.throw=sh,-c,id', 'd.custom1.set=$execute.capture=id', 'log.rpc=/tmp/x', 'd.directory.set=/root']) {
        assert.equal(compiled.check(call('load.start', '', MAGNET, trailing)).allowed, false, `${policy}: ${trailing}`);
      }
    }
  });
});
