import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { basicAuth, post } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir, requireBinary, runToEnd, track, type Exited } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { until } from '../helpers/wait.js';
import { CLI, listeningAddress, runCli, stopCli, writeConfig, type CliProcess } from './ops-support.js';

// Apache's own tool is the judge of what the file holds; with CI=true a missing one throws here.
const htpasswdBin = requireBinary('htpasswd');
const scriptBin = requireBinary('script');
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const isRoot = process.getuid?.() === 0;

/** `rtorrent-gateway passwd ARGS` with `stdin` piped in (an empty, closed pipe when not given): never a terminal. */
function passwd(args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<Exited> {
  return runToEnd(process.execPath, [CLI, 'passwd', ...args], { input: options.stdin, env: options.env, uid: options.uid, gid: options.gid });
}

function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `rtorrent-gateway passwd ARGS` on a pseudo-terminal of its own (util-linux `script`), typed into like a person would. */
function onTerminal(args: readonly string[]): { type(text: string): void; output(): string; exited: Promise<number | null> } {
  const command = [process.execPath, CLI, 'passwd', ...args].map(shellWord).join(' ');
  const child = track(spawn(scriptBin as string, ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'dumb' }, stdio: 'pipe' }));
  child.ref();
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { type: (text) => child.stdin.write(text), output: () => output, exited };
}

/** Whether Apache's htpasswd accepts `password` for `user` in `file`. */
function apacheAccepts(file: string, user: string, password: string): boolean {
  const result = spawnSync(htpasswdBin as string, ['-vb', file, user, password], { encoding: 'utf8' });
  if (result.status !== 0 && result.status !== 3) throw new Error(`htpasswd -v failed: ${result.stderr}`);
  return result.status === 0;
}

const mode = (file: string): number => statSync(file).mode & 0o7777;

/** Whether every directory above the built CLI lets other users through, so `nobody` can run it. */
function othersReachTheCli(): boolean {
  for (let path = dirname(CLI); ; path = dirname(path)) {
    if ((statSync(path).mode & 0o001) === 0) return false;
    if (path === dirname(path)) return true;
  }
}

describe('rtorrent-gateway passwd', () => {
  let dir: string;
  let count = 0;
  /** A fresh path in the test's temp dir, so tests do not see each other's files. */
  const freshDir = (): string => {
    const path = join(dir, `case-${++count}`);
    mkdirSync(path);
    return path;
  };

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('passwd');
  });
  after(async () => {
    if (dir) await removeTempDir(dir);
  });

  it('prints its usage with --help and exits 0', async () => {
    const result = await passwd(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: rtorrent-gateway passwd \[--htpasswd FILE \| --config FILE\] \[--stdin\] USER\n/);
    assert.equal(result.stderr, '');
  });

  it('is listed under Subcommands in the gateway\'s --help', async () => {
    const result = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.match(result.stdout, /\nSubcommands:\n(?:.*\n)*?\s+passwd USER\s/);
  });

  describe('writing the htpasswd file', { skip: htpasswdBin === undefined && 'htpasswd (apache2-utils) not installed' }, () => {
    it('creates a missing file with mode 0640 and a bcrypt cost-12 entry that Apache\'s htpasswd verifies', async () => {
      const file = join(freshDir(), 'htpasswd');
      const result = await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'correct horse\n' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `added user admin to ${file}\n`);
      assert.equal(result.stderr, '');
      assert.equal(mode(file), 0o640);
      assert.match(readFileSync(file, 'utf8'), /^admin:\$2b\$12\$[./A-Za-z0-9]{53}\n$/);
      assert.ok(apacheAccepts(file, 'admin', 'correct horse'));
      assert.ok(!apacheAccepts(file, 'admin', 'correct horse\n'));
    });

    it('replaces a user\'s password and keeps every other line, byte for byte, and the file\'s mode', async () => {
      const file = join(freshDir(), 'htpasswd');
      const before = [
        '# users of the gateway',
        `alice:${bcrypt.hashSync('alice-secret', 4)}`,
        '',
        `admin:${bcrypt.hashSync('old-secret', 4)}`,
        '   # indented comment',
        `bob:$apr1$I9TaX7Ad$G8.9hZe2i6kv9h4Xn8Mua.`,
        '',
      ];
      writeFileSync(file, before.join('\n'));
      chmodSync(file, 0o600);
      const result = await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'new-secret\n' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `updated password of user admin in ${file}\n`);
      const afterLines = readFileSync(file, 'utf8').split('\n');
      assert.equal(afterLines.length, before.length);
      afterLines.forEach((line, index) => {
        if (index === 3) assert.match(line, /^admin:\$2b\$12\$/);
        else assert.equal(line, before[index], `line ${index + 1}`);
      });
      assert.equal(mode(file), 0o600);
      assert.ok(apacheAccepts(file, 'admin', 'new-secret'));
      assert.ok(!apacheAccepts(file, 'admin', 'old-secret'));
      assert.ok(apacheAccepts(file, 'alice', 'alice-secret'));
    });

    it('adds a user on a line of its own to a file whose last line has no newline, and keeps CR LF line ends', async () => {
      const file = join(freshDir(), 'htpasswd');
      const alice = `alice:${bcrypt.hashSync('alice-secret', 4)}`;
      writeFileSync(file, `# users\r\n${alice}`);
      const result = await passwd(['--stdin', '--htpasswd', file, 'carol'], { stdin: 'carol-secret' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `added user carol to ${file}\n`);
      assert.match(readFileSync(file, 'utf8'), new RegExp(`^# users\\r\\n${alice.replace(/[$.]/g, '\\$&')}\\r\\ncarol:\\$2b\\$12\\$[^\\r\\n]+\\r\\n$`));
      assert.ok(apacheAccepts(file, 'carol', 'carol-secret'));
    });

    it('leaves no temporary file behind in the directory', async () => {
      const directory = freshDir();
      const file = join(directory, 'htpasswd');
      assert.equal((await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'one\n' })).code, 0);
      assert.equal((await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'two\n' })).code, 0);
      assert.deepEqual(readdirSync(directory), ['htpasswd']);
    });

    it('replaces the file a symbolic link points to, and the link stays a link', async () => {
      const directory = freshDir();
      const real = join(directory, 'real-htpasswd');
      const link = join(directory, 'htpasswd');
      writeFileSync(real, `alice:${bcrypt.hashSync('alice-secret', 4)}\n`);
      symlinkSync(real, link);
      const result = await passwd(['--stdin', '--htpasswd', link, 'admin'], { stdin: 'admin-secret\n' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `added user admin to ${link}\n`);
      assert.deepEqual(readdirSync(directory).sort(), ['htpasswd', 'real-htpasswd']);
      assert.ok(lstatSync(link).isSymbolicLink());
      assert.ok(apacheAccepts(real, 'admin', 'admin-secret'));
      assert.ok(apacheAccepts(real, 'alice', 'alice-secret'));
    });

    it('reads only the first line of --stdin, without its line end (LF or CR LF)', async () => {
      const file = join(freshDir(), 'htpasswd');
      assert.equal((await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'first line\r\nsecond line\n' })).code, 0);
      assert.ok(apacheAccepts(file, 'admin', 'first line'));
    });

    it('takes a non-ASCII password as UTF-8, as htpasswd and the gateway\'s clients do', async () => {
      const file = join(freshDir(), 'htpasswd');
      assert.equal((await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: 'pässwörd ✓\n' })).code, 0);
      assert.ok(apacheAccepts(file, 'admin', 'pässwörd ✓'));
    });

    it('as root, keeps the owner and group of a replaced file, and gives a new file its directory\'s group', { skip: !isRoot && 'needs root' }, async () => {
      const directory = freshDir();
      const existing = join(directory, 'existing');
      writeFileSync(existing, `alice:${bcrypt.hashSync('alice-secret', 4)}\n`);
      chownSync(existing, 65534, 65534);
      assert.equal((await passwd(['--stdin', '--htpasswd', existing, 'admin'], { stdin: 'secret\n' })).code, 0);
      assert.deepEqual([statSync(existing).uid, statSync(existing).gid], [65534, 65534]);

      chownSync(directory, 0, 65534);
      const created = join(directory, 'created');
      assert.equal((await passwd(['--stdin', '--htpasswd', created, 'admin'], { stdin: 'secret\n' })).code, 0);
      assert.deepEqual([statSync(created).uid, statSync(created).gid, mode(created)], [0, 65534, 0o640]);
    });
  });

  describe('refusals, which leave the file as it was', () => {
    let file: string;
    const original = `admin:${bcrypt.hashSync('admin-secret', 4)}\n`;
    before(() => {
      file = join(freshDir(), 'htpasswd');
      writeFileSync(file, original);
    });

    for (const [user, why] of [
      ['', /is empty/],
      ['eve:admin', /contains ":"/],
      ['eve\nadmin', /line break/],
      ['eve\r', /line break/],
      ['#eve', /comment/],
      [' eve', /white space/],
      ['j doe', /white space, which \[access\.users\] does not take/],
      ['e'.repeat(256), /longer than 255 bytes/],
    ] as const) {
      it(`refuses the user name ${JSON.stringify(user.length > 20 ? `${user.slice(0, 5)}…` : user)} with exit code 2`, async () => {
        const result = await passwd(['--stdin', '--htpasswd', file, '--', user], { stdin: 'secret\n' });
        assert.equal(result.code, 2);
        assert.match(result.stderr, /^rtorrent-gateway passwd: USER .*; choose another user name/);
        assert.match(result.stderr, why);
        assert.equal(result.stdout, '');
        assert.equal(readFileSync(file, 'utf8'), original);
      });
    }

    for (const [input, label] of [
      ['', 'nothing'],
      ['\n', 'an empty line'],
    ] as const) {
      it(`refuses an empty password: --stdin with ${label} exits 1`, async () => {
        const result = await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: input });
        assert.equal(result.code, 1);
        assert.equal(result.stderr, 'rtorrent-gateway passwd: the password is empty; nothing was changed\n');
        assert.equal(readFileSync(file, 'utf8'), original);
      });
    }

    it('refuses a password longer than the 72 bytes bcrypt uses, which would make its end count for nothing', async () => {
      const result = await passwd(['--stdin', '--htpasswd', file, 'admin'], { stdin: `${'é'.repeat(37)}\n` });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /74 bytes long in UTF-8, and bcrypt uses only the first 72/);
      assert.equal(readFileSync(file, 'utf8'), original);
    });

    it('without --stdin and without a terminal, refuses to read a password and says to use --stdin (exit 2)', async () => {
      const result = await passwd(['--htpasswd', file, 'admin'], { stdin: 'secret\n' });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /standard input is not a terminal.*--stdin/);
      assert.equal(readFileSync(file, 'utf8'), original);
    });

    it('names a missing directory and how to create it, before reading a password (exit 1)', async () => {
      const missing = join(dir, 'no-such-dir', 'etc');
      // No password on stdin at all: the directory is what gets reported.
      const result = await passwd(['--stdin', '--htpasswd', join(missing, 'htpasswd'), 'admin']);
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `rtorrent-gateway passwd: cannot create ${join(missing, 'htpasswd')}: its directory ${missing} does not exist; ` +
          `create it first (mkdir -p ${missing}, or install -d -m 0750 ${missing} so only its owner and group may look inside)\n`,
      );
      assert.ok(!existsSync(join(dir, 'no-such-dir')));
    });

    it('short of root, refuses before reading a password when it cannot create files beside the file, or does not own it', {
      skip: !(isRoot && othersReachTheCli()) && 'needs root, and a checkout that other users can reach, to run as nobody',
    }, async () => {
      const directory = freshDir();
      chmodSync(directory, 0o755);
      chmodSync(dir, 0o755);
      const owned = join(directory, 'htpasswd');
      writeFileSync(owned, original, { mode: 0o644 });
      const asNobody = { uid: 65534, gid: 65534 };

      const readOnlyDir = await passwd(['--stdin', '--htpasswd', owned, 'admin'], asNobody);
      assert.equal(readOnlyDir.code, 1);
      assert.match(readOnlyDir.stderr, new RegExp(`cannot write ${owned}: no permission to create files in ${directory} .*; run as root or as the directory's owner`));

      chownSync(directory, 65534, 65534);
      const notOwner = await passwd(['--stdin', '--htpasswd', owned, 'admin'], asNobody);
      assert.equal(notOwner.code, 1);
      assert.match(notOwner.stderr, new RegExp(`${owned} belongs to uid 0; replacing it as uid 65534 would change its owner: run as root or as its owner`));
      assert.equal(readFileSync(owned, 'utf8'), original);
    });

    it('refuses a directory given as the file, suggesting a file inside it', async () => {
      const directory = freshDir();
      const result = await passwd(['--stdin', '--htpasswd', directory, 'admin'], { stdin: 'secret\n' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`${directory} is a directory; name the htpasswd file inside it, e\\.g\\. ${directory}/htpasswd`));
    });

    it('refuses a file that already defines the user twice, naming the lines, since the gateway would refuse it', async () => {
      const doubled = join(freshDir(), 'htpasswd');
      const text = `admin:${bcrypt.hashSync('a', 4)}\n# note\nadmin:${bcrypt.hashSync('b', 4)}\n`;
      writeFileSync(doubled, text);
      const result = await passwd(['--stdin', '--htpasswd', doubled, 'admin'], { stdin: 'secret\n' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /defines user "admin" on lines 1, 3, which the gateway refuses; delete all but one of them/);
      assert.equal(readFileSync(doubled, 'utf8'), text);
    });

    for (const [args, why] of [
      [['--stdin', '--htpasswd', 'FILE'], /name the USER/],
      [['--stdin', '--htpasswd', 'FILE', 'alice', 'bob'], /one USER at a time, got 2: alice bob/],
      [['--stdin', '--htpasswd', 'FILE', '--cost', '4', 'alice'], /Unknown option '--cost'/],
      [['--stdin', '--htpasswd', 'FILE', '--config', 'gateway.toml', 'alice'], /either --htpasswd or --config, not both/],
      [['--stdin', 'alice'], /name the htpasswd file with --htpasswd FILE, or the gateway's config with --config FILE \(or RTORRENT_GATEWAY_CONFIG\)/],
    ] as const) {
      it(`exits 2 and points to --help on a usage mistake: ${args.join(' ')}`, async () => {
        const result = await passwd(args.map((arg) => (arg === 'FILE' ? file : arg)), { stdin: 'secret\n' });
        assert.equal(result.code, 2);
        assert.match(result.stderr, why);
        assert.match(result.stderr, /; see rtorrent-gateway passwd --help\n$/);
        assert.equal(readFileSync(file, 'utf8'), original);
      });
    }
  });

  describe('finding the file through the gateway\'s config', { skip: htpasswdBin === undefined && 'htpasswd (apache2-utils) not installed' }, () => {
    let configDir: string;
    let config: string;
    let htpasswd: string;
    before(() => {
      configDir = freshDir();
      config = join(configDir, 'gateway.toml');
      htpasswd = join(configDir, 'users.htpasswd');
      writeConfig(config, { listen: '127.0.0.1:0', upstream: 'unix:/nonexistent/scgi.socket', htpasswd, users: { admin: 'full' } });
    });

    it('--config FILE: writes the file its auth.htpasswd names', async () => {
      const result = await passwd(['--stdin', '--config', config, 'admin'], { stdin: 'from-config\n' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `added user admin to ${htpasswd}\n`);
      assert.ok(apacheAccepts(htpasswd, 'admin', 'from-config'));
    });

    it('RTORRENT_GATEWAY_CONFIG names the config when no flag does, as for the gateway itself', async () => {
      const result = await passwd(['--stdin', 'admin'], { stdin: 'from-env\n', env: { RTORRENT_GATEWAY_CONFIG: config } });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `updated password of user admin in ${htpasswd}\n`);
      assert.ok(apacheAccepts(htpasswd, 'admin', 'from-env'));
    });

    it('RTORRENT_GATEWAY_AUTH_HTPASSWD wins over the file\'s auth.htpasswd, as for the gateway itself', async () => {
      const other = join(configDir, 'other.htpasswd');
      const result = await passwd(['--stdin', '--config', config, 'admin'], { stdin: 'env-file\n', env: { RTORRENT_GATEWAY_AUTH_HTPASSWD: other } });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `added user admin to ${other}\n`);
    });

    it('reminds that the htdigest file, when the config has one, keeps the old password', async () => {
      const withDigest = join(configDir, 'digest.toml');
      writeConfig(withDigest, { listen: '127.0.0.1:0', upstream: 'unix:/x', htpasswd, users: { admin: 'full' } });
      writeFileSync(withDigest, readFileSync(withDigest, 'utf8').replace('[auth]\n', `[auth]\nhtdigest = "${join(configDir, 'htdigest')}"\nrealm = "my box"\n`));
      const result = await passwd(['--stdin', '--config', withDigest, 'admin'], { stdin: 'digest-too\n' });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`htdigest ${join(configDir, 'htdigest')} 'my box' admin\\n$`));
    });

    it('names the config file when it cannot be read (exit 1)', async () => {
      const missing = join(configDir, 'missing.toml');
      const result = await passwd(['--stdin', '--config', missing, 'admin'], { stdin: 'secret\n' });
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `rtorrent-gateway passwd: ${missing}: cannot read the config file: file not found\n`);
    });
  });

  describe('on a terminal', { skip: (htpasswdBin === undefined || scriptBin === undefined) && 'htpasswd (apache2-utils) or script (util-linux) not installed' }, () => {
    it('asks twice without echoing what is typed, and writes the password when both match', async () => {
      const file = join(freshDir(), 'htpasswd');
      const terminal = onTerminal(['--htpasswd', file, 'admin']);
      assert.ok(await until(() => terminal.output().includes('New password for admin: '), 10_000), terminal.output());
      terminal.type('typo\u007f\u007f\u007f\u007ftyped secret\r');
      assert.ok(await until(() => terminal.output().includes('Re-type the new password: '), 10_000), terminal.output());
      terminal.type('typed secret\r');
      assert.equal(await terminal.exited, 0, terminal.output());
      assert.match(terminal.output(), new RegExp(`added user admin to ${file}`));
      assert.doesNotMatch(terminal.output(), /typed|secret|typo/);
      assert.ok(apacheAccepts(file, 'admin', 'typed secret'));
    });

    it('refuses when the two passwords differ, and changes nothing', async () => {
      const file = join(freshDir(), 'htpasswd');
      const terminal = onTerminal(['--htpasswd', file, 'admin']);
      assert.ok(await until(() => terminal.output().includes('New password for admin: '), 10_000), terminal.output());
      // Both answers at once, as a paste would send them: the second is not lost.
      terminal.type('one\rtwo\r');
      assert.equal(await terminal.exited, 1, terminal.output());
      assert.match(terminal.output(), /the two passwords do not match; nothing was changed/);
      assert.ok(!existsSync(file));
    });

    it('stops on Ctrl-C with exit code 130, and changes nothing', async () => {
      const file = join(freshDir(), 'htpasswd');
      const terminal = onTerminal(['--htpasswd', file, 'admin']);
      assert.ok(await until(() => terminal.output().includes('New password for admin: '), 10_000), terminal.output());
      terminal.type('half\u0003');
      assert.equal(await terminal.exited, 130, terminal.output());
      assert.match(terminal.output(), /interrupted; nothing was changed/);
      assert.ok(!existsSync(file));
    });
  });

  describe('the gateway lets in a user set this way', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    let gateway: CliProcess | undefined;
    before(async () => {
      rtorrent = await startRtorrent({ name: 'passwd' });
    });
    after(async () => {
      if (gateway) await stopCli(gateway);
      await rtorrent?.stop();
    });

    it('authenticates the user with the password set, refuses the old one after a change and a reload', async () => {
      const configDir = freshDir();
      const config = join(configDir, 'gateway.toml');
      writeConfig(config, { listen: '127.0.0.1:0', upstream: `unix:${rtorrent.socketPath}`, htpasswd: join(configDir, 'htpasswd'), users: { admin: 'full' } });
      assert.equal((await passwd(['--stdin', '--config', config, 'admin'], { stdin: 'first-secret\n' })).code, 0);

      gateway = runCli(['--config', config]);
      const base = await listeningAddress(gateway);
      const version = (password: string) => post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', password) });
      const answer = await version('first-secret');
      assert.equal(answer.status, 200);
      assert.match(answer.body.toString(), /<string>0\.9\.8<\/string>/);
      assert.equal((await version('wrong')).status, 401);

      assert.equal((await passwd(['--stdin', '--config', config, 'admin'], { stdin: 'second-secret\n' })).code, 0);
      const from = gateway.lines().length;
      gateway.child.kill('SIGHUP');
      await gateway.waitForLine((line) => line.msg === 'configuration reloaded', { from });
      assert.equal((await version('second-secret')).status, 200);
      assert.equal((await version('first-secret')).status, 401);
    });
  });
});
