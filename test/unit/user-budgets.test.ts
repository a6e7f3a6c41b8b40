import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Admission, UserBudgets } from '../../src/budget/user-budgets.js';
import type { CallBudget } from '../../src/policy/types.js';

const budget = (callsInFlight: number | undefined, callRate: number | undefined, callBurst = 3): CallBudget => ({
  callsInFlight: callsInFlight === undefined ? undefined : { value: callsInFlight, key: 'limits.calls_in_flight' },
  callRate: callRate === undefined ? undefined : { value: callRate, key: 'limits.call_rate' },
  callBurst: { value: callBurst, key: 'limits.call_burst' },
});

function admitted(admission: Admission): () => void {
  assert.ok(admission.admitted, admission.admitted ? '' : admission.message);
  return admission.release;
}

describe('per-user call budgets', () => {
  test('a user gets as many calls in flight as the budget says; the next waits for one to end', () => {
    const budgets = new UserBudgets(() => 0);
    const limit = budget(2, undefined);
    const first = admitted(budgets.admit('app', limit));
    admitted(budgets.admit('app', limit));
    const refused = budgets.admit('app', limit);
    assert.equal(refused.admitted, false);
    if (refused.admitted) return;
    assert.equal(refused.reason, 'in_flight');
    assert.equal(refused.retryAfterSeconds, 1);
    assert.match(refused.message, /user "app" already has 2 calls in flight.*limits\.calls_in_flight/);
    first();
    first(); // releasing twice gives back one place only
    admitted(budgets.admit('app', limit));
    assert.equal(budgets.admit('app', limit).admitted, false);
  });

  test('calls come at the burst at once, then at the rate, and a refusal says when to retry', () => {
    let now = 0;
    const budgets = new UserBudgets(() => now);
    const limit = budget(undefined, 2, 3);
    for (let i = 0; i < 3; i++) admitted(budgets.admit('app', limit))();
    const refused = budgets.admit('app', limit);
    assert.equal(refused.admitted, false);
    if (refused.admitted) return;
    assert.equal(refused.reason, 'rate');
    assert.equal(refused.retryAfterSeconds, 1);
    assert.match(refused.message, /faster than 2 a second \(limits\.call_rate\) after a burst of 3 \(limits\.call_burst\)/);
    now = 499;
    assert.equal(budgets.admit('app', limit).admitted, false);
    now = 500;
    admitted(budgets.admit('app', limit))();
    assert.equal(budgets.admit('app', limit).admitted, false);
    // Idle time refills up to the burst, not beyond.
    now = 60_000;
    for (let i = 0; i < 3; i++) admitted(budgets.admit('app', limit))();
    assert.equal(budgets.admit('app', limit).admitted, false);
  });

  test('a slow rate asks for a longer wait', () => {
    const budgets = new UserBudgets(() => 0);
    const limit = budget(undefined, 0.1, 1);
    admitted(budgets.admit('app', limit));
    const refused = budgets.admit('app', limit);
    assert.ok(!refused.admitted && refused.retryAfterSeconds === 10);
  });

  test("one user's calls never use up another's budget", () => {
    const budgets = new UserBudgets(() => 0);
    const limit = budget(1, 1, 1);
    admitted(budgets.admit('sonarr', limit));
    assert.equal(budgets.admit('sonarr', limit).admitted, false);
    admitted(budgets.admit('admin', limit));
  });

  test('a budget without limits admits everything and keeps no state', () => {
    const budgets = new UserBudgets(() => 0);
    for (let i = 0; i < 1000; i++) admitted(budgets.admit('admin', budget(undefined, undefined)));
  });
});
