import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadHtdigest, parseHtdigest } from '../../src/auth/htdigest.js';
import { HtpasswdError } from '../../src/errors.js';

// Fixtures come from Apache's own tool, so the parser is tested against what operators have on
// disk. htdigest reads the password twice from stdin when stdin is not a terminal, which lets us
// drive it without a pty.
function runHtdigest(args: string[], password: string): { ok: boolean; detail: string } {
  const r = spawnSync('htdigest', args, { input: `${password}\n${password}\n`, encoding: 'utf8' });
  if (r.error) return { ok: false, detail: r.error.message };
  return { ok: r.status === 0, detail: `exit ${r.status}: ${r.stderr}` };
}

function probeTool(): boolean {
  // A throwaway file; the real fixtures are made in the per-run directory below.
  const file = path.join(tmpdir(), `gw-htdigest-probe-${process.pid}`);
  const r = runHtdigest(['-c', file, 'probe', 'probe'], 'probe');
  rmSync(file, { force: true });
  return r.ok;
}
const haveHtdigest = probeTool();
const inCi = process.env.CI === 'true';
// Outside CI a missing tool only skips; in CI the tests run and fail, so the gap cannot go unseen.
const needsTool =
  haveHtdigest || inCi ? false : 'Apache htdigest not installed (apt-get install apache2-utils); skipped outside CI';

function htdigest(args: string[], password: string): void {
  const r = runHtdigest(args, password);
  if (!r.ok) throw new Error(`htdigest ${args.join(' ')} failed (install apache2-utils?): ${r.detail}`);
}

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

function parseError(text: string, realm?: string, file = '/etc/gw/htdigest'): HtpasswdError {
  try {
    parseHtdigest(text, file, realm);
  } catch (err) {
    assert.ok(err instanceof HtpasswdError, `expected HtpasswdError, got ${String(err)}`);
    assert.equal(err.code, 'GW_HTPASSWD_INVALID');
    assert.doesNotMatch(err.message, /\n/, 'message is a single line');
    return err;
  }
  assert.fail('parseHtdigest accepted the text');
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gw-htdigest-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('Apache htdigest is installed when running in CI', { skip: inCi ? false : 'only enforced when CI=true' }, () => {
  assert.ok(haveHtdigest, 'htdigest (apache2-utils) must be installed in CI');
});

describe('files written by Apache htdigest', { skip: needsTool }, () => {
  test('a line holds md5(user:realm:password), which is what we compute ourselves', async () => {
    const file = path.join(dir, 'one.htdigest');
    htdigest(['-c', file, 'rtorrent', 'sonarr'], 's3cret Pass');
    const text = await readFile(file, 'utf8');
    assert.equal(text.trim(), `sonarr:rtorrent:${md5('sonarr:rtorrent:s3cret Pass')}`);
    const users = parseHtdigest(text, file, 'rtorrent');
    assert.deepEqual([...users], [['sonarr', { realm: 'rtorrent', ha1: { MD5: md5('sonarr:rtorrent:s3cret Pass') } }]]);
  });

  test('a non-ASCII password is hashed as its UTF-8 bytes', async () => {
    const file = path.join(dir, 'utf8.htdigest');
    htdigest(['-c', file, 'rtorrent', 'carol'], 'pässwörd €😀');
    const users = await loadHtdigest(file, 'rtorrent');
    assert.equal(users.get('carol')?.ha1.MD5, md5('carol:rtorrent:pässwörd €😀'));
  });

  test('a file with several users and realms loads only the asked-for realm', async () => {
    const file = path.join(dir, 'mixed.htdigest');
    htdigest(['-c', file, 'rtorrent', 'sonarr'], 'pw-sonarr');
    htdigest([file, 'rtorrent', 'radarr'], 'pw-radarr');
    htdigest([file, 'other', 'sonarr'], 'pw-elsewhere');
    htdigest([file, 'other', 'lidarr'], 'pw-lidarr');
    // Re-adding a user replaces the line in place, as operators do to change a password.
    htdigest([file, 'rtorrent', 'radarr'], 'pw-radarr-2');

    const users = await loadHtdigest(file, 'rtorrent');
    assert.deepEqual([...users.keys()], ['sonarr', 'radarr']);
    assert.equal(users.get('sonarr')?.ha1.MD5, md5('sonarr:rtorrent:pw-sonarr'));
    assert.equal(users.get('radarr')?.ha1.MD5, md5('radarr:rtorrent:pw-radarr-2'));

    const other = await loadHtdigest(file, 'other');
    assert.deepEqual([...other.keys()], ['sonarr', 'lidarr']);
    assert.equal(other.get('sonarr')?.ha1.MD5, md5('sonarr:other:pw-elsewhere'));
  });

  test('a file whose realm differs from ours is refused, naming the realms it has', async () => {
    const file = path.join(dir, 'wrong-realm.htdigest');
    htdigest(['-c', file, 'Private Area', 'sonarr'], 'pw');
    await assert.rejects(loadHtdigest(file, 'rtorrent'), (err: unknown) => {
      assert.ok(err instanceof HtpasswdError);
      assert.equal(err.message, `${file}: no entries for realm "rtorrent"; the file has realm(s) "Private Area"`);
      return true;
    });
  });
});

describe('parseHtdigest', () => {
  const ha1 = md5('alice:rtorrent:pw');

  test('SHA-256 extension lines (64 hex digits) sit next to the MD5 line of the same user', () => {
    const text = [
      `alice:rtorrent:${ha1}`,
      `alice:rtorrent:${sha256('alice:rtorrent:pw')}`,
      `bob:rtorrent:${sha256('bob:rtorrent:pw2').toUpperCase()}`,
    ].join('\n');
    const users = parseHtdigest(text, '/f', 'rtorrent');
    assert.deepEqual(users.get('alice'), { realm: 'rtorrent', ha1: { MD5: ha1, 'SHA-256': sha256('alice:rtorrent:pw') } });
    // Upper-case hex is accepted and stored lower-case, the way clients send digests.
    assert.deepEqual(users.get('bob'), { realm: 'rtorrent', ha1: { 'SHA-256': sha256('bob:rtorrent:pw2') } });
  });

  test('a BOM, CRLF line ends, blank lines and # comments are tolerated', () => {
    const users = parseHtdigest(`\uFEFF# managed by hand\r\n\r\nalice:rtorrent:${ha1}\r\n  \n`, '/f', 'rtorrent');
    assert.deepEqual([...users.keys()], ['alice']);
  });

  test('without a realm filter every entry is kept with its realm', () => {
    const users = parseHtdigest(`alice:one:${ha1}\nbob:two:${ha1}`, '/f');
    assert.equal(users.get('alice')?.realm, 'one');
    assert.equal(users.get('bob')?.realm, 'two');
  });

  test('without a realm filter a user in two realms is ambiguous', () => {
    const err = parseError(`alice:one:${ha1}\nalice:two:${ha1}`);
    assert.equal(err.message, '/etc/gw/htdigest line 2 (user "alice"): user appears in realms "one" and "two"; say which realm to use');
  });

  test('an empty file is an empty user list', () => {
    assert.equal(parseHtdigest('', '/f', 'rtorrent').size, 0);
  });

  test('errors name the file, the line and the user, and never quote the digest', () => {
    const cases: Array<[string, string]> = [
      [`alice:rtorrent`, '/etc/gw/htdigest line 1: expected "user:realm:hash" (3 fields separated by ":"), found 2'],
      [`alice:rtorrent:${ha1}:extra`, '/etc/gw/htdigest line 1: expected "user:realm:hash" (3 fields separated by ":"), found 4'],
      [`:rtorrent:${ha1}`, '/etc/gw/htdigest line 1: empty user name'],
      [`alice::${ha1}`, '/etc/gw/htdigest line 1 (user "alice"): empty realm'],
      [
        `alice:rtorrent:${ha1.slice(1)}`,
        '/etc/gw/htdigest line 1 (user "alice"): not an MD5 (32 hex digits) or SHA-256 (64 hex digits) digest; create it with "htdigest"',
      ],
      [
        `alice:rtorrent:${ha1.slice(1)}z`,
        '/etc/gw/htdigest line 1 (user "alice"): not an MD5 (32 hex digits) or SHA-256 (64 hex digits) digest; create it with "htdigest"',
      ],
      [
        `alice:rtorrent:plain-password`,
        '/etc/gw/htdigest line 1 (user "alice"): not an MD5 (32 hex digits) or SHA-256 (64 hex digits) digest; create it with "htdigest"',
      ],
      [
        `# c\nalice:rtorrent:${ha1}\nalice:rtorrent:${md5('other')}`,
        '/etc/gw/htdigest line 3 (user "alice"): duplicate MD5 entry, already defined on line 2',
      ],
    ];
    for (const [text, message] of cases) {
      const err = parseError(text, 'rtorrent');
      assert.equal(err.message, message);
      assert.ok(!err.message.includes(ha1.slice(4)), 'digest not quoted');
      assert.ok(!err.message.includes('plain-password'), 'password not quoted');
    }
  });

  test('a malformed line in another realm is still an error', () => {
    // The file is one unit; a broken line elsewhere says someone edited it wrongly.
    assert.match(parseError(`alice:rtorrent:${ha1}\nbob:other:nothex`, 'rtorrent').message, /line 2 \(user "bob"\)/);
  });

  test('a realm that the format cannot hold is refused', () => {
    assert.match(parseError(`alice:rtorrent:${ha1}`, 'a:b').message, /realm "a:b" cannot be used with an htdigest file/);
  });

  test('loadHtdigest reports an unreadable file with its path once', async () => {
    const file = path.join(dir, 'missing.htdigest');
    await assert.rejects(loadHtdigest(file, 'rtorrent'), (err: unknown) => {
      assert.ok(err instanceof HtpasswdError);
      assert.equal(err.message, `cannot read htdigest file ${file}: ENOENT: no such file or directory`);
      return true;
    });
  });

  test('loadHtdigest reads what parseHtdigest parses', async () => {
    const file = path.join(dir, 'written.htdigest');
    await writeFile(file, `alice:rtorrent:${ha1}\nbob:elsewhere:${ha1}\n`);
    const users = await loadHtdigest(file, 'rtorrent');
    assert.deepEqual([...users.keys()], ['alice']);
  });
});
