import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { costRefusal, decideCall, decideJsonRpcCall } from '../../src/call-decision.js';
import { ConfigError } from '../../src/errors.js';
import { compilePolicies } from '../../src/policy/index.js';
import type { FanOutSizes } from '../../src/policy/cost-estimate.js';
import type { CompiledPolicy, PolicyVerdict } from '../../src/policy/types.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { RUTORRENT_LIST } from '../helpers/client-calls.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const policies = compilePolicies({
  'files-in-rows': { extends: 'readonly', row_multicalls: ['t.multicall', 'f.multicall'] },
  'no-row-multicalls': { extends: 'readonly', row_multicalls: [] },
  small: { extends: 'readonly', max_answer_cells: 1000 },
  'small-child': { extends: 'small' },
  admin: { extends: 'full', deny: ['execute.throw'] },
  regex: { extends: 'readonly', allow: ['match'] },
});
const policy = (name: string): CompiledPolicy => policies.get(name)!;
const NOT_FULL = ['standard', 'readonly', 'flood', 'rutorrent', 'mobile', 'monitoring', 'arr', 'autobrr'];
const HASH = '0123456789ABCDEF0123456789ABCDEF01234567';
const SIZES: FanOutSizes = { torrents: 1000, files: 20, trackers: 3, peers: 50, chunks: 4096 };

const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
const call = (methodName: string, ...args: string[]): MethodCall => ({ methodName, params: args.map(text) });
const multicall = (...calls: MethodCall[]): MethodCall => ({
  methodName: 'system.multicall',
  params: [
    {
      kind: 'array',
      items: calls.map((member) => ({
        kind: 'struct',
        members: new Map<string, XmlRpcValue>([
          ['methodName', text(member.methodName)],
          ['params', { kind: 'array', items: member.params }],
        ]),
      })),
    },
  ],
});

function cells(verdict: PolicyVerdict, sizes: FanOutSizes = SIZES): number {
  assert.ok(verdict.allowed, verdict.allowed ? '' : verdict.reason);
  assert.ok(verdict.cost);
  return verdict.cost.cells(sizes);
}

function refusedForCost(verdict: PolicyVerdict, pattern: RegExp): void {
  assert.equal(verdict.allowed, false, 'allowed');
  if (verdict.allowed) return;
  assert.equal(verdict.costly, true, `refused, but not for its cost: ${verdict.reason}`);
  assert.match(verdict.reason, pattern);
}

describe('the estimated answer: rows × columns', () => {
  test("ruTorrent's list costs its columns once per torrent, and its tracker column once per tracker of each torrent", () => {
    const verdict = policy('readonly').check(call('d.multicall2', '', 'main', ...RUTORRENT_LIST));
    // 38 columns (numbers 1 cell, the hash 2, names, paths and labels 4), the t.multicall column's
    // own call and its literal first argument, plus (t.scrape_complete= and cat={#}) per tracker,
    // plus the request and the call themselves.
    assert.equal(cells(verdict, { ...SIZES, trackers: 0 }), 2 + 60 * 1000);
    assert.equal(cells(verdict), 2 + 60 * 1000 + 3 * 1000 * 3);
    assert.match(verdict.allowed ? (verdict.cost?.describe(SIZES) ?? '') : '', /60 per torrent \(× 1000 torrents\)/);
  });

  test('a per-torrent list costs its columns once per file, tracker or peer', () => {
    assert.equal(cells(policy('readonly').check(call('f.multicall', HASH, '', 'f.path=', 'f.size_bytes='))), 2 + (4 + 1) * 20);
    assert.equal(cells(policy('readonly').check(call('t.multicall', HASH, '', 't.url='))), 2 + 4 * 3);
    assert.equal(cells(policy('readonly').check(call('p.multicall', HASH, '', 'p.address=', 'p.port='))), 2 + (4 + 1) * 50);
  });

  test('a value counts by its size: a number one cell, a hash two, a name or path four', () => {
    const perTorrent = (column: string): number => cells(policy('readonly').check(call('d.multicall2', '', 'main', column)), { ...SIZES, torrents: 1 }) - 2;
    assert.deepEqual(['d.size_bytes=', 'd.hash=', 'd.name=', 'd.base_path=', 'd.tied_to_file=', 'd.custom1=', 'd.custom=addtime'].map(perTorrent), [1, 2, 4, 4, 4, 4, 5]);
  });

  test('the members of a system.multicall add up', () => {
    const one = call('d.multicall2', '', 'main', 'd.hash=');
    assert.equal(cells(policy('readonly').check(multicall(one, one, one))), 1 + 3 * (1 + 2 * 1000));
  });

  test('values that grow with the data count as more than one: the torrent list, a bitfield, echoed literal text', () => {
    assert.equal(cells(policy('readonly').check(call('download_list', ''))), 2 + 2 * 1000);
    assert.equal(cells(policy('readonly').check(call('d.multicall2', '', 'main', 'download_list='))), 2 + 1000 + 2 * 1000 * 1000);
    assert.equal(cells(policy('readonly').check(call('d.bitfield', HASH))), 2 + 4096 / 128);
    assert.equal(cells(policy('readonly').check(call('d.multicall2', '', 'main', `cat=${'x'.repeat(3200)}`))), 2 + 101 * 1000);
  });

  test('code run by evaluators at the top level is counted where it runs', () => {
    assert.equal(cells(policy('readonly').check(call('branch', '', 'd.hash=', 'd.multicall2=main,d.hash='))), 2 + 2 + 2 + 2 * 1000);
  });

  test('a call without lists needs no sizes from rtorrent', () => {
    const verdict = policy('standard').check(call('d.custom1.set', HASH, 'tv'));
    assert.ok(verdict.allowed && verdict.cost !== undefined && !verdict.cost.needsSizes);
  });

  test('full and the policies built on it are not cost-checked', () => {
    for (const name of ['full', 'admin']) {
      const verdict = policy(name).check(call('d.multicall2', '', 'main', 'd.multicall2=main,d.hash='));
      assert.ok(verdict.allowed, name);
      assert.equal(verdict.cost, undefined);
      assert.equal(policy(name).limits.maxAnswerCells, undefined);
    }
  });
});

describe('shapes refused for what they would cost, whatever they run', () => {
  const nested = [
    ['a d.multicall2 row that is a d.multicall2', 'd.multicall2=main,d.hash='],
    ['the same as an inline $…', 'cat="$d.multicall2=main,d.hash="'],
    ['the same as a quoted function that branch calls', 'branch=d.hash=,((d.multicall2,main,d.hash=))'],
    ['the same behind an evaluator', 'branch=d.hash=,"d.multicall2=main,d.hash="'],
    ['d.multicall.filtered in a row', 'd.multicall.filtered=main,d.is_open=,d.hash='],
    ['f.multicall in a t.multicall row inside a d row', 'cat="$t.multicall=d.hash=,\\"cat=\\\\\\"$f.multicall=,f.path=\\\\\\"\\""'],
  ] as const;
  for (const [what, row] of nested) {
    test(`${what} is refused for every built-in policy but full`, () => {
      for (const name of NOT_FULL) {
        const verdict = policy(name).check(call('d.multicall2', '', 'main', 'd.hash=', row));
        if (!verdict.allowed && !verdict.costly) continue; // the policy does not even allow the names
        refusedForCost(verdict, /inside a (multicall|d\.multicall) row/);
      }
      assert.ok(policy('full').check(call('d.multicall2', '', 'main', 'd.hash=', row)).allowed);
    });
  }

  test('a per-torrent multicall in a d.multicall row passes only where the policy lists it in row_multicalls', () => {
    const files = call('d.multicall2', '', 'main', 'cat="$f.multicall=,f.path="');
    refusedForCost(policy('readonly').check(files), /row_multicalls in a policy that extends "readonly"/);
    assert.equal(cells(policy('files-in-rows').check(files)), 2 + 1000 * 2 + 1000 * 20 * 4);
    refusedForCost(policy('no-row-multicalls').check(call('d.multicall2', '', 'main', 'cat="$t.multicall=d.hash=,t.url="')), /policies\.no-row-multicalls\.row_multicalls/);
  });

  test('f.multicall takes a pattern with one * and at most 64 characters; more is refused naming the key that raises it', () => {
    assert.ok(policy('readonly').check(call('f.multicall', HASH, '*.mkv', 'f.path=')).allowed);
    assert.ok(policy('readonly').check(call('f.multicall', HASH, '', 'f.path=')).allowed);
    refusedForCost(policy('readonly').check(call('f.multicall', HASH, '*a*', 'f.path=')), /2 '\*'.*limits\.max_pattern_wildcards/);
    refusedForCost(policy('readonly').check(call('f.multicall', HASH, '********', 'f.path=')), /limits\.max_pattern_wildcards/);
    refusedForCost(policy('readonly').check(call('f.multicall', HASH, 'a'.repeat(65), 'f.path=')), /65 characters.*limits\.max_pattern_length/);
    const list: MethodCall = { methodName: 'f.multicall', params: [text(HASH), { kind: 'array', items: [text('*.mkv'), text('**')] }, text('f.path=')] };
    refusedForCost(policy('readonly').check(list), /max_pattern_wildcards/);
  });

  test('a pattern inside a command string is held to the same limits, and one known only at run time is refused', () => {
    refusedForCost(policy('files-in-rows').check(call('d.multicall2', '', 'main', 'cat="$f.multicall=**,f.path="')), /max_pattern_wildcards/);
    refusedForCost(policy('readonly').check(call('branch', '', 'd.hash=', 'f.multicall=$cat=*\\,*,f.path=')), /only known at run time/);
  });

  test('a label, message or tracker URL stores at most 4 KiB, at the top level, in command strings and after a load', () => {
    assert.ok(policy('standard').check(call('d.custom1.set', HASH, 'x'.repeat(4096))).allowed);
    refusedForCost(policy('standard').check(call('d.custom1.set', HASH, 'x'.repeat(4097))), /would store 4097 bytes.*limits\.max_stored_value_bytes/);
    refusedForCost(policy('standard').check(call('d.custom.set', HASH, 'comment', 'x'.repeat(4090))), /would store 4097 bytes/);
    refusedForCost(policy('standard').check(call('d.multicall2', '', 'main', `d.message.set=${'x'.repeat(5000)}`)), /d\.message\.set would store 5000 bytes/);
    refusedForCost(policy('standard').check(call('load.start', '', `magnet:?xt=urn:btih:${HASH}`, `d.custom1.set=${'x'.repeat(5000)}`)), /would store/);
  });

  test('match and string.replace are refused even where a policy allows them', () => {
    refusedForCost(policy('regex').check(call('match', '', 'd.name=', '(a+)+$')), /std::regex/);
    refusedForCost(policy('regex').check(call('d.multicall2', '', 'main', 'match={d.name=,.*}')), /std::regex/);
  });
});

describe('limits and the keys that raise them', () => {
  test('policies below full get [limits] defaults; a policy may set its own, which its children inherit', () => {
    assert.deepEqual(policy('readonly').limits.maxAnswerCells, { value: 400_000, key: 'limits.max_answer_cells' });
    assert.deepEqual(policy('small').limits.maxAnswerCells, { value: 1000, key: 'policies.small.max_answer_cells' });
    assert.deepEqual(policy('small-child').limits.maxAnswerCells, { value: 1000, key: 'policies.small.max_answer_cells' });
    const custom = compilePolicies({}, { limits: { maxAnswerCells: 7, maxAnswerBytes: 8, maxPatternLength: 9, maxPatternWildcards: 0, maxStoredValueBytes: 10, callsInFlight: 0, callRate: 5, callBurst: 6 } });
    assert.deepEqual(custom.get('standard')!.limits, {
      maxAnswerCells: { value: 7, key: 'limits.max_answer_cells' },
      maxAnswerBytes: { value: 8, key: 'limits.max_answer_bytes' },
      budget: { callsInFlight: undefined, callRate: { value: 5, key: 'limits.call_rate' }, callBurst: { value: 6, key: 'limits.call_burst' } },
    });
    refusedForCost(custom.get('standard')!.check(call('f.multicall', HASH, '*.mkv', 'f.path=')), /at most 0/);
  });

  test('a policy built on full takes budget keys but not cost keys', () => {
    assert.deepEqual(compilePolicies({ ops: { extends: 'full', calls_in_flight: 2 } }).get('ops')!.limits.budget.callsInFlight, { value: 2, key: 'policies.ops.calls_in_flight' });
    assert.throws(() => compilePolicies({ ops: { extends: 'full', max_answer_cells: 10 } }), (error: unknown) => error instanceof ConfigError && /policies\.ops\.max_answer_cells: a policy built on full/.test(error.message));
    assert.throws(() => compilePolicies({ x: { extends: 'readonly', row_multicalls: ['d.multicall2'] } }), /policies\.x\.row_multicalls\[0\]/);
    assert.throws(() => compilePolicies({ x: { extends: 'readonly', call_rate: -1 } }), /policies\.x\.call_rate/);
  });

  test('a call over the estimated limit is refused with the estimate, the limit and its key', () => {
    const caller = { user: 'viewer', policy: policy('small') };
    const decision = decideCall(Buffer.from(xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name='])), caller);
    assert.equal(decision.kind, 'forward');
    if (decision.kind !== 'forward') return;
    assert.equal(costRefusal(decision, caller, { ...SIZES, torrents: 166 }), undefined);
    const refused = costRefusal(decision, caller, { ...SIZES, torrents: 167 });
    assert.ok(refused);
    assert.equal(refused.code, 'GW_COST_LIMIT');
    assert.match(refused.message, /user "viewer" \(policy "small"\).*about 1004 cells of 32 bytes \(2 \+ 6 per torrent \(× 167 torrents\)\), over the limit of 1000 \(policies\.small\.max_answer_cells\)/);
  });

  test('a refused shape is a fault naming the user and policy, with its own outcome', () => {
    const decision = decideCall(Buffer.from(xmlCall('d.multicall2', ['', 'main', 'd.multicall2=main,d.hash='])), { user: 'viewer', policy: policy('readonly') });
    assert.equal(decision.kind, 'refuse');
    if (decision.kind !== 'refuse') return;
    assert.equal(decision.outcome, 'too_costly');
    assert.equal(decision.error.code, 'GW_COST_LIMIT');
    assert.match(decision.error.message, /refused by the gateway for user "viewer" \(policy "readonly"\): d\.multicall2 inside a multicall row/);
  });

  test('a JSON-RPC batch costs what its calls cost together', () => {
    const batch = JSON.stringify([1, 2, 3].map((id) => ({ jsonrpc: '2.0', id, method: 'd.multicall2', params: ['', 'main', 'd.hash='] })));
    const decision = decideJsonRpcCall(Buffer.from(batch), { user: 'viewer', policy: policy('readonly') });
    assert.equal(decision.kind, 'forward');
    if (decision.kind !== 'forward') return;
    assert.equal(decision.cost?.cells(SIZES), 3 * (2 + 2 * 1000));
    const refusal = decision.jsonRefusal?.(costRefusal(decision, { user: 'viewer', policy: policy('small') }, SIZES)!);
    assert.equal(JSON.parse(refusal!.toString()).length, 3);
  });
});
