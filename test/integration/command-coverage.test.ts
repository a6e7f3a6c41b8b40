/**
 * The gateway knows every command a real rtorrent answers to system.listMethods, and every built-in
 * policy but full has a deliberate verdict on each: allowed as test/helpers/command-verdicts.ts
 * records, or refused. Asked of the current release (0.16.20) and of Debian's 0.9.8. In CI a missing
 * build fails the file instead of skipping it (currentRtorrent() and requireBinary() throw there).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  FROM_0_16_20_LISTMETHODS,
  FROM_0_9_8_LISTMETHODS,
  FROM_JESEC,
  FROM_MASTER_MACROS,
  RTORRENT_0_9_8,
  RTORRENT_MASTER,
} from '../../src/policy/command-names.data.js';
import { isKnownCommand } from '../../src/policy/command-names.js';
import { currentRtorrent, debianRtorrent, startRtorrent, type RtorrentBuild, type RtorrentInstance } from '../helpers/rtorrent.js';
import { XmlRpcFault } from '../helpers/scgi-direct.js';
import { ALLOWED_BY, builtinVerdicts, CLASSIFIED_POLICIES, dangerWhy } from '../helpers/command-verdicts.js';

const allows = builtinVerdicts();

/** Names every other data list holds: what 0.16.20 lists beyond them is FROM_0_16_20_LISTMETHODS. */
const OLDER_LISTS = new Set([...RTORRENT_0_9_8, ...RTORRENT_MASTER, ...FROM_0_9_8_LISTMETHODS, ...FROM_MASTER_MACROS, ...FROM_JESEC]);

/** The 0.16.20 names docs/policies.md lists as running programs, touching files or the network. */
const NEW_IN_0_16_20_DANGEROUS = [
  'log.print', 'log.open_file.flush', 'log.append_file', 'log.append_file.flush', 'log.append_gz_file', 'log.rpc',
  'network.scgi.open_systemd', 'network.scgi.use_gzip.set', 'network.scgi.gzip.min_size.set', 'network.rpc.use_xmlrpc.set',
  'network.rpc.use_jsonrpc.set', 'directory.watch.ready', 'schedule.remove', 'network.proxy.global.set',
  'network.proxy.http.set', 'magnet.path.set',
];

/** Plain getters of 0.16.20 that the read policies took on; each must answer without a fault. */
const NEW_IN_0_16_20_GETTERS = [
  'dht.override_port', 'magnet.path', 'network.block.ipv4', 'network.block.ipv4in6', 'network.block.ipv6',
  'network.block.outgoing', 'network.scgi.gzip.min_size', 'network.scgi.use_gzip', 'protocol.encryption.handshake',
  'protocol.encryption.stream', 'system.files.advise_random', 'system.files.advise_random.hashing',
  'system.files.session.fdatasync',
];

const words = (names: readonly string[]): string => names.join(' ');

type ReleaseTests = (listed: () => readonly string[], rt: () => RtorrentInstance) => void;

function describeRelease(label: string, build: RtorrentBuild | undefined, extra: ReleaseTests): void {
  const skip = build === undefined && `rtorrent ${label} is not installed here`;
  describe(`rtorrent ${label}: every name system.listMethods answers`, { skip }, () => {
    let rt: RtorrentInstance | undefined;
    let names: string[] = [];
    before(async () => {
      rt = await startRtorrent({ build: build!, name: `coverage-${label}` });
      const answer = await rt.call('system.listMethods');
      assert.ok(Array.isArray(answer));
      names = answer.map(String);
    });
    after(async () => {
      await rt?.stop();
    });

    test('is a command the gateway knows, so a policy may name it', () => {
      assert.ok(names.length > 700, `only ${names.length} names`);
      const unknown = names.filter((name) => !isKnownCommand(name));
      assert.deepEqual(unknown, [], `add to src/policy/command-names.data.ts: ${words(unknown)}`);
    });

    test('has its verdicts recorded in test/helpers/command-verdicts.ts', () => {
      const unplaced = names.filter((name) => !ALLOWED_BY.has(name));
      assert.deepEqual(unplaced, [], `place in a verdict group: ${words(unplaced)}`);
    });

    test('is allowed by exactly the built-ins its group names, and refused by every other one but full', () => {
      const differing: string[] = [];
      for (const name of names) {
        for (const policy of CLASSIFIED_POLICIES) {
          const expected = ALLOWED_BY.get(name)?.has(policy) ?? false;
          if (allows(policy, name) !== expected) differing.push(`${policy} ${expected ? 'refuses' : 'allows'} ${name}`);
        }
      }
      assert.deepEqual(differing, []);
    });

    test('that runs programs, touches files or reconfigures rtorrent is refused by every built-in but full', () => {
      const dangerous = names.filter((name) => dangerWhy(name) !== undefined);
      assert.ok(dangerous.includes('execute.throw') && dangerous.includes('import'), words(dangerous));
      const reached = dangerous.flatMap((name) => CLASSIFIED_POLICIES.filter((policy) => allows(policy, name)).map((policy) => `${policy}: ${name}`));
      assert.deepEqual(reached, []);
    });

    extra(() => names, () => rt!);
  });
}

describeRelease('0.16.20', currentRtorrent(), (listed, rt) => {
  test('beyond the older data lists, is exactly FROM_0_16_20_LISTMETHODS', () => {
    const beyond = listed().filter((name) => !OLDER_LISTS.has(name)).sort();
    assert.deepEqual(beyond, [...FROM_0_16_20_LISTMETHODS].sort(), `regenerate FROM_0_16_20_LISTMETHODS as: ${words(beyond)}`);
  });

  test('includes the new names that run programs or touch files, which docs/policies.md gives verdicts for', () => {
    assert.deepEqual(NEW_IN_0_16_20_DANGEROUS.filter((name) => !listed().includes(name)), []);
    for (const name of NEW_IN_0_16_20_DANGEROUS) assert.ok(dangerWhy(name) !== undefined, name);
  });

  test('no longer includes the 0.9.8 spellings that now need -D, nor file.append', () => {
    for (const name of ['execute2', 'schedule2', 'schedule_remove2', 'file.append']) assert.ok(!listed().includes(name), name);
  });

  test('includes private names, which its XML-RPC still refuses to call directly', async () => {
    for (const name of ['argument.0', 'd.state.set', 'd.connection_seed.set']) {
      assert.ok(listed().includes(name), name);
      await assert.rejects(rt().call(name, ['']), (error: unknown) => error instanceof XmlRpcFault && error.faultCode === -506, name);
    }
  });

  test('the getters the read policies took on answer a plain value', async () => {
    for (const name of NEW_IN_0_16_20_GETTERS) {
      assert.ok(listed().includes(name), name);
      assert.ok(allows('readonly', name), name);
      const value = await rt().call(name, ['']);
      assert.ok(typeof value === 'number' || typeof value === 'string', `${name} answered ${JSON.stringify(value)}`);
    }
  });
});

describeRelease('0.9.8', debianRtorrent(), (listed) => {
  test('holds no name beyond the source lists and FROM_0_9_8_LISTMETHODS, which was taken from it', () => {
    const taken = new Set([...RTORRENT_0_9_8, ...RTORRENT_MASTER, ...FROM_0_9_8_LISTMETHODS]);
    assert.deepEqual(listed().filter((name) => !taken.has(name)), []);
  });
});
