/**
 * rtorrent's private commands (registered without flag_public_rpc): XML-RPC does not define them,
 * JSON-RPC on 0.16.20 and older runs them. Only `full` may call them directly; every other policy
 * refuses them at the top level, as system.multicall members and as JSON-RPC batch elements, with
 * the same verdict over both protocols. Command strings that name them are judged as before.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decideCall, decideJsonRpcCall, type Caller } from '../../src/call-decision.js';
import { BUILTIN_POLICY_NAMES, compilePolicies, type CompiledPolicy } from '../../src/policy/index.js';
import { isKnownCommand } from '../../src/policy/command-names.js';
import { PRIVATE_IN_0_16_20 } from '../../src/policy/private-commands.data.js';
import { isPrivateCommand, PRIVATE_COMMANDS, privateCommandReason } from '../../src/policy/private-commands.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { call, multicall } from '../helpers/call-tree.js';

const H = 'DD8255ECDC7CA55FB0BBF81323D87062DB1F6D1C';
const MAGNET = 'magnet:?xt=urn:btih:dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c&dn=ubuntu';
const policies = compilePolicies({
  // An operator's "everything but shutting down": the private alias must not get round the deny.
  'almost-full': { extends: 'full', deny: ['system.shutdown.normal', 'system.shutdown.quick', 'network.scgi.open_local'] },
  'with-private': { extends: 'standard', allow: ['d.state.set', 'argument.0'] },
});
const policy = (name: string): CompiledPolicy => policies.get(name)!;
const RESTRICTED = [...BUILTIN_POLICY_NAMES.filter((name) => name !== 'full'), 'almost-full', 'with-private'];

/** A direct call of each private name, with the parameters rtorrent would take. */
function directCall(name: string) {
  if (name.startsWith('d.')) return call(name, H, name.includes('timestamp') || /state|complete|hashing|mode/.test(name) ? 1 : 'seed');
  if (name === 'scgi_local') return call(name, '', '/tmp/elsewhere.socket');
  if (name === 'scgi_port' || name === 'port_range') return call(name, '', '127.0.0.1:5000');
  return call(name, '');
}

function jsonBody(name: string, params: unknown[], id = 1): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: name, params }));
}

function jsonNotification(name: string, params: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: name, params }));
}

function jsonParams(name: string): unknown[] {
  return directCall(name).params.map((param) => (param.kind === 'i4' ? param.value : param.kind === 'string' ? param.value : null));
}

describe('the list of private names', () => {
  test('holds the 25 names rtorrent 0.16.20 registers without flag_public_rpc, each once', () => {
    assert.equal(PRIVATE_IN_0_16_20.length, 25);
    assert.equal(PRIVATE_COMMANDS.size, 25);
    assert.deepEqual([...PRIVATE_IN_0_16_20].sort(), [...PRIVATE_IN_0_16_20]);
    for (const name of ['scgi_local', 'scgi_port', 'port_range', 'system.shutdown', 'argument.0', 'd.state.set', 'd.connection_seed.set', 'd.timestamp.started.set_if_z']) {
      assert.ok(isPrivateCommand(name), name);
    }
  });

  test('leaves out the public commands they alias or sit beside', () => {
    for (const name of ['network.scgi.open_local', 'network.scgi.open_port', 'network.listen.port.range.set', 'system.shutdown.normal', 'd.state', 'd.connection_seed', 'd.custom1.set', 'd.tied_to_file.set', 'd.ignore_commands.set', 'd.timestamp.started', 'execute', 'schedule']) {
      assert.equal(isPrivateCommand(name), false, name);
      assert.equal(privateCommandReason(name), null, name);
    }
  });

  test('names only commands a policy may name, so command strings can still be allowed to use them', () => {
    assert.deepEqual(PRIVATE_IN_0_16_20.filter((name) => !isKnownCommand(name)), []);
  });

  const tarball = join(import.meta.dirname, '..', '..', 'vendor', 'rtorrent', 'rtorrent-v0.16.20.tar.gz');
  test('is exactly what the registrations in the 0.16.20 sources leave private', { skip: !existsSync(tarball) && 'vendor/rtorrent/rtorrent-v0.16.20.tar.gz is not in this checkout' }, () => {
    const read = (pattern: string): string => execFileSync('tar', ['-xzOf', tarball, '--wildcards', pattern], { maxBuffer: 64 * 1024 * 1024 }).toString('utf8');
    const sources = read('*/src/*.cc');
    // A macro that registers without the flag and that the extraction below does not know would
    // make the list incomplete; command_helpers.h defines the shared ones, the .cc files their own.
    const definitions = [...`${read('*/src/command_helpers.h')}\n${sources}`.matchAll(/#define\s+(\w+)\(([^)]*)\)((?:[^\n]*\\\n)*[^\n]*)/g)];
    const registersPrivately = definitions
      .filter(([, , , body]) => /CMD2_A_FUNCTION_PRIVATE|_P\(|_NO_EXPORT\(/.test(body!) || (/create_redirect/.test(body!) && !/flag_public_rpc/.test(body!)))
      .map(([, name]) => name!);
    const DIRECT = ['CMD_ANY_P', 'CMD2_ANY_P', 'CMD2_DL_VALUE_P', 'CMD2_DL_STRING_P', 'CMD2_A_FUNCTION_PRIVATE', 'CMD_REDIRECT_NO_EXPORT', 'CMD2_REDIRECT_NO_EXPORT', 'CMD2_REDIRECT_STR_NO_EXPORT'];
    const SETTERS: Record<string, readonly string[]> = { CMD2_DL_VAR_VALUE: ['.set'], CMD2_DL_VAR_STRING: ['.set'], CMD2_DL_TIMESTAMP: ['.set', '.set_if_z'] };
    assert.deepEqual(registersPrivately.filter((name) => !DIRECT.includes(name) && !(name in SETTERS)), []);

    const found = new Set<string>();
    for (const [, macro, key] of sources.matchAll(/^\s*(\w+)\s*\(\s*"([^"]+)"/gm)) {
      if (DIRECT.includes(macro!)) found.add(key!);
      for (const suffix of SETTERS[macro!] ?? []) found.add(key! + suffix);
    }
    assert.deepEqual([...found].sort(), [...PRIVATE_IN_0_16_20]);
  });
});

describe('a direct call of a private command', () => {
  for (const name of PRIVATE_IN_0_16_20) {
    test(`${name} is refused by every policy but full, over XML-RPC and JSON-RPC alike`, () => {
      for (const policyName of RESTRICTED) {
        const verdict = policy(policyName).check(directCall(name));
        assert.equal(verdict.allowed, false, policyName);
        if (!verdict.allowed) {
          assert.equal(verdict.method, name);
          assert.match(verdict.reason, /is private in rtorrent: XML-RPC does not define it, but JSON-RPC on 0\.16\.20 and older runs it/);
        }
      }
      assert.equal(policy('full').check(directCall(name)).allowed, true);
    });
  }

  test('the refusal names the method, the user and the policy, as a JSON-RPC error and as an XML-RPC fault', () => {
    const caller: Caller = { user: 'app', policy: policy('standard') };
    const xml = decideCall(encodeMethodCall(directCall('d.state.set')), caller);
    const json = decideJsonRpcCall(jsonBody('d.state.set', [H, 1], 9), caller);
    for (const decision of [xml, json]) {
      assert.equal(decision.kind, 'refuse');
      if (decision.kind !== 'refuse') return;
      assert.equal(decision.outcome, 'denied');
      assert.equal(decision.error.code, 'GW_POLICY_DENIED');
      assert.match(decision.error.message, /^denied by the gateway: d\.state\.set is not allowed for user "app" \(policy "standard"\): d\.state\.set is private in rtorrent/);
    }
    assert.equal(json.kind === 'refuse' && json.error.message, xml.kind === 'refuse' && xml.error.message);
    const answer = JSON.parse((json.kind === 'refuse' && json.jsonBody?.toString()) || '{}') as { id: number; error: { code: number; message: string } };
    assert.equal(answer.id, 9);
    assert.equal(answer.error.code, -32403);
  });

  test('is refused inside a system.multicall and inside a JSON-RPC batch, refusing the whole request', () => {
    const standard = policy('standard');
    const members = multicall(call('d.name', H), call('d.connection_seed.set', H, 'initial_seed'), call('d.priority.set', H, 2));
    const verdict = standard.check(members);
    assert.equal(verdict.allowed, false);
    if (!verdict.allowed) {
      assert.equal(verdict.method, 'd.connection_seed.set');
      assert.match(verdict.reason, /^system\.multicall call 2 \(d\.connection_seed\.set\): d\.connection_seed\.set is private in rtorrent/);
    }
    const batch = Buffer.from(`[${[jsonBody('d.name', [H], 1), jsonNotification('system.shutdown', ['']), jsonBody('d.priority.set', [H, 2], 3)].join(',')}]`);
    const decision = decideJsonRpcCall(batch, { user: 'app', policy: standard });
    assert.equal(decision.kind, 'refuse');
    const answers = JSON.parse((decision.kind === 'refuse' && decision.jsonBody?.toString()) || '[]') as Array<{ id: number; error: { message: string } }>;
    assert.deepEqual(answers.map((answer) => answer.id), [1, 3]);
    for (const answer of answers) assert.match(answer.error.message, /batch call 2 \(system\.shutdown\) was refused: .*system\.shutdown is private in rtorrent/);
  });

  test('a JSON-RPC notification of one is refused with nothing to answer', () => {
    const decision = decideJsonRpcCall(jsonNotification('scgi_local', ['', '/tmp/elsewhere.socket']), { user: 'app', policy: policy('standard') });
    assert.equal(decision.kind, 'refuse');
    assert.equal(decision.kind === 'refuse' && decision.jsonBody, null);
  });

  test('full passes every one of them on, singly and in a batch', () => {
    const caller: Caller = { user: 'admin', policy: policy('full') };
    for (const name of PRIVATE_IN_0_16_20) {
      assert.equal(decideJsonRpcCall(jsonBody(name, jsonParams(name)), caller).kind, 'forward', name);
      assert.equal(decideCall(encodeMethodCall(directCall(name)), caller).kind, 'forward', name);
    }
    const batch = Buffer.from(`[${PRIVATE_IN_0_16_20.map((name, index) => jsonBody(name, jsonParams(name), index)).join(',')}]`);
    assert.equal(decideJsonRpcCall(batch, caller).kind, 'forward');
  });
});

describe('command strings that name a private command are judged as before', () => {
  test('a load with a trailing d.connection_seed.set (Flood\'s initial seeding) is allowed for standard', () => {
    assert.equal(policy('standard').check(call('load.start', '', MAGNET, 'd.connection_seed.set=initial_seed')).allowed, true);
  });

  test('ruTorrent\'s super-seeding branch, which sets it in a command string, is allowed for standard', () => {
    const verdict = policy('standard').check(call('branch', H, 'd.is_active=', 'cat=$d.stop=,$d.close=,$d.connection_seed.set=initial_seed,$d.open=,$d.start=', 'd.connection_seed.set=initial_seed'));
    assert.equal(verdict.allowed, true, verdict.allowed ? '' : verdict.reason);
  });

  test('a command string the policy does not allow is still refused for what it names', () => {
    const verdict = policy('standard').check(call('d.multicall2', '', 'main', 'd.state.set=0'));
    assert.equal(verdict.allowed, false);
    if (!verdict.allowed) assert.doesNotMatch(verdict.reason, /is private in rtorrent/);
  });
});
