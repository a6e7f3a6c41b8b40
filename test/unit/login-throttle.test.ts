import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle, type LoginThrottleOptions } from '../../src/auth/login-throttle.js';

const EXISTING = new Set(['admin', 'app', 'sonarr']);

/** Limits small enough to read: 3 per pair, 5 per name, 4 unknown names per address; 30 s blocks in a 60 s window. */
function harness(overrides: Partial<LoginThrottleOptions> = {}) {
  let now = 1_000_000;
  let serial = 0;
  const throttle = new LoginThrottle({
    maxFailuresPerPair: 3,
    maxFailuresPerUser: 5,
    maxFailuresPerAddress: 4,
    windowMs: 60_000,
    blockMs: 30_000,
    trustMs: 600_000,
    now: () => now,
    ...overrides,
  });
  const outcome = (verdict: { blocked: boolean; scope?: string }): string => (verdict.blocked ? (verdict.scope as string) : 'open');
  return {
    throttle,
    advance: (ms: number) => void (now += ms),
    /** Wrong passwords, a new one each time as a guesser sends them; refused ones are not checked. */
    fail(address: string, user: string, times = 1): void {
      for (let i = 0; i < times; i++) {
        const attempt = throttle.begin(address, user, EXISTING.has(user), `guess-${serial++}`);
        if (!attempt.blocked) attempt.settle(false);
      }
    },
    /** The right password, checked in full. */
    login(address: string, user: string): void {
      const attempt = throttle.begin(address, user, true, `right-${user}`);
      assert.equal(attempt.blocked, false, `${user} from ${address} could not log in`);
      if (!attempt.blocked) attempt.settle(true);
    },
    /** The right password, found in the credential cache. */
    admitKnownGood: (address: string, user: string) => outcome(throttle.admitKnownGood(address, user)),
    /** Whether a new password would be checked ('open') or which block refuses it. */
    guess(address: string, user: string): string {
      const attempt = throttle.begin(address, user, EXISTING.has(user), `probe-${serial++}`);
      if (attempt.blocked) return attempt.scope;
      attempt.settle(undefined);
      return 'open';
    },
    knownGood: (address: string, user: string) => outcome(throttle.checkKnownGood(address, user)),
  };
}

type Harness = ReturnType<typeof harness>;
type Probe = ['guess' | 'knownGood', string, string, string];

const many = (h: Harness, user: string, count: number, subnet = '10.0.0') => {
  for (let i = 0; i < count; i++) h.fail(`${subnet}.${i + 1}`, user);
};

const cases: Array<[string, (h: Harness) => void, Probe[]]> = [
  ['a name is blocked at one address after its limit of wrong passwords there', (h) => h.fail('10.1.1.1', 'app', 3), [
    ['guess', '10.1.1.1', 'app', 'pair'],
    ['guess', '10.1.1.2', 'app', 'open'],
  ]],
  ['wrong passwords for one name leave every other name at the same address alone, right password or not', (h) => h.fail('10.1.1.1', 'app', 100), [
    ['guess', '10.1.1.1', 'admin', 'open'],
    ['knownGood', '10.1.1.1', 'admin', 'open'],
    ['guess', '10.1.1.1', 'sonarr', 'open'],
  ]],
  ['a name guessed at from many addresses is blocked at addresses it has not logged in from', (h) => many(h, 'admin', 5), [
    ['guess', '10.9.9.9', 'admin', 'user'],
    ['knownGood', '10.9.9.9', 'admin', 'user'],
    ['guess', '10.9.9.9', 'app', 'open'],
  ]],
  ['the name block does not reach an address the name logged in from, which keeps its own pair limit', (h) => {
    h.login('10.2.2.2', 'admin');
    many(h, 'admin', 20);
  }, [
    ['guess', '10.2.2.2', 'admin', 'open'],
    ['knownGood', '10.2.2.2', 'admin', 'open'],
  ]],
  ['a stale client next to the real one blocks new passwords for the pair, but not the real one\'s verified password', (h) => {
    h.login('127.0.0.1', 'sonarr');
    h.fail('127.0.0.1', 'sonarr', 50);
  }, [
    ['guess', '127.0.0.1', 'sonarr', 'pair'],
    ['knownGood', '127.0.0.1', 'sonarr', 'open'],
  ]],
  ['a right password does not pass a block where the name never logged in: a blocked guesser cannot test guesses against the cache', (h) => h.fail('10.3.3.3', 'admin', 3), [
    ['knownGood', '10.3.3.3', 'admin', 'pair'],
  ]],
  ['names that do not exist are counted per address: a spray of them is blocked for such names, never for real ones', (h) => {
    for (let i = 0; i < 4; i++) h.fail('10.4.4.4', `nobody-${i}`);
  }, [
    ['guess', '10.4.4.4', 'somebody', 'address'],
    ['guess', '10.4.4.4', 'admin', 'open'],
    ['knownGood', '10.4.4.4', 'admin', 'open'],
    ['guess', '10.4.4.5', 'somebody', 'open'],
  ]],
  ['wrong passwords for names that exist never count against the address', (h) => {
    for (const user of EXISTING) h.fail('10.5.5.5', user, 3);
  }, [
    ['guess', '10.5.5.5', 'nobody', 'open'],
  ]],
  ['a name that does not exist is blocked from anywhere after the per-name limit, as one that exists is', (h) => many(h, 'ghost', 5, '10.0.1'), [
    ['guess', '10.9.9.9', 'ghost', 'user'],
  ]],
  ['a block ends after blockMs', (h) => {
    h.fail('10.6.6.6', 'app', 3);
    h.advance(30_001);
  }, [
    ['guess', '10.6.6.6', 'app', 'open'],
  ]],
  ['after a block the pair has a fresh limit, and using it up blocks it again', (h) => {
    h.fail('10.6.6.6', 'app', 3);
    // Past the name's window too, so that the name's own limit does not get there first.
    h.advance(61_000);
    h.fail('10.6.6.6', 'app', 3);
  }, [
    ['guess', '10.6.6.6', 'app', 'pair'],
  ]],
  ['failures older than the window are forgotten', (h) => {
    h.fail('10.7.7.7', 'app', 2);
    h.advance(61_000);
    h.fail('10.7.7.7', 'app', 2);
  }, [
    ['guess', '10.7.7.7', 'app', 'open'],
  ]],
  ['an address stops being a known one for a name trustMs after its last login there', (h) => {
    h.login('10.2.2.2', 'admin');
    h.advance(600_001);
    many(h, 'admin', 5);
  }, [
    ['guess', '10.2.2.2', 'admin', 'user'],
  ]],
  ['each login through the credential cache keeps the address a known one', (h) => {
    h.login('10.2.2.2', 'admin');
    h.advance(400_000);
    assert.equal(h.admitKnownGood('10.2.2.2', 'admin'), 'open');
    h.advance(400_000);
    many(h, 'admin', 5);
  }, [
    ['guess', '10.2.2.2', 'admin', 'open'],
  ]],
  ['a right password that does not log in (a Digest stale nonce) does not make the address a known one', (h) => {
    assert.equal(h.knownGood('10.8.8.8', 'admin'), 'open');
    many(h, 'admin', 5);
  }, [
    ['guess', '10.8.8.8', 'admin', 'user'],
  ]],
];

describe('failed-login throttle', () => {
  for (const [sentence, setup, probes] of cases) {
    it(sentence, () => {
      const h = harness();
      setup(h);
      for (const [kind, address, user, expected] of probes) {
        assert.equal(h[kind](address, user), expected, `${kind} for ${user} from ${address}`);
      }
    });
  }

  it('says how long a block has left', () => {
    const h = harness();
    h.fail('10.1.1.1', 'app', 3);
    h.advance(10_000);
    assert.deepEqual(h.throttle.begin('10.1.1.1', 'app', true, 'x'), { blocked: true, scope: 'pair', retryAfterMs: 20_000 });
  });

  it('counts checks still running against the limit: a burst of parallel guesses past it is refused before any hashing', () => {
    const h = harness();
    const running = [0, 1, 2].map((i) => h.throttle.begin('10.1.1.1', 'admin', true, `parallel-${i}`));
    assert.ok(running.every((attempt) => !attempt.blocked));
    assert.deepEqual(h.throttle.begin('10.1.1.1', 'admin', true, 'parallel-3'), { blocked: true, scope: 'pair', retryAfterMs: 1_000 });
    for (const attempt of running) if (!attempt.blocked) attempt.settle(false);
    assert.equal(h.guess('10.1.1.1', 'admin'), 'pair');
  });

  it('lets identical credentials in flight through together, as one check (a client starting up fires several requests)', () => {
    const h = harness();
    const burst = Array.from({ length: 20 }, () => h.throttle.begin('10.1.1.1', 'admin', true, 'same-header'));
    assert.ok(burst.every((attempt) => !attempt.blocked));
    for (const attempt of burst) if (!attempt.blocked) attempt.settle(false);
    assert.equal(h.guess('10.1.1.1', 'admin'), 'open', 'twenty identical requests are one wrong password');
  });

  it('gives a reservation back when the password was right, or when the check came to nothing', () => {
    const h = harness();
    for (let i = 0; i < 10; i++) {
      const attempt = h.throttle.begin('10.1.1.1', 'admin', true, `attempt-${i}`);
      assert.equal(attempt.blocked, false);
      if (!attempt.blocked) attempt.settle(i % 2 === 0 ? true : undefined);
    }
    h.fail('10.1.1.1', 'admin', 2);
    assert.equal(h.guess('10.1.1.1', 'admin'), 'open');
  });

  it('stays bounded in memory under a spray of addresses and names', () => {
    const h = harness({ maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) {
      const address = `10.${i >> 8}.${i & 255}.1`;
      h.fail(address, `nobody-${i}`);
      h.fail(address, 'admin');
    }
    assert.ok(h.throttle.trackedKeys <= 5 * 100, `${h.throttle.trackedKeys} entries`);
  });

  it('keeps a real name\'s block however many unknown names are sprayed after it', () => {
    const h = harness({ maxKeys: 100 });
    many(h, 'admin', 5);
    for (let i = 0; i < 10_000; i++) h.fail(`10.${i >> 8}.${i & 255}.2`, `nobody-${i}`);
    assert.equal(h.guess('10.9.9.9', 'admin'), 'user');
  });
});
