/**
 * rtorrent ≥ 0.16.9 refuses, on a connection marked UNTRUSTED_CONNECTION=1, every command off its
 * own safe list, nested ones included. The verdict says when a call may be sent that way, so a
 * scanner miss is still caught by rtorrent; calls that need a command off that list (load.*) must
 * go as trusted or the *arr apps break.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

const policies = compilePolicies({});
const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
const call = (methodName: string, ...params: string[]): MethodCall => ({ methodName, params: params.map(text) });

function untrustedSafe(policy: string, request: MethodCall): boolean {
  const verdict = policies.get(policy)?.check(request);
  assert.ok(verdict?.allowed, `${request.methodName} is allowed for ${policy}`);
  return verdict.allowed && verdict.untrustedSafe;
}

describe('marking calls for rtorrent\'s own untrusted mode', () => {
  test('a list call whose every command string is a safe getter may go untrusted', () => {
    assert.equal(untrustedSafe('standard', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=')), true);
    assert.equal(untrustedSafe('readonly', call('system.client_version', '')), true);
  });

  test('a system.multicall of safe getters may go untrusted (system.multicall itself is xmlrpc-c\'s, not a command)', () => {
    const members: XmlRpcValue = {
      kind: 'array',
      items: ['d.name', 'd.size_bytes'].map((name) => ({
        kind: 'struct' as const,
        members: new Map<string, XmlRpcValue>([
          ['methodName', text(name)],
          ['params', { kind: 'array', items: [text('')] }],
        ]),
      })),
    };
    assert.equal(untrustedSafe('standard', { methodName: 'system.multicall', params: [members] }), true);
  });

  test('a load with a label must go trusted: load.* is off rtorrent\'s safe list on purpose', () => {
    assert.equal(untrustedSafe('standard', call('load.start', '', 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567', 'd.custom1.set=tv')), false);
  });

  test('a call from a full user always goes trusted', () => {
    assert.equal(untrustedSafe('full', call('d.name', '')), false);
  });
});
