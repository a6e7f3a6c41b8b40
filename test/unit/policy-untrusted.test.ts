/**
 * rtorrent ≥ 0.16.9 refuses, on a connection marked UNTRUSTED_CONNECTION=1, every command off its
 * own safe list, nested ones included. The verdict says to which releases a call may be sent that
 * way, so a scanner miss is still caught by rtorrent; calls that need a command off the list of the
 * release that answers (load.*, or d.complete before 0.16.16) must go as trusted or the *arr apps break.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicies } from '../../src/policy/index.js';
import { acceptsUntrusted, intersectWindows, type SafeWindow } from '../../src/policy/untrusted.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

const policies = compilePolicies({});
const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
const call = (methodName: string, ...params: string[]): MethodCall => ({ methodName, params: params.map(text) });

function untrusted(policy: string, request: MethodCall): SafeWindow | undefined {
  const verdict = policies.get(policy)?.check(request);
  assert.ok(verdict?.allowed, `${request.methodName} is allowed for ${policy}`);
  return verdict.allowed ? verdict.untrusted : undefined;
}

/** The releases of the window among those that mark anything safe. */
function releases(window: SafeWindow | undefined): string[] {
  return Array.from({ length: 14 }, (_, i) => `0.16.${i + 7}`).filter((version) => acceptsUntrusted(window, version));
}

describe("marking calls for rtorrent's own untrusted mode", () => {
  test('a list of getters every release has marked safe may go untrusted to 0.16.9 and later, not to 0.9.8', () => {
    const window = untrusted('standard', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.size_bytes='));
    assert.deepEqual(window, { from: '0.16.9' });
    assert.equal(acceptsUntrusted(window, '0.9.8'), false);
    assert.equal(acceptsUntrusted(window, '0.16.8'), false);
    assert.equal(acceptsUntrusted(window, '0.16.9'), true);
    assert.equal(acceptsUntrusted(window, '0.17.0'), true);
    assert.deepEqual(untrusted('readonly', call('system.client_version', '')), { from: '0.16.9' });
  });

  test("Sonarr's list with d.complete goes untrusted only to 0.16.16 and later, which marked d.complete safe", () => {
    const window = untrusted('arr', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.complete=', 'd.size_bytes='));
    assert.deepEqual(window, { from: '0.16.16' });
    assert.deepEqual(releases(window), ['0.16.16', '0.16.17', '0.16.18', '0.16.19', '0.16.20']);
    assert.equal(acceptsUntrusted(window, '0.16.12'), false);
  });

  test('d.timestamp.started arrived on the list in 0.16.19; encoded names in 0.16.13', () => {
    assert.deepEqual(untrusted('readonly', call('d.timestamp.started', '0123456789ABCDEF0123456789ABCDEF01234567')), { from: '0.16.19' });
    assert.deepEqual(untrusted('readonly', call('d.name.base64', '0123456789ABCDEF0123456789ABCDEF01234567')), { from: '0.16.13' });
  });

  test('a name rtorrent stopped marking safe bounds the window from above', () => {
    const window = untrusted('readonly', call('network.proxy_address', ''));
    assert.deepEqual(window, { from: '0.16.9', to: '0.16.15' });
    assert.deepEqual(releases(window), ['0.16.9', '0.16.10', '0.16.11', '0.16.12', '0.16.13', '0.16.14', '0.16.15']);
    assert.equal(intersectWindows(window, { from: '0.16.16' }), undefined);
  });

  test("a system.multicall of safe getters may go untrusted (system.multicall itself is xmlrpc-c's, not a command)", () => {
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
    assert.deepEqual(untrusted('standard', { methodName: 'system.multicall', params: [members] }), { from: '0.16.9' });
  });

  test("a load with a label must go trusted: load.* is off rtorrent's safe list on purpose", () => {
    assert.equal(untrusted('standard', call('load.start', '', 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567', 'd.custom1.set=tv')), undefined);
  });

  test('a call from a full user always goes trusted', () => {
    assert.equal(untrusted('full', call('d.name', '')), undefined);
  });

  test('an unknown or unreadable release gets nothing untrusted', () => {
    assert.equal(acceptsUntrusted({ from: '0.16.9' }, undefined), false);
    assert.equal(acceptsUntrusted({ from: '0.16.9' }, 'jesec'), false);
    assert.equal(acceptsUntrusted({ from: '0.16.9' }, '0.16.20-12-g3ae91b65'), true);
  });
});
