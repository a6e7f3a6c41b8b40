import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from '../../src/auth/login-throttle.js';

function throttle(overrides: Partial<ConstructorParameters<typeof LoginThrottle>[0]> = {}) {
  let now = 1_000_000;
  const instance = new LoginThrottle({
    maxFailuresPerAddress: 3,
    maxFailuresPerUser: 5,
    windowMs: 60_000,
    blockMs: 30_000,
    now: () => now,
    ...overrides,
  });
  return { instance, advance: (ms: number) => (now += ms) };
}

describe('failed-login throttle', () => {
  it('blocks an address after its limit of failures, for blockMs', () => {
    const { instance, advance } = throttle();
    for (let i = 0; i < 2; i++) instance.recordFailure('10.0.0.1', `guess${i}`);
    assert.deepEqual(instance.check('10.0.0.1', 'admin'), { blocked: false });
    instance.recordFailure('10.0.0.1', 'guess2');
    assert.deepEqual(instance.check('10.0.0.1', 'admin'), { blocked: true, scope: 'address', retryAfterMs: 30_000 });
    advance(30_001);
    assert.deepEqual(instance.check('10.0.0.1', 'admin'), { blocked: false });
  });

  it('does not slow down other addresses', () => {
    const { instance } = throttle();
    for (let i = 0; i < 10; i++) instance.recordFailure('10.0.0.1', `guess${i}`);
    assert.deepEqual(instance.check('10.0.0.2', 'admin'), { blocked: false });
  });

  it('blocks a user name guessed at from many addresses', () => {
    const { instance } = throttle();
    for (let i = 0; i < 5; i++) instance.recordFailure(`10.0.0.${i}`, 'admin');
    const verdict = instance.check('10.9.9.9', 'admin');
    assert.equal(verdict.blocked && verdict.scope, 'user');
    assert.deepEqual(instance.check('10.9.9.9', 'sonarr'), { blocked: false });
  });

  it('forgets failures older than the window', () => {
    const { instance, advance } = throttle();
    instance.recordFailure('10.0.0.1', 'a');
    instance.recordFailure('10.0.0.1', 'b');
    advance(61_000);
    instance.recordFailure('10.0.0.1', 'c');
    assert.deepEqual(instance.check('10.0.0.1', 'x'), { blocked: false });
  });

  it('stays bounded in memory under a spray of addresses', () => {
    const { instance } = throttle({ maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) instance.recordFailure(`10.${i >> 8}.${i & 255}.1`, 'admin');
    assert.ok((instance as unknown as { counters: Map<string, unknown> }).counters.size <= 100);
  });
});
