/**
 * `rtorrent-gateway policies`: the built-in and configured policies, and what one of them allows,
 * refuses and confines, read off the policies the gateway compiles. What it says a policy allows
 * must be what `explain` (and so the gateway) allows.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILTIN_POLICY_NAMES, compilePolicies } from '../../src/policy/index.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { call, multicall } from '../helpers/call-tree.js';
import { makeTempDir, removeTempDir, runToEnd, type Exited } from '../helpers/processes.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const H = '0123456789ABCDEF0123456789ABCDEF01234567';

function cli(args: readonly string[]): Promise<Exited> {
  return runToEnd(process.execPath, [CLI, ...args]);
}

/** What `policies NAME --json` says, in the parts these tests read. */
interface Described {
  name: string;
  basedOn: string[];
  inspected: boolean;
  allowsAll: boolean;
  topLevel: string[];
  refused: string[];
  deny: string[];
  downloadRoots: string[];
  argumentRules: Array<{ command: string; rule: string }>;
  loadSources?: string;
  limits: { maxAnswerCells?: { value: number; key: string } };
  users: string[];
}

const CONFIG = `
[upstream]
scgi = "unix:/run/rtorrent/scgi.socket"
[auth]
htpasswd = "/etc/rtorrent-gateway/htpasswd"
[access.users]
admin = "full"
viewer = "readonly"
alice = "family"
ops = "careful"
[policies.family]
extends = "standard"
download_roots = ["/srv/torrents"]
max_answer_cells = 100000
[policies.careful]
extends = "full"
deny = ["execute.throw", "execute.nothrow"]
`;

describe('rtorrent-gateway policies', () => {
  let dir: string;
  let config: string;
  const explain = async (user: string, body: Buffer, configFile = config): Promise<Exited> => {
    const file = join(dir, `call-${Math.random().toString(36).slice(2)}.xml`);
    writeFileSync(file, body);
    return cli(['explain', '--config', configFile, '--user', user, file]);
  };
  const described = async (name: string, ...flags: string[]): Promise<Described> => {
    const result = await cli(['policies', name, '--json', ...flags]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Described;
  };

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('cli-policies');
    config = join(dir, 'gateway.toml');
    writeFileSync(config, CONFIG);
  });
  after(() => removeTempDir(dir));

  it('is listed under Subcommands in the gateway\'s --help', async () => {
    const result = await cli(['--help']);
    assert.match(result.stdout, /\nSubcommands:\n(?:.*\n)*? {2}policies \[NAME\] +list the policies/);
  });

  it('lists every built-in policy, one line each, without a config', async () => {
    const result = await cli(['policies']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'built-in policies:');
    for (const name of BUILTIN_POLICY_NAMES) {
      assert.equal(lines.filter((line) => new RegExp(`^ {2}${name.replace('.', '\\.')} +\\S`).test(line)).length, 1, `${name}:\n${result.stdout}`);
    }
    assert.match(result.stdout, /^ {2}full +any command, forwarded as parsed without inspection$/m);
    assert.match(result.stdout, /^ {2}readonly +\d+ commands, reads only; adds no torrents$/m);
    assert.match(result.stdout, /^ {2}standard +\d+ commands, \d+ beyond what readonly allows; adds torrents from magnet, http, https, data, raw$/m);
    assert.doesNotMatch(result.stdout, /policies of the config/);
  });

  it('with --config also lists the config\'s own policies, what they are based on, and who uses each', async () => {
    const result = await cli(['policies', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^policies of the config:\n {2}family +based on standard; \d+ commands, .*; download_roots \/srv\/torrents \(users: alice\)\n {2}careful +based on full; any command but 2 denied \(execute\.nothrow, execute\.throw\) \(users: ops\)$/m);
    assert.match(result.stdout, /^ {2}readonly +.*\(users: viewer\)$/m);
  });

  it('--json lists each policy with its summary', async () => {
    const result = await cli(['policies', '--json', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    const list = JSON.parse(result.stdout) as Array<{ name: string; builtin: boolean; basedOn: string[]; summary: string; users: string[] }>;
    assert.deepEqual(list.map((entry) => entry.name), [...BUILTIN_POLICY_NAMES, 'family', 'careful']);
    const family = list.find((entry) => entry.name === 'family')!;
    assert.deepEqual([family.builtin, family.basedOn, family.users], [false, ['standard'], ['alice']]);
    assert.match(family.summary, /^based on standard; \d+ commands, /);
  });

  it('shows one policy: what it is built on, its allow list by prefix, its confinements and limits', async () => {
    const result = await cli(['policies', 'family', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 3), ['policy family', 'users: alice', 'based on: standard']);
    assert.match(result.stdout, /^allows as a call \(top level or system\.multicall call\), \d+ commands:\n {2}without a prefix \(\d+\): and, branch, cat,/m);
    assert.match(result.stdout, /^ {2}from the allow list of "standard" \(\d+ names\)$/m);
    assert.match(result.stdout, /^download_roots: \/srv\/torrents$/m);
    assert.match(result.stdout, /^ {2}d\.directory\.set: one absolute path inside download_roots \(\/srv\/torrents\), without "\.\." segments$/m);
    assert.match(result.stdout, /^ {2}d\.tied_to_file\.set: only "" \(untie\)$/m);
    assert.match(result.stdout, /^answers: 100000 cells \(policies\.family\.max_answer_cells\), 67108864 bytes \(limits\.max_answer_bytes\)$/m);
    assert.match(result.stdout, /^loads: sources magnet, http, https, data, raw\n {2}followed only by d\.connection_seed\.set, d\.custom\.set,/m);
  });

  it('says of full that it allows anything and looks no further', async () => {
    const result = await cli(['policies', 'full']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'policy full (built-in)\nbased on: no other policy\nallows: any command; the call is parsed strictly and forwarded without inspection (no limits on cost)\n',
    );
  });

  for (const name of ['readonly', 'arr', 'monitoring']) {
    it(`every command it lists for ${name} is allowed by explain, and every one it refuses the policy refuses`, async () => {
      const about = await described(name);
      assert.ok(about.topLevel.includes('system.multicall'));
      // Commands whose arguments are checked are called with arguments of their own below.
      const confined = new Set([...about.argumentRules.map((rule) => rule.command), 'system.multicall']);
      const plain = about.topLevel.filter((command) => !confined.has(command) && !command.startsWith('load.'));
      const probe = join(dir, `probe-${name}.toml`);
      writeFileSync(probe, `${CONFIG}\n[access.users.probe]\npolicy = "${name}"\n`);
      const result = await explain('probe', encodeMethodCall(multicall(...plain.map((command) => call(command, '')))), probe);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(result.stdout.split('\n').filter((line) => /^ {2}\d+\. .* \(system\.multicall call \d+\)$/.test(line)).length, plain.length);

      assert.ok(about.refused.includes('execute.throw'));
      const policy = compilePolicies({}).get(name)!;
      const allowed = about.refused.filter((command) => policy.check(call(command, '')).allowed);
      assert.deepEqual(allowed, [], 'listed as refused, yet allowed');
      const refused = await explain('probe', encodeMethodCall(call('execute.throw', '', 'id')), probe);
      assert.equal(refused.code, 1);
    });
  }

  it('the confinements it shows are the ones explain applies', async () => {
    const about = await described('family', '--config', config);
    assert.deepEqual(about.downloadRoots, ['/srv/torrents']);
    assert.ok(about.topLevel.includes('d.directory.set'));
    assert.equal(about.limits.maxAnswerCells?.key, 'policies.family.max_answer_cells');
    assert.equal((await explain('alice', encodeMethodCall(call('d.directory.set', H, '/srv/torrents/tv')))).code, 0);
    assert.equal((await explain('alice', encodeMethodCall(call('d.directory.set', H, '/srv/other')))).code, 1);
    // readonly lists no d.directory.set at all, and explain refuses it there.
    assert.ok(!(await described('readonly')).topLevel.includes('d.directory.set'));
    assert.equal((await explain('viewer', encodeMethodCall(call('d.directory.set', H, '/srv/torrents/tv')))).code, 1);
  });

  it('a policy built on full that denies commands: any command but those, everywhere', async () => {
    const about = await described('careful', '--config', config);
    assert.deepEqual([about.allowsAll, about.inspected, about.basedOn, about.deny], [true, true, ['full'], ['execute.nothrow', 'execute.throw']]);
    const text = await cli(['policies', 'careful', '--config', config]);
    assert.match(text.stdout, /^allows: any command but the denied ones, at the top level and in command strings\ndenied everywhere: execute\.nothrow, execute\.throw$/m);
    assert.equal((await explain('ops', encodeMethodCall(call('d.multicall2', '', 'main', 'd.name=')))).code, 0);
    const hidden = await explain('ops', encodeMethodCall(call('d.multicall2', '', 'main', 'cat=$execute.throw=id')));
    assert.equal(hidden.code, 1);
    assert.match(hidden.stdout, /inline command execute\.throw is not allowed in policy "careful"/);
  });

  it('gives exit 2 for a policy that does not exist, naming those that do', async () => {
    const result = await cli(['policies', 'fulll']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^rtorrent-gateway policies: no policy "fulll" \(known: full, standard, readonly,/);
  });

  it('gives exit 2 for a configuration the gateway would not start with', async () => {
    const bad = join(dir, 'bad.toml');
    writeFileSync(bad, `${CONFIG}\n[policies.loop]\nextends = "loop"\n`);
    const result = await cli(['policies', '--config', bad]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /policies\.loop\.extends: cycle loop -> loop/);
  });
});
