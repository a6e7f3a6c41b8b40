/**
 * `rtorrent-gateway explain`: one call body judged offline for one user, with the verdict, every
 * command the call would run and where, and the policy's reason. Runs the built CLI, as an operator
 * would.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decideCall, type Caller } from '../../src/call-decision.js';
import { compilePolicies } from '../../src/policy/index.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, multicall } from '../helpers/call-tree.js';
import { makeTempDir, removeTempDir, runToEnd as run, type Exited } from '../helpers/processes.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const DOC = new URL('../../docs/policies.md', import.meta.url).pathname;
const H = '0123456789ABCDEF0123456789ABCDEF01234567';

const xml = (methodCall: MethodCall): Buffer => encodeMethodCall(methodCall);

const CONFIG = `
[upstream]
scgi = "unix:/run/rtorrent/scgi.socket"
[auth]
htpasswd = "/etc/rtorrent-gateway/htpasswd"
[access.users]
admin = "full"
viewer = "readonly"
alice = "family"
[policies.family]
extends = "standard"
download_roots = ["/srv/torrents"]
`;

describe('rtorrent-gateway explain', () => {
  let dir: string;
  let config: string;
  /** The body written to a file and passed by name. */
  const explain = async (user: string, body: string | Buffer, ...flags: string[]): Promise<Exited> => {
    const file = join(dir, `call-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, body);
    return run(process.execPath, [CLI, 'explain', '--config', config, '--user', user, ...flags, file]);
  };

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('cli-explain');
    config = join(dir, 'gateway.toml');
    writeFileSync(config, CONFIG);
  });
  after(() => removeTempDir(dir));

  it('is listed under Subcommands in the gateway\'s --help', async () => {
    const result = await run(process.execPath, [CLI, '--help']);
    assert.match(result.stdout, /\nSubcommands:\n(?:.*\n)*? {2}explain CALL +judge CALL/);
  });

  it('allows a read call for a readonly user with exit 0, naming each command, where it sits and why it passes', async () => {
    const result = await explain('viewer', xml(call('d.multicall2', '', 'main', 'd.name=', 'd.hash=')));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'allowed for user "viewer" (policy "readonly")');
    assert.ok(lines.includes('  1. d.multicall2 (top level)'), result.stdout);
    assert.ok(lines.includes('  2. d.name (command in "d.name=", d.multicall2 argument 2)'), result.stdout);
    assert.ok(lines.includes('  3. d.hash (command in "d.hash=", d.multicall2 argument 3)'), result.stdout);
    assert.ok(lines.includes('     allowed: in the allow list of policy "readonly"'), result.stdout);
    assert.ok(lines.includes('changes nothing: the readonly policy allows it too'), result.stdout);
  });

  it('refuses execute.throw with exit 1, giving the policy\'s reason and the fault the gateway answers', async () => {
    const result = await explain('viewer', xml(call('execute.throw', '', 'sh', '-c', 'id')));
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'refused for user "viewer" (policy "readonly"): execute.throw');
    assert.equal(lines[1], '  reason: execute.throw is not in policy "readonly"');
    assert.match(lines[2] ?? '', /^ {2}the gateway answers fault -32403: denied by the gateway: execute\.throw is not allowed for user "viewer"/);
    assert.ok(lines.includes('  1. execute.throw (top level)'), result.stdout);
    assert.ok(lines.includes('     refused: execute.throw is not in policy "readonly"'), result.stdout);
  });

  it('names the d.multicall2 argument whose command string hides execute.throw', async () => {
    const result = await explain('viewer', xml(call('d.multicall2', '', 'main', 'd.name=', 'cat="$execute.throw=touch,/tmp/x"')));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^ {2}reason: d\.multicall2 argument 3 runs "\$execute\.throw=touch,\/tmp\/x": inline command execute\.throw is not allowed in policy "readonly"$/m);
    assert.match(result.stdout, /^ {2}4\. execute\.throw \(inline command in "\$execute\.throw=touch,\/tmp\/x", d\.multicall2 argument 3\)$/m);
  });

  it('names the system.multicall call that is refused, after the calls before it', async () => {
    const body = xml(multicall(call('d.name', H), call('execute.throw', '', 'id'), call('d.hash', H)));
    const result = await explain('viewer', body);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^ {2}reason: system\.multicall call 2 \(execute\.throw\): execute\.throw is not in policy "readonly"$/m);
    assert.match(result.stdout, /^ {2}2\. d\.name \(system\.multicall call 1\)\n {5}allowed: /m);
    assert.match(result.stdout, /^ {2}3\. execute\.throw \(system\.multicall call 2\)\n {5}refused: /m);
  });

  it('names the commands that follow a load.* source and the download_roots that confine them', async () => {
    const magnet = `magnet:?xt=urn:btih:${H}`;
    const inside = await explain('alice', xml(call('load.start', '', magnet, 'd.directory.set=/srv/torrents/tv')));
    assert.equal(inside.code, 0, inside.stdout + inside.stderr);
    assert.match(inside.stdout, /^ {2}2\. d\.directory\.set \(command in "d\.directory\.set=\/srv\/torrents\/tv", run on the new download, load\.start argument 2\)$/m);
    assert.match(inside.stdout, /^ {5}argument: one absolute path inside download_roots \(\/srv\/torrents\)/m);

    const outside = await explain('alice', xml(call('load.start', '', magnet, 'd.directory.set=/root/.ssh')));
    assert.equal(outside.code, 1, outside.stdout + outside.stderr);
    assert.match(outside.stdout, /^ {2}reason: .*"\/root\/\.ssh" is outside the download roots of policy "family" \(\/srv\/torrents\)$/m);
  });

  it('reads a JSON-RPC batch, names the batch entry that is refused and refuses the whole batch', async () => {
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'system.client_version', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'execute.throw', params: ['', 'sh', '-c', 'id'] },
    ]);
    const result = await explain('viewer', `\n  ${batch}`);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^ {2}1\. system\.client_version \(top level, JSON-RPC batch entry 1\)\n {5}allowed: /m);
    assert.match(result.stdout, /^ {2}2\. execute\.throw \(top level, JSON-RPC batch entry 2\)\n {5}refused: execute\.throw is not in policy "readonly"$/m);
  });

  it('judges a single JSON-RPC request like its XML-RPC twin', async () => {
    const json = await explain('viewer', JSON.stringify({ jsonrpc: '2.0', id: 'a', method: 'd.name', params: [H] }));
    const twin = await explain('viewer', xml(call('d.name', H)));
    assert.equal(json.code, 0, json.stderr);
    assert.equal(twin.code, 0, twin.stderr);
    assert.match(json.stdout, /^ {2}1\. d\.name \(top level\)$/m);
  });

  it('reads the body from standard input, without a file name or with -', async () => {
    const body = xml(call('system.client_version'));
    for (const input of [[], ['-']]) {
      const result = await run(process.execPath, [CLI, 'explain', '--config', config, '--user', 'viewer', ...input], { input: body });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^allowed for user "viewer"/);
    }
  });

  it('gives exit 2 and the parser\'s complaint for a body the gateway cannot read', async () => {
    for (const [body, complaint] of [
      ['garbage', /not well-formed XML/],
      ['{"jsonrpc": "2.0", "method": ', /not valid JSON/],
      ['<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><methodCall><methodName>d.name</methodName></methodCall>', /DOCTYPE/i],
    ] as const) {
      const result = await explain('viewer', body);
      assert.equal(result.code, 2, `${body}: ${result.stdout}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^rtorrent-gateway explain: the body is not a call the gateway takes: /);
      assert.match(result.stderr, complaint);
    }
  });

  it('gives exit 2 for an empty body', async () => {
    const result = await run(process.execPath, [CLI, 'explain', '--config', config, '--user', 'viewer']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /empty; the gateway answers 400/);
  });

  it('gives exit 2 for a user who is not in [access.users], naming the users there are', async () => {
    const result = await explain('mallory', xml(call('system.client_version')));
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /user "mallory" is not in \[access\.users\] \(known: admin, viewer, alice\)/);
  });

  it('gives exit 2 for a configuration the gateway would not start with, naming the key', async () => {
    const bad = join(dir, 'bad.toml');
    writeFileSync(bad, `${CONFIG}\n[policies.typo]\nallow = ["d.nmae"]\n`);
    const result = await run(process.execPath, [CLI, 'explain', '--config', bad, '--user', 'viewer'], { input: xml(call('d.name', H)) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /policies\.typo\.allow\[0\]: unknown rtorrent command "d\.nmae"/);
  });

  it('gives exit 2 for a user name the gateway refuses for its policy, as it refuses to start', async () => {
    const bad = join(dir, 'bad-user.toml');
    writeFileSync(bad, CONFIG.replace('[access.users]\n', '[access.users]\n"eve@home" = "tenant"\n'));
    const result = await run(process.execPath, [CLI, 'explain', '--config', bad, '--user', 'viewer'], { input: xml(call('d.name', H)) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /access\.users\.eve@home: policy "tenant" keeps torrents or paths per user/);
  });

  it('lists only the top-level names for full, which forwards what parses', async () => {
    const result = await explain('admin', xml(multicall(call('execute.throw', '', 'id'))));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^commands \(the policy forwards the call as parsed; command strings are not inspected\):$/m);
    assert.match(result.stdout, /^ {2}2\. execute\.throw \(system\.multicall call 1\)$/m);
  });

  it('--json gives the verdict, the refusal and every command with its place', async () => {
    const result = await explain('viewer', xml(call('d.multicall2', '', 'main', 'd.name=', 'cat=$execute.throw=id')), '--json');
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as {
      verdict: string;
      policy: string;
      protocol: string;
      refusal: { code: string; faultCode: number; method: string; reason: string };
      commands: Array<{ command: string; verdict: string; place: { kind: string; method?: string; argument?: number; how?: string } }>;
    };
    assert.equal(report.verdict, 'refused');
    assert.equal(report.policy, 'readonly');
    assert.equal(report.protocol, 'xml-rpc');
    assert.deepEqual([report.refusal.code, report.refusal.faultCode, report.refusal.method], ['GW_POLICY_DENIED', -32403, 'execute.throw']);
    assert.deepEqual(
      report.commands.map((command) => [command.command, command.verdict, command.place.kind, command.place.argument, command.place.how]),
      [
        ['d.multicall2', 'allowed', 'top level', undefined, undefined],
        ['d.name', 'allowed', 'command string', 2, 'command'],
        ['cat', 'allowed', 'command string', 3, 'command'],
        ['execute.throw', 'refused', 'command string', 3, 'inline command'],
      ],
    );
  });

  it('--json says "unusable" with the error code for a body it cannot read', async () => {
    const result = await explain('viewer', '<methodCall>', '--json');
    assert.equal(result.code, 2);
    const report = JSON.parse(result.stdout) as { verdict: string; error: { code: string } };
    assert.deepEqual([report.verdict, report.error.code], ['unusable', 'GW_XMLRPC_INVALID']);
  });

  it('agrees with the gateway\'s own decision for the same user and call', async () => {
    const policies = compilePolicies({ family: { extends: 'standard', download_roots: ['/srv/torrents'] } });
    const calls = [
      call('d.erase', H),
      call('d.directory.set', H, '/srv/torrents/x'),
      call('d.directory.set', H, '/etc'),
      call('f.multicall', H, '', 'f.path='),
      call('branch', H, 'd.is_active=', 'execute.nothrow=id'),
      call('d.multicall2', '', 'main', 'd.name=', '(execute.throw,id)'),
      call('method.insert', '', 'x', 'simple', 'd.name='),
    ];
    for (const [user, name] of [['viewer', 'readonly'], ['alice', 'family']] as const) {
      const caller: Caller = { user, policy: policies.get(name)! };
      for (const methodCall of calls) {
        const decided = decideCall(xml(methodCall), caller);
        const result = await explain(user, xml(methodCall));
        assert.equal(result.code, decided.kind === 'forward' ? 0 : 1, `${user} ${methodCall.methodName}: ${result.stdout}${result.stderr}`);
      }
    }
  });
});

/**
 * The examples of "Checking a call or a policy offline" in docs/policies.md, run as written: each
 * ```sh block in a directory holding the section's gateway.toml, with `rtorrent-gateway` the built
 * CLI, must print the ```text block that follows it. In the text, a line "…" stands for any number
 * of lines, and "…" within a line for any text.
 */
describe('the explain and policies examples in docs/policies.md', () => {
  const SECTION = '## Checking a call or a policy offline';
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf(SECTION);
  const end = text.indexOf('\n## ', start + SECTION.length);
  const section = text.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((match) => ({ kind: match[1] as string, body: match[2] as string }));
  const examples = blocks.flatMap((block, index) => {
    const shown = blocks[index + 1];
    return block.kind === 'sh' && shown?.kind === 'text' ? [{ script: block.body, shown: shown.body }] : [];
  });
  let dir: string;

  before(() => {
    dir = makeTempDir('cli-explain-docs');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'rtorrent-gateway'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'rtorrent-gateway'), 0o755);
    const toml = blocks.filter((block) => block.kind === 'toml').map((block) => block.body);
    const base = '[upstream]\nscgi = "unix:/run/rtorrent/scgi.socket"\n[auth]\nhtpasswd = "/etc/rtorrent-gateway/htpasswd"\n';
    writeFileSync(join(dir, 'gateway.toml'), [base, ...toml].join('\n'));
  });
  after(() => removeTempDir(dir));

  it('has the section, its configuration and examples of both commands', () => {
    assert.ok(start >= 0, `docs/policies.md has no "${SECTION}"`);
    assert.equal(blocks.filter((block) => block.kind === 'toml').length, 1);
    assert.ok(examples.some((example) => /rtorrent-gateway explain /.test(example.script)));
    assert.ok(examples.some((example) => /rtorrent-gateway policies /.test(example.script)));
    assert.equal(examples.length, blocks.filter((block) => block.kind === 'sh').length, 'every ```sh block is followed by its output');
  });

  for (const [index, example] of examples.entries()) {
    const first = example.script.split('\n').find((line) => line.includes('rtorrent-gateway')) ?? '';
    it(`example ${index + 1} prints what the document shows: ${first.trim()}`, async () => {
      const result = await run('sh', ['-c', example.script], { cwd: dir, env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assertShows(result.stdout, example.shown);
    });
  }
});

/** Whether `output` is what `shown` shows, "…" standing for lines or text left out. */
function assertShows(output: string, shown: string): void {
  const actual = output.replace(/\n$/, '').split('\n');
  const expected = shown.replace(/\n$/, '').split('\n');
  const matches = (line: string, pattern: string): boolean =>
    new RegExp(`^${pattern.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(line);
  const from = (i: number, j: number): boolean => {
    if (j === expected.length) return i === actual.length;
    if (expected[j] === '…') return from(i, j + 1) || (i < actual.length && from(i + 1, j));
    return i < actual.length && matches(actual[i] as string, expected[j] as string) && from(i + 1, j + 1);
  };
  assert.ok(from(0, 0), `the output does not match the document.\n--- shown:\n${shown}\n--- printed:\n${output}`);
}
