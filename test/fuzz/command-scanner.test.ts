import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { assertBoundedTime, fuzzParameters } from './fuzz-runs.js';

const policies = compilePolicies({});
const CHECKED = ['standard', 'readonly', 'arr', 'mobile', 'autobrr', 'monitoring'].map((name) => policies.get(name)!);
const text = (value: string): XmlRpcValue => ({ kind: 'string', value });

/** The characters rtorrent's command-string grammar gives meaning to, and names worth reaching. */
const GRAMMAR = fc.constantFrom(
  '$', '(', ')', '((', '))', '{', '}', '"', '\\', ',', ';', '=', ' ', '\t', '\n', '#', '.', 'd.name', 'execute.throw', 'cat', 'branch',
  'd.custom1.set', 'method.insert', 'schedule2', 'import', 'value', 'sh', '-c', 'x', '0', 'd.multicall2', 'system.multicall',
);
const commandString = fc.oneof(
  fc.array(GRAMMAR, { maxLength: 40 }).map((parts) => parts.join('')),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

const EVALUATING_METHODS = ['d.multicall2', 'd.multicall.filtered', 'f.multicall', 't.multicall', 'p.multicall', 'load.start', 'branch', 'schedule2', 'method.insert', 'execute.throw', 'd.name'];

function checkBounded(call: MethodCall): void {
  for (const policy of CHECKED) {
    const verdicts: ReturnType<typeof policy.check>[] = [];
    assertBoundedTime(
      () => {
        verdicts.push(policy.check(call));
      },
      (elapsed) => `${policy.name} took ${elapsed.toFixed(1)} ms`,
    );
    const verdict = verdicts[0]!;
    assert.equal(typeof verdict.allowed, 'boolean');
    if (!verdict.allowed) assert.ok(verdict.reason.length > 0 && verdict.method.length > 0, 'a refusal names the method and the reason');
  }
}

describe('fuzzing the policy check and its command-string scanner', () => {
  it('never throws or hangs on arbitrary command strings in every evaluated position', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EVALUATING_METHODS), fc.array(commandString, { maxLength: 5 }), (methodName, strings) => {
        checkBounded({ methodName, params: [text(''), ...strings.map(text)] });
      }),
      fuzzParameters(0.6),
    );
  });

  it('never lets execute.* through when it appears as a command in a multicall string', () => {
    // Context without quotes, escapes or brackets, so the inserted command stays a command (inside a
    // quoted string it would rightly be data).
    const context = fc
      .array(GRAMMAR.filter((part) => !/["\\{}()$]/.test(part)), { maxLength: 30 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(context, context, (before, after) => {
        const row = `${before};execute.throw=sh,-c,id;${after}`;
        for (const policy of CHECKED) {
          const verdict = policy.check({ methodName: 'd.multicall2', params: [text(''), text('main'), text(row)] });
          assert.equal(verdict.allowed, false, `${policy.name} allowed ${JSON.stringify(row)}`);
        }
      }),
      fuzzParameters(0.4),
    );
  });
});
