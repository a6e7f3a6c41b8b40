import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import aprMd5 from 'apache-md5';
import bcrypt from 'bcryptjs';
import { Authenticator } from '../../src/auth/authenticator.js';
import { VerifiedCredentialCache } from '../../src/auth/credential-cache.js';
import { parseHtpasswd, verifyPassword, type PasswordHash } from '../../src/auth/htpasswd.js';

/** Builds users through the real parser so the hashes are exactly what a file would yield. */
async function usersWith(entries: Record<string, string>, cost = 4): Promise<Map<string, PasswordHash>> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(entries)) {
    lines.push(`${user}:${await bcrypt.hash(password, cost)}`);
  }
  return parseHtpasswd(lines.join('\n'), '/test/htpasswd');
}

/** Wraps the real password check (bcrypt is not replaced) to record each time hashing runs. */
function countingVerifier(): {
  calls: PasswordHash[];
  verifyPassword: (password: string, hash: PasswordHash) => Promise<boolean>;
} {
  const calls: PasswordHash[] = [];
  return {
    calls,
    verifyPassword: (password, hash) => {
      calls.push(hash);
      return verifyPassword(password, hash);
    },
  };
}

describe('Authenticator', () => {
  test('accepts the right password and refuses a wrong one', async () => {
    const auth = new Authenticator(await usersWith({ sonarr: 'right' }));
    assert.equal(await auth.verify('sonarr', 'right'), true);
    assert.equal(await auth.verify('sonarr', 'wrong'), false);
    assert.equal(await auth.verify('sonarr', ''), false);
  });

  test('lists the user names from the file', async () => {
    const auth = new Authenticator(await usersWith({ sonarr: 'a', radarr: 'b' }));
    assert.deepEqual([...auth.users].sort(), ['radarr', 'sonarr']);
  });

  test('a repeated successful login is answered without hashing again', async () => {
    const counter = countingVerifier();
    const auth = new Authenticator(await usersWith({ sonarr: 'right' }), undefined, counter);
    assert.equal(await auth.verify('sonarr', 'right'), true);
    assert.equal(await auth.verify('sonarr', 'right'), true);
    assert.equal(await auth.verify('sonarr', 'right'), true);
    assert.equal(counter.calls.length, 1);
  });

  test('a wrong password is never cached', async () => {
    const counter = countingVerifier();
    const cache = new VerifiedCredentialCache();
    const auth = new Authenticator(await usersWith({ sonarr: 'right' }), cache, counter);
    for (let i = 0; i < 3; i++) assert.equal(await auth.verify('sonarr', 'wrong'), false);
    assert.equal(counter.calls.length, 3);
    assert.equal(cache.size, 0);
  });

  test('after the password is changed in the file the old one misses the shared cache and is refused', async () => {
    const counter = countingVerifier();
    const cache = new VerifiedCredentialCache();
    const before = new Authenticator(await usersWith({ sonarr: 'old' }), cache, counter);
    assert.equal(await before.verify('sonarr', 'old'), true);

    const after = new Authenticator(await usersWith({ sonarr: 'new' }), cache, counter);
    assert.equal(await after.verify('sonarr', 'old'), false);
    assert.equal(await after.verify('sonarr', 'new'), true);
    assert.equal(counter.calls.length, 3);
  });

  test('a user removed from the file is refused even with a cached password', async () => {
    const cache = new VerifiedCredentialCache();
    const users = await usersWith({ sonarr: 'right', radarr: 'other' });
    assert.equal(await new Authenticator(users, cache).verify('sonarr', 'right'), true);
    users.delete('sonarr');
    assert.equal(await new Authenticator(users, cache).verify('sonarr', 'right'), false);
  });

  test('one user\'s cached login does not let another user with the same hash skip hashing', async () => {
    const counter = countingVerifier();
    const hash = (await usersWith({ x: 'shared' })).get('x');
    assert.ok(hash);
    const auth = new Authenticator(new Map([['a', hash], ['b', hash]]), undefined, counter);
    assert.equal(await auth.verify('a', 'shared'), true);
    assert.equal(await auth.verify('b', 'shared'), true);
    assert.equal(counter.calls.length, 2);
  });

  test('an unknown user is refused after a check against a dummy of the users\' scheme and cost', async () => {
    const counter = countingVerifier();
    const auth = new Authenticator(await usersWith({ sonarr: 'a', radarr: 'b' }, 6), undefined, counter);
    assert.equal(await auth.verify('nobody', 'a'), false);
    assert.equal(await auth.verify('nobody', 'a'), false);
    assert.equal(counter.calls.length, 2, 'every attempt pays for a hash');
    const dummy = counter.calls[0];
    assert.equal(dummy?.scheme, 'bcrypt');
    assert.equal(bcrypt.getRounds(dummy.hash), 6);
  });

  test('the dummy follows the scheme most users have', async () => {
    const counter = countingVerifier();
    const apr1 = { scheme: 'apr1', hash: aprMd5('pw') } as const;
    const auth = new Authenticator(new Map([['a', apr1], ['b', apr1]]), undefined, counter);
    assert.equal(await auth.verify('nobody', 'pw'), false);
    assert.equal(counter.calls[0]?.scheme, 'apr1');
  });

  test('with no users every login is refused after a bcrypt check', async () => {
    const counter = countingVerifier();
    const auth = new Authenticator(new Map(), undefined, counter);
    assert.equal(await auth.verify('', ''), false);
    assert.equal(counter.calls[0]?.scheme, 'bcrypt');
  });

  test('concurrent identical logins share one hash computation', async () => {
    const counter = countingVerifier();
    const auth = new Authenticator(await usersWith({ sonarr: 'right' }), undefined, counter);
    const results = await Promise.all(Array.from({ length: 5 }, () => auth.verify('sonarr', 'right')));
    assert.deepEqual(results, [true, true, true, true, true]);
    assert.equal(counter.calls.length, 1);

    const wrong = await Promise.all([auth.verify('sonarr', 'bad'), auth.verify('sonarr', 'bad')]);
    assert.deepEqual(wrong, [false, false]);
    assert.equal(counter.calls.length, 2);
    assert.equal(await auth.verify('sonarr', 'bad'), false, 'a settled failure is not reused');
    assert.equal(counter.calls.length, 3);
  });

  test('later changes to the map it was built from do not change who can log in', async () => {
    const users = await usersWith({ sonarr: 'right' });
    const auth = new Authenticator(users);
    users.clear();
    assert.equal(await auth.verify('sonarr', 'right'), true);
    assert.deepEqual([...auth.users], ['sonarr']);
  });
});

describe('VerifiedCredentialCache', () => {
  const hash: PasswordHash = { scheme: 'sha1', hash: '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=' };
  const otherHash: PasswordHash = { scheme: 'sha1', hash: '{SHA}Z/8Id9IK/RT88UQfntLXIvbCuYA=' };

  test('finds only the exact user, password and stored hash that were added', () => {
    const cache = new VerifiedCredentialCache();
    cache.add('bob', 'secret', hash);
    assert.equal(cache.has('bob', 'secret', hash), true);
    assert.equal(cache.has('bob', 'Secret', hash), false);
    assert.equal(cache.has('alice', 'secret', hash), false);
    assert.equal(cache.has('bob', 'secret', otherHash), false);
    // Fields are length-prefixed, so shifting characters between them is not a match.
    assert.equal(cache.has('bo', 'bsecret', hash), false);
  });

  test('an entry expires after the TTL even if it keeps being used', () => {
    let now = 1_000;
    const cache = new VerifiedCredentialCache({ ttlMs: 100, now: () => now });
    cache.add('bob', 'secret', hash);
    now += 99;
    assert.equal(cache.has('bob', 'secret', hash), true);
    now += 1;
    assert.equal(cache.has('bob', 'secret', hash), false);
    assert.equal(cache.size, 0);
  });

  test('beyond maxEntries the least recently used entry goes first', () => {
    const cache = new VerifiedCredentialCache({ maxEntries: 2 });
    cache.add('a', 'pw', hash);
    cache.add('b', 'pw', hash);
    assert.equal(cache.has('a', 'pw', hash), true, 'a is now the most recently used');
    cache.add('c', 'pw', hash);
    assert.equal(cache.size, 2);
    assert.equal(cache.has('b', 'pw', hash), false);
    assert.equal(cache.has('a', 'pw', hash), true);
    assert.equal(cache.has('c', 'pw', hash), true);
  });

  test('clear forgets every entry', () => {
    const cache = new VerifiedCredentialCache();
    cache.add('bob', 'secret', hash);
    cache.clear();
    assert.equal(cache.has('bob', 'secret', hash), false);
  });

  test('a zero size or zero TTL turns caching off', () => {
    for (const opts of [{ maxEntries: 0 }, { ttlMs: 0 }]) {
      const cache = new VerifiedCredentialCache(opts);
      cache.add('bob', 'secret', hash);
      assert.equal(cache.has('bob', 'secret', hash), false);
    }
  });

  test('nonsensical limits are rejected', () => {
    assert.throws(() => new VerifiedCredentialCache({ maxEntries: -1 }), RangeError);
    assert.throws(() => new VerifiedCredentialCache({ maxEntries: 1.5 }), RangeError);
    assert.throws(() => new VerifiedCredentialCache({ ttlMs: Number.NaN }), RangeError);
  });

  test('keys are a per-instance HMAC that does not reveal the password', () => {
    const a = new VerifiedCredentialCache();
    const b = new VerifiedCredentialCache();
    const key = a.keyFor('bob', 'secret', hash);
    assert.notEqual(key, b.keyFor('bob', 'secret', hash));
    assert.doesNotMatch(key, /secret/);
    assert.equal(Buffer.from(key, 'base64').length, 32);
  });
});
