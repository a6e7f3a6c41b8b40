import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { loadHtpasswd, parseHtpasswd, verifyPassword, type PasswordHash } from '../../src/auth/htpasswd.js';
import { HtpasswdError } from '../../src/errors.js';

// Hashes are produced by Apache's own tool so the parser is tested against what operators really
// have on disk, not against our idea of the format.
const probe = spawnSync('htpasswd', ['-nbB', 'probe', 'probe'], { encoding: 'utf8' });
const haveHtpasswd = probe.error === undefined && probe.status === 0;
const inCi = process.env.CI === 'true';
// Outside CI a missing tool only skips; in CI the tests run and fail, so the gap cannot go unseen.
const needsTool =
  haveHtpasswd || inCi ? false : 'Apache htpasswd not installed (apt-get install apache2-utils); skipped outside CI';

function htpasswd(...args: string[]): string {
  const r = spawnSync('htpasswd', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run Apache htpasswd (install apache2-utils): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`htpasswd ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `htpasswd -n` prints "user:hash" and a blank line. */
function entry(flags: string[], user: string, password: string): string {
  return htpasswd('-nb', ...flags, user, password).trim();
}

function single(text: string, user: string): PasswordHash {
  const users = parseHtpasswd(text, '/test/htpasswd');
  const hash = users.get(user);
  assert.ok(hash, `user ${user} parsed`);
  return hash;
}

function parseError(text: string, file = '/etc/gw/htpasswd'): HtpasswdError {
  try {
    parseHtpasswd(text, file);
  } catch (err) {
    assert.ok(err instanceof HtpasswdError, `expected HtpasswdError, got ${String(err)}`);
    assert.equal(err.code, 'GW_HTPASSWD_INVALID');
    assert.doesNotMatch(err.message, /\n/, 'message is a single line');
    return err;
  }
  assert.fail('parseHtpasswd accepted the text');
}

async function assertVerifiesOnly(hash: PasswordHash, password: string): Promise<void> {
  assert.equal(await verifyPassword(password, hash), true, 'right password');
  for (const wrong of ['', 'wrong', `${password} `, password.toUpperCase() === password ? 'x' : password.toUpperCase()]) {
    assert.equal(await verifyPassword(wrong, hash), false, `wrong password ${JSON.stringify(wrong)}`);
  }
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gw-htpasswd-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('Apache htpasswd is installed when running in CI', { skip: inCi ? false : 'only enforced when CI=true' }, () => {
  assert.ok(haveHtpasswd, 'htpasswd (apache2-utils) must be installed in CI');
});

describe('entries written by Apache htpasswd', { skip: needsTool }, () => {
  test('a bcrypt entry (htpasswd -B, $2y$) accepts its password and refuses others', async () => {
    const hash = single(entry(['-B'], 'sonarr', 's3cret-Pass'), 'sonarr');
    assert.equal(hash.scheme, 'bcrypt');
    assert.match(hash.hash, /^\$2y\$05\$/);
    await assertVerifiesOnly(hash, 's3cret-Pass');
  });

  test('a bcrypt entry with a higher cost (htpasswd -B -C 10) verifies', async () => {
    const hash = single(entry(['-B', '-C', '10'], 'radarr', 'another one'), 'radarr');
    assert.match(hash.hash, /^\$2y\$10\$/);
    await assertVerifiesOnly(hash, 'another one');
  });

  test('an apr1 MD5 entry (htpasswd -m) accepts its password and refuses others', async () => {
    const hash = single(entry(['-m'], 'alice', 'md5-password'), 'alice');
    assert.equal(hash.scheme, 'apr1');
    await assertVerifiesOnly(hash, 'md5-password');
  });

  test('a {SHA} entry (htpasswd -s) accepts its password and refuses others', async () => {
    const hash = single(entry(['-s'], 'bob', 'sha-password'), 'bob');
    assert.equal(hash.scheme, 'sha1');
    await assertVerifiesOnly(hash, 'sha-password');
  });

  test('a non-ASCII password verifies under every supported scheme', async () => {
    const password = 'pässwörd €😀';
    for (const flag of ['-B', '-m', '-s']) {
      const hash = single(entry([flag], 'carol', password), 'carol');
      assert.equal(await verifyPassword(password, hash), true, `${flag} right password`);
      assert.equal(await verifyPassword('passwords €😀', hash), false, `${flag} wrong password`);
    }
  });

  test('a file built by htpasswd -c and later additions loads every user', async () => {
    const file = path.join(dir, 'mixed.htpasswd');
    htpasswd('-cbB', file, 'sonarr', 'pw-sonarr');
    htpasswd('-bm', file, 'radarr', 'pw-radarr');
    htpasswd('-bs', file, 'lidarr', 'pw-lidarr');
    const users = await loadHtpasswd(file);
    assert.deepEqual([...users.keys()], ['sonarr', 'radarr', 'lidarr']);
    assert.deepEqual([...users.values()].map((h) => h.scheme), ['bcrypt', 'apr1', 'sha1']);
    for (const [user, hash] of users) {
      assert.equal(await verifyPassword(`pw-${user}`, hash), true, user);
      assert.equal(await verifyPassword('pw-someone-else', hash), false, user);
    }
  });

  test('a plain-text entry (htpasswd -p) is refused, naming file, line and user but not the password', () => {
    const text = `${entry(['-B'], 'first', 'x')}\n${entry(['-p'], 'bob', 'hunter2-plain')}\n`;
    const err = parseError(text);
    assert.equal(
      err.message,
      '/etc/gw/htpasswd line 2 (user "bob"): plain-text or unsupported password hash; create it with "htpasswd -B"',
    );
    assert.doesNotMatch(err.message, /hunter2/);
  });

  test('a crypt(3) DES entry (htpasswd -d) is refused', () => {
    const err = parseError(entry(['-d'], 'dave', 'secret'));
    assert.match(err.message, /^\/etc\/gw\/htpasswd line 1 \(user "dave"\): plain-text or unsupported/);
  });
});

describe('bcrypt prefixes', () => {
  test('$2a$ and $2b$ hashes verify like $2y$', async () => {
    const salt = await bcrypt.genSalt(4);
    assert.match(salt, /^\$2b\$/);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const stored = await bcrypt.hash('same password', prefix + salt.slice(4));
      assert.ok(stored.startsWith(prefix), `bcryptjs kept ${prefix}`);
      const hash = single(`user:${stored}\n`, 'user');
      assert.equal(hash.scheme, 'bcrypt');
      await assertVerifiesOnly(hash, 'same password');
    }
  });

  test('an htpasswd $2y$ hash with its prefix rewritten to $2a$ or $2b$ still verifies', async () => {
    // Fixed output of `htpasswd -nbB -C 10 u secret`; the three prefixes name the same algorithm.
    const y = '$2y$10$HhQdXCuWQePOsDCBoJoba.qb.1L4wG62Tb9CVYFOCL2zJ2U7KS5Om';
    for (const prefix of ['$2y$', '$2a$', '$2b$']) {
      const hash = single(`u:${prefix}${y.slice(4)}`, 'u');
      assert.equal(await verifyPassword('secret', hash), true, prefix);
      assert.equal(await verifyPassword('Secret', hash), false, prefix);
    }
  });
});

describe('parsing', () => {
  test('comments, blank lines, CRLF endings and surrounding spaces are tolerated', () => {
    const text = [
      '# managed by ansible',
      '',
      'alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\r',
      '   ',
      '  # indented comment',
      'bob:$apr1$VXgS8AGi$V87X8fXK9vupTIR1mTIPp0  \r',
      '',
    ].join('\n');
    const users = parseHtpasswd(text, '/test/htpasswd');
    assert.deepEqual([...users.keys()], ['alice', 'bob']);
    assert.equal(users.get('bob')?.hash, '$apr1$VXgS8AGi$V87X8fXK9vupTIR1mTIPp0');
  });

  test('a leading byte-order mark does not become part of the first user name', () => {
    const users = parseHtpasswd('\uFEFFalice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n', '/test/htpasswd');
    assert.deepEqual([...users.keys()], ['alice']);
  });

  test('an empty file yields no users', () => {
    assert.equal(parseHtpasswd('', '/test/htpasswd').size, 0);
  });

  test('crypt schemes Apache does not write are refused by name', () => {
    const cases: Array<[string, RegExp]> = [
      ['$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1', /MD5-crypt \(\$1\$\) hashes are not supported/],
      ['$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.', /SHA-256-crypt \(\$5\$\) hashes are not supported/],
      [
        '$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.',
        /SHA-512-crypt \(\$6\$\) hashes are not supported/,
      ],
    ];
    for (const [hash, reason] of cases) {
      const err = parseError(`# header\nzoe:${hash}\n`);
      assert.match(err.message, /^\/etc\/gw\/htpasswd line 2 \(user "zoe"\): /);
      assert.match(err.message, reason);
      assert.match(err.message, /htpasswd -B/);
    }
  });

  test('an empty hash is refused', () => {
    assert.match(parseError('eve:\n').message, /line 1 \(user "eve"\): empty password hash/);
  });

  test('a truncated or out-of-range bcrypt hash is refused as malformed', () => {
    const good = '$2y$10$HhQdXCuWQePOsDCBoJoba.qb.1L4wG62Tb9CVYFOCL2zJ2U7KS5Om';
    assert.match(parseError(`u:${good.slice(0, -1)}`).message, /malformed bcrypt hash/);
    assert.match(parseError(`u:$2y$03$${good.slice(7)}`).message, /bcrypt cost 3 is outside 4\.\.31/);
    assert.match(parseError(`u:$2x$10$${good.slice(7)}`).message, /malformed bcrypt hash/);
  });

  test('malformed apr1 and {SHA} hashes are refused', () => {
    assert.match(parseError('u:$apr1$VXgS8AGi$short').message, /malformed apr1 MD5 hash/);
    assert.match(parseError('u:{SHA}not-base64').message, /malformed \{SHA\} hash/);
  });

  test('a duplicate user names both lines', () => {
    const err = parseError('bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n# again\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n');
    assert.equal(err.message, '/etc/gw/htpasswd line 3 (user "bob"): duplicate user, already defined on line 1');
  });

  test('a line without a colon names the line and does not echo its content', () => {
    const err = parseError('alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nmy-secret-password\n');
    assert.equal(err.message, '/etc/gw/htpasswd line 2: no ":" between user and password hash');
  });

  test('an empty user name is refused', () => {
    assert.equal(
      parseError(':{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=').message,
      '/etc/gw/htpasswd line 1: empty user name',
    );
  });
});

describe('loading', () => {
  test('a missing file is reported with its path and the OS reason', async () => {
    const file = path.join(dir, 'does-not-exist');
    await assert.rejects(loadHtpasswd(file), (err: unknown) => {
      assert.ok(err instanceof HtpasswdError);
      assert.equal(err.message, `cannot read htpasswd file ${file}: ENOENT: no such file or directory`);
      return true;
    });
  });

  test('a directory in place of the file is reported with its path and the OS reason', async () => {
    const file = path.join(dir, 'a-directory');
    await mkdir(file);
    await assert.rejects(loadHtpasswd(file), (err: unknown) => {
      assert.ok(err instanceof HtpasswdError);
      assert.match(err.message, new RegExp(`^cannot read htpasswd file ${file}: EISDIR`));
      return true;
    });
  });

  test('parse errors from a loaded file name that file', async () => {
    const file = path.join(dir, 'bad.htpasswd');
    await writeFile(file, 'alice:plaintext\n');
    await assert.rejects(loadHtpasswd(file), {
      name: 'HtpasswdError',
      message: `${file} line 1 (user "alice"): plain-text or unsupported password hash; create it with "htpasswd -B"`,
    });
  });
});
