/** Which calls make the gateway forget the torrent owners it has learned (upstream/owners.ts). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decideCall } from '../../src/call-decision.js';
import { compilePolicies } from '../../src/policy/index.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, multicall } from '../helpers/call-tree.js';

const H = '0123456789ABCDEF0123456789ABCDEF01234567';
const policies = compilePolicies({});
const standard = { user: 'ops', policy: policies.get('standard')! };

function changesOwners(sent: MethodCall): boolean {
  const decision = decideCall(encodeMethodCall(sent), standard);
  assert.equal(decision.kind, 'forward', decision.kind === 'refuse' ? decision.error.message : '');
  return decision.kind === 'forward' && decision.changesOwners;
}

it('an owner change is seen wherever it stands: top level, system.multicall, a command string', () => {
  assert.equal(changesOwners(call('d.custom.set', H, 'gateway.owner', 'bob')), true);
  assert.equal(changesOwners(multicall(call('d.name', H), call('d.erase', H))), true);
  assert.equal(changesOwners(call('d.multicall2', '', 'main', 'd.custom.set=gateway.owner,bob')), true);
  assert.equal(changesOwners(call('d.multicall2', '', 'main', 'd.hash=', 'd.name=')), false);
  assert.equal(changesOwners(call('d.name', H)), false);
});
