/**
 * Many users, one rtorrent (policy scope = "own", the built-in `tenant`): two tenants and an admin on
 * a real rtorrent of each release. Each tenant adds torrents over HTTP, an SCGI listener and (on
 * releases that speak it) JSON-RPC, sees only those, and every attempt on the other's torrents
 * answers exactly as a hash rtorrent does not hold, changing nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call as treeCall, multicall } from '../helpers/call-tree.js';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, type RtorrentBuild, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, scgiRequest, xmlCall, XmlRpcFault, type XmlParam } from '../helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes } from '../helpers/torrents.js';
import { RUTORRENT_LIST, RUTORRENT_SETTINGS_GETTERS } from '../helpers/client-calls.js';
import { untilAnswered } from '../helpers/wait.js';
import { withStack } from '../helpers/stack.js';

const execFileAsync = promisify(execFile);
// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const OWNER_KEY = 'gateway.owner';
const UNKNOWN_HASH = 'F00DF00DF00DF00DF00DF00DF00DF00DF00DF00D';

for (const build of haveRtorrent ? rtorrentBuilds() : []) describe(`tenants on one rtorrent ${build.version} (scope = "own")`, { timeout: 120_000 }, () => suite(build));

function suite(build: RtorrentBuild): void {
  const jsonrpc = build.version !== '0.9.8';
  let rtorrent: RtorrentInstance;
  let gateway: GatewayTestInstance;
  let listener: string;
  let roots: string;
  const torrent = (index: number): { bytes: Buffer; hash: string } => {
    const bytes = makeTorrentBytes(index, { seed: `tenants-${build.version}` });
    return { bytes, hash: infoHashOf(bytes) };
  };
  const aliceHttp = torrent(1);
  const bobHttp = torrent(2);
  const aliceScgi = torrent(3);
  const aliceJson = torrent(4);
  let untagged: string;

  const USERS = {
    alice: { password: 'alice-secret', policy: 'tenant-roots' },
    bob: { password: 'bob-secret', policy: 'tenant-roots' },
    admin: { password: 'admin-secret', policy: 'full' },
  };
  type User = keyof typeof USERS;
  const auth = (user: User): string => basicAuth(user, USERS[user].password);

  async function call(user: User, method: string, params: readonly XmlParam[] = []): Promise<unknown> {
    const response = await post(gateway.url(), xmlCall(method, params), { authorization: auth(user) });
    return decodeXmlRpcResponse(response.body);
  }
  async function fault(user: User, method: string, params: readonly XmlParam[] = []): Promise<XmlRpcFault> {
    try {
      await call(user, method, params);
    } catch (error) {
      if (error instanceof XmlRpcFault) return error;
      throw error;
    }
    assert.fail(`${user}'s ${method} was answered, not refused`);
  }
  async function multicallOf(user: User, ...calls: MethodCall[]): Promise<unknown[]> {
    const response = await post(gateway.url(), encodeMethodCall(multicall(...calls)), { authorization: auth(user) });
    return decodeXmlRpcResponse(response.body) as unknown[];
  }
  const listOf = async (user: User): Promise<string[]> => ((await call(user, 'd.multicall2', ['', 'main', 'd.hash='])) as string[][]).map(([hash]) => hash as string).sort();
  /** What rtorrent itself answers for a hash it does not hold, asked directly. */
  async function unknownHashFault(method: string, params: readonly XmlParam[]): Promise<XmlRpcFault> {
    try {
      await rtorrent.call(method, params);
    } catch (error) {
      if (error instanceof XmlRpcFault) return error;
      throw error;
    }
    assert.fail(`rtorrent answered ${method} for an unknown hash`);
  }
  const held = async (): Promise<string[]> => ((await rtorrent.call('download_list', ['', 'main'])) as string[]).sort();

  const stack = withStack({
    rtorrent: { build, torrents: 1, name: 'tenants' },
    gateway: (_rtorrent, dir) => {
      roots = join(dir, 'data');
      for (const user of ['alice', 'bob']) mkdirSync(join(roots, user), { recursive: true });
      listener = join(dir, 'alice-flood.sock');
      return {
        users: USERS,
        upstreamToml: `timeout = "10s"${jsonrpc ? '\njsonrpc = true' : ''}`,
        extraToml: [
          '[policies.tenant-roots]',
          'extends = "tenant"',
          `download_roots = ["${roots}/{user}"]`,
          '[[scgi.listeners]]',
          `listen = "unix:${listener}"`,
          'user = "alice"',
          'mode = "0600"',
          '[limits]',
          'call_rate = 0',
        ].join('\n'),
      };
    },
  });

  before(async () => {
    rtorrent = stack.rtorrent;
    gateway = stack.gateway;
    [untagged] = rtorrent.infoHashes as [string];
    // Each tenant adds through a different door; stopped loads, so nothing announces.
    await call('alice', 'load.raw', ['', aliceHttp.bytes]);
    await call('bob', 'load.raw', ['', bobHttp.bytes, 'd.custom1.set=bobs']);
    const viaListener = await scgiRequest({ path: listener }, xmlCall('load.raw', ['', aliceScgi.bytes]));
    decodeXmlRpcResponse(viaListener.body);
    if (jsonrpc) {
      const response = await post(
        gateway.url(),
        // JSON strings cannot carry a .torrent's bytes; clients add by magnet there.
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'load.normal', params: ['', `magnet:?xt=urn:btih:${aliceJson.hash}`] }),
        { authorization: auth('alice'), 'content-type': 'application/json' },
      );
      assert.equal(response.status, 200, response.body.toString());
    }
    const expected = 1 + 3 + (jsonrpc ? 1 : 0);
    assert.ok(await untilAnswered(async () => (await held()).length === expected, 10_000), 'every load reached rtorrent');
  });

  describe('ownership', () => {
    it('tags every torrent a tenant adds with its owner, whichever door it came through', async () => {
      for (const [hash, owner] of [
        [aliceHttp.hash, 'alice'],
        [bobHttp.hash, 'bob'],
        [aliceScgi.hash, 'alice'],
        ...(jsonrpc ? [[aliceJson.hash, 'alice']] : []),
      ] as [string, string][]) {
        assert.equal(await rtorrent.call('d.custom', [hash, OWNER_KEY]), owner, hash);
      }
      assert.equal(await rtorrent.call('d.custom', [untagged, OWNER_KEY]), '', 'a torrent from before belongs to no tenant');
    });

    it('cannot claim another tenant\'s torrent by adding the same torrent again', async () => {
      // rtorrent takes both loads (0) and then keeps the torrent it already has.
      assert.equal(await call('alice', 'load.raw', ['', bobHttp.bytes]), 0);
      assert.equal(await call('alice', 'load.normal', ['', `magnet:?xt=urn:btih:${bobHttp.hash}`]), 0);
      // A load is answered before rtorrent has finished with it; a read through the same socket
      // queues behind it.
      await rtorrent.call('system.client_version');
      assert.equal(await rtorrent.call('d.custom', [bobHttp.hash, OWNER_KEY]), 'bob');
      assert.deepEqual(await listOf('bob'), [bobHttp.hash]);
      assert.equal((await listOf('alice')).includes(bobHttp.hash), false);
      assert.equal(await rtorrent.call('d.directory', [bobHttp.hash]), join(roots, 'bob'));
    });

    it('forgets an owner when the torrent is erased, so one added again by someone else is theirs alone', async () => {
      const again = torrent(11);
      await call('alice', 'load.raw', ['', again.bytes]);
      await rtorrent.call('system.client_version');
      // Alice's own call makes the gateway learn (and keep) that the torrent is hers.
      assert.equal(await call('alice', 'd.name', [again.hash]), await rtorrent.call('d.name', [again.hash]));
      await call('alice', 'd.erase', [again.hash]);
      await call('bob', 'load.raw', ['', again.bytes]);
      await rtorrent.call('system.client_version');
      assert.equal(await rtorrent.call('d.custom', [again.hash, OWNER_KEY]), 'bob');
      const expected = await unknownHashFault('d.name', [UNKNOWN_HASH]);
      const got = await fault('alice', 'd.name', [again.hash]);
      assert.deepEqual([got.faultCode, got.faultString], [expected.faultCode, expected.faultString]);
      await fault('alice', 'd.erase', [again.hash]);
      assert.ok((await held()).includes(again.hash), 'Bob\'s torrent is still there');
      await call('bob', 'd.erase', [again.hash]);
    });

    it('tags a torrent a tenant adds by URL, once rtorrent has fetched it', async () => {
      const fetched = torrent(12);
      const server = createServer((_request, response) => response.end(fetched.bytes));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        assert.equal(await call('bob', 'load.normal', ['', `http://127.0.0.1:${port}/x.torrent`]), 0);
        assert.ok(await untilAnswered(async () => (await held()).includes(fetched.hash), 20_000), 'rtorrent fetched the torrent');
        await rtorrent.call('system.client_version');
        assert.equal(await rtorrent.call('d.custom', [fetched.hash, OWNER_KEY]), 'bob');
        assert.equal(await rtorrent.call('d.directory', [fetched.hash]), join(roots, 'bob'));
        assert.ok((await listOf('bob')).includes(fetched.hash));
        assert.equal((await listOf('alice')).includes(fetched.hash), false);
      } finally {
        server.close();
      }
      await call('bob', 'd.erase', [fetched.hash]);
    });

    it('keeps a directory a tenant names inside their own root, and refuses one in another\'s', async () => {
      const placed = torrent(13);
      const tv = join(roots, 'alice', 'tv');
      mkdirSync(tv, { recursive: true });
      assert.equal(await call('alice', 'load.raw', ['', placed.bytes, `d.directory.set=${tv}`]), 0);
      await rtorrent.call('system.client_version');
      assert.equal(await rtorrent.call('d.directory', [placed.hash]), tv);
      assert.equal(await rtorrent.call('d.custom', [placed.hash, OWNER_KEY]), 'alice');
      assert.match((await fault('alice', 'd.directory.set', [placed.hash, join(roots, 'bob')])).faultString, /outside the download roots/);
      assert.match((await fault('alice', 'load.raw', ['', torrent(14).bytes, `d.directory.set=${join(roots, 'bob')}`])).faultString, /outside the download roots/);
      assert.equal(await rtorrent.call('d.directory', [placed.hash]), tv);
      assert.equal((await held()).includes(torrent(14).hash), false);
      await call('alice', 'd.erase', [placed.hash]);
    });

    it('puts a tenant\'s downloads under their own download root when the load names none', async () => {
      assert.equal(await rtorrent.call('d.directory', [aliceHttp.hash]), join(roots, 'alice'));
      assert.equal(await rtorrent.call('d.directory', [bobHttp.hash]), join(roots, 'bob'));
    });

    it('keeps the tag out of a tenant\'s reach: reading, writing or setting it on load is refused', async () => {
      assert.match((await fault('alice', 'd.custom', [aliceHttp.hash, OWNER_KEY])).faultString, /owner tag/);
      assert.match((await fault('alice', 'd.custom.set', [aliceHttp.hash, OWNER_KEY, 'bob'])).faultString, /owner tag/);
      assert.match((await fault('alice', 'd.custom.keys', [aliceHttp.hash])).faultString, /would show the owner tag/);
      assert.match((await fault('alice', 'load.raw', ['', torrent(9).bytes, `d.custom.set=${OWNER_KEY},bob`])).faultString, /owner tag/);
      assert.match(
        (await fault('alice', 'd.multicall2', ['', 'main', `d.custom.set=${OWNER_KEY},bob`])).faultString,
        /owner tag/,
      );
      assert.equal(await rtorrent.call('d.custom', [aliceHttp.hash, OWNER_KEY]), 'alice');
      assert.equal((await held()).includes(torrent(9).hash), false);
    });
  });

  describe('lists', () => {
    it('shows each tenant only their own torrents, and the admin every torrent', async () => {
      const alice = [aliceHttp.hash, aliceScgi.hash, ...(jsonrpc ? [aliceJson.hash] : [])].sort();
      assert.deepEqual(await listOf('alice'), alice);
      assert.deepEqual(await listOf('bob'), [bobHttp.hash]);
      assert.deepEqual(await listOf('admin'), await held());
    });

    it('narrows a list inside system.multicall and over the SCGI listener the same way', async () => {
      const [[rows]] = (await multicallOf('bob', treeCall('d.multicall2', '', 'main', 'd.hash=', 'd.custom1='))) as [[string[][]]];
      assert.deepEqual(rows, [[bobHttp.hash, 'bobs']]);
      const overScgi = decodeXmlRpcResponse((await scgiRequest({ path: listener }, xmlCall('d.multicall2', ['', 'main', 'd.hash=']))).body) as string[][];
      assert.deepEqual(overScgi.map(([hash]) => hash).sort(), await listOf('alice'));
    });

    it('answers download_list and view.size with the tenant\'s own torrents, over HTTP and the SCGI listener', async () => {
      const own = await listOf('alice');
      assert.deepEqual(((await call('alice', 'download_list', ['', 'main'])) as string[]).sort(), own);
      assert.equal(await call('alice', 'view.size', ['', 'main']), own.length);
      assert.equal(await call('bob', 'view.size', ['', 'main']), (await listOf('bob')).length);
      const overScgi = decodeXmlRpcResponse((await scgiRequest({ path: listener }, xmlCall('download_list', ['', 'main']))).body) as string[];
      assert.deepEqual(overScgi.sort(), own);
      assert.deepEqual(((await call('admin', 'download_list', ['', 'main'])) as string[]).sort(), await held(), 'the admin still sees every torrent');
    });

    it('answers download_list and view.size inside system.multicall with the tenant\'s own, and every other member as rtorrent does', async () => {
      const own = await listOf('alice');
      const asked = [treeCall('system.client_version'), treeCall('view.size', '', 'main'), treeCall('download_list', '', 'main'), treeCall('d.name', bobHttp.hash)];
      const expected = await unknownHashFault('d.name', [UNKNOWN_HASH]);
      const overScgi = decodeXmlRpcResponse((await scgiRequest({ path: listener }, encodeMethodCall(multicall(...asked)))).body);
      for (const answers of [await multicallOf('alice', ...asked), overScgi as unknown[]]) {
        const [[version], [count], [hashes], foreign] = answers as [[string], [number], [string[]], { faultCode: number; faultString: string }];
        assert.equal(version, await rtorrent.call('system.client_version'));
        assert.equal(count, own.length);
        assert.deepEqual([...hashes].sort(), own);
        assert.deepEqual([foreign.faultCode, foreign.faultString], [expected.faultCode, expected.faultString]);
      }
    });

    it('answers JSON-RPC download_list and view.size with the tenant\'s own, alone and inside a batch', { skip: !jsonrpc && 'rtorrent 0.9.8 has no JSON-RPC' }, async () => {
      const send = async (body: unknown): Promise<unknown> =>
        JSON.parse((await post(gateway.url(), JSON.stringify(body), { authorization: auth('alice'), 'content-type': 'application/json' })).body.toString());
      const own = await listOf('alice');
      const single = (await send({ jsonrpc: '2.0', id: 'l', method: 'download_list', params: ['', 'main'] })) as { id: string; result: string[] };
      assert.equal(single.id, 'l');
      assert.deepEqual([...single.result].sort(), own);
      // The notification gets no answer, so the view.size after it is the batch's second answer.
      const batch = (await send([
        { jsonrpc: '2.0', id: 1, method: 'download_list', params: ['', 'main'] },
        { jsonrpc: '2.0', method: 'view.size', params: ['', 'main'] },
        { jsonrpc: '2.0', id: 'n', method: 'view.size', params: ['', 'main'] },
        { jsonrpc: '2.0', id: 3, method: 'system.client_version' },
      ])) as { id: unknown; result: unknown }[];
      assert.deepEqual(batch.map(({ id }) => id), [1, 'n', 3]);
      assert.deepEqual([...(batch[0]?.result as string[])].sort(), own);
      assert.equal(batch[1]?.result, own.length);
      assert.equal(batch[2]?.result, await rtorrent.call('system.client_version'));
    });

    it('keeps a tenant\'s own d.multicall.filtered filter: rtorrent\'s rows for that filter, of their own torrents', async () => {
      // The filters hold quotes and a backslash, which the owner filter around them must keep as they are.
      await call('alice', 'd.custom1.set', [aliceHttp.hash, 'tv one']);
      const own = new Set(await listOf('alice'));
      const quoted = 'equal={d.custom1=,"cat=\\"tv one\\""}';
      const escaped = 'equal={d.custom1=,cat=tv\\\\ one}';
      const filters = ['d.custom1=', quoted, escaped, 'd.is_open=', 'not=$d.is_open=', 'd.name=', ''];
      for (const filter of filters) {
        const everyone = (await call('admin', 'd.multicall.filtered', ['', 'main', filter, 'd.hash='])) as string[][];
        const mine = (await call('alice', 'd.multicall.filtered', ['', 'main', filter, 'd.hash='])) as string[][];
        assert.deepEqual(mine.map(([hash]) => hash).sort(), everyone.map(([hash]) => hash as string).filter((hash) => own.has(hash)).sort(), `filter ${JSON.stringify(filter)}`);
      }
      for (const filter of [quoted, escaped]) {
        assert.deepEqual(await call('alice', 'd.multicall.filtered', ['', 'main', filter, 'd.hash=']), [[aliceHttp.hash]], `${filter} matched its one torrent`);
      }
      assert.deepEqual(await call('bob', 'd.multicall.filtered', ['', 'main', 'd.custom1=', 'd.hash=']), [[bobHttp.hash]]);
    });

    it('refuses the lists it cannot narrow, saying what to use instead', async () => {
      assert.match((await fault('alice', 'view.size_not_visible', ['', 'main'])).faultString, /cannot be narrowed; count the rows of d\.multicall2/);
      // A list inside a command string would walk every torrent past the filter.
      assert.match((await fault('alice', 'd.multicall2', ['', 'main', 'cat="$d.multicall2=main,d.hash="'])).faultString, /d\.multicall2 is not allowed/);
      assert.match((await fault('alice', 'd.multicall2', ['', 'main', 'cat=$download_list='])).faultString, /download_list is not allowed/);
    });
  });

  describe('another tenant\'s torrents', () => {
    it('answers every per-torrent call on them exactly as rtorrent answers for a hash it does not hold', async () => {
      for (const [method, params] of [
        ['d.name', [bobHttp.hash]],
        ['d.custom1', [bobHttp.hash]],
        ['f.multicall', [bobHttp.hash, '', 'f.path=']],
        ['t.multicall', [bobHttp.hash, '', 't.url=']],
        ['p.multicall', [bobHttp.hash, '', 'p.address=']],
        ['f.path', [`${bobHttp.hash}:f0`]],
        ['d.name', [untagged]],
      ] as [string, XmlParam[]][]) {
        const expected = await unknownHashFault(method, [UNKNOWN_HASH + (params[0] as string).slice(40), ...params.slice(1)]);
        const got = await fault('alice', method, params);
        assert.deepEqual([got.faultCode, got.faultString], [expected.faultCode, expected.faultString], method);
      }
    });

    it('changes nothing when a tenant tries to stop, relabel or erase them', async () => {
      for (const [method, params] of [
        ['d.custom1.set', [bobHttp.hash, 'stolen']],
        ['d.erase', [bobHttp.hash]],
        ['d.start', [bobHttp.hash]],
        ['d.directory.set', [bobHttp.hash, join(roots, 'alice')]],
      ] as [string, XmlParam[]][]) {
        await fault('alice', method, params);
      }
      assert.equal(await rtorrent.call('d.custom1', [bobHttp.hash]), 'bobs');
      assert.equal(await rtorrent.call('d.state', [bobHttp.hash]), 0);
      assert.ok((await held()).includes(bobHttp.hash));
    });

    it('refuses only the foreign member of a system.multicall, as rtorrent would', async () => {
      const answers = await multicallOf('alice', treeCall('d.name', aliceHttp.hash), treeCall('d.name', bobHttp.hash));
      assert.deepEqual(answers[0], [await rtorrent.call('d.name', [aliceHttp.hash])]);
      const expected = await unknownHashFault('d.name', [UNKNOWN_HASH]);
      assert.deepEqual(answers[1], { faultCode: expected.faultCode, faultString: expected.faultString });
    });

    it('refuses the foreign entries of a JSON-RPC batch the same way', { skip: !jsonrpc && 'rtorrent 0.9.8 has no JSON-RPC' }, async () => {
      const response = await post(
        gateway.url(),
        JSON.stringify([
          { jsonrpc: '2.0', id: 1, method: 'd.name', params: [aliceHttp.hash] },
          { jsonrpc: '2.0', id: 2, method: 'd.name', params: [bobHttp.hash] },
        ]),
        { authorization: auth('alice'), 'content-type': 'application/json' },
      );
      type Entry = { id: number; result?: unknown; error?: unknown };
      const [own, foreign] = JSON.parse(response.body.toString()) as Entry[];
      assert.equal(own?.result, await rtorrent.call('d.name', [aliceHttp.hash]));
      // What rtorrent answers anyone for a hash it does not hold, through the same gateway.
      const unknown = await post(gateway.url(), JSON.stringify([{ jsonrpc: '2.0', id: 2, method: 'd.name', params: [UNKNOWN_HASH] }]), {
        authorization: auth('admin'),
        'content-type': 'application/json',
      });
      const [expected] = JSON.parse(unknown.body.toString()) as Entry[];
      assert.ok(expected?.error !== undefined, unknown.body.toString());
      assert.deepEqual(foreign?.error, expected.error);
    });
  });

  describe('clients', () => {
    /** The rows a list gives a tenant: the same cells as the admin's list, for the tenant's torrents only. */
    async function sameRowsAsAdmin(user: User, fields: readonly string[], view = 'main'): Promise<void> {
      const mine = (await call(user, 'd.multicall2', ['', view, 'd.hash=', ...fields])) as unknown[][];
      const own = new Set(await listOf(user));
      const everyone = (await call('admin', 'd.multicall2', ['', view, 'd.hash=', ...fields])) as unknown[][];
      const sortRows = (rows: unknown[][]): unknown[][] => [...rows].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      assert.deepEqual(sortRows(mine), sortRows(everyone.filter(([hash]) => own.has(hash as string))));
    }

    it('give ruTorrent its torrent list and settings dialog', async () => {
      // d.free_diskspace can move between the two lists; the rest are stopped torrents' fixed values.
      await sameRowsAsAdmin('alice', RUTORRENT_LIST.filter((field) => field !== 'd.hash=' && field !== 'd.free_diskspace='));
      const settings = await multicallOf('alice', ...RUTORRENT_SETTINGS_GETTERS.map((getter) => treeCall(getter, '')));
      assert.equal(settings.length, RUTORRENT_SETTINGS_GETTERS.length);
      // Each getter reached rtorrent: answered, or unknown to this release (ruTorrent asks for both releases' names).
      const unanswered = settings.filter((answer) => !Array.isArray(answer) && !/not defined/i.test(JSON.stringify(answer)));
      assert.deepEqual(unanswered, []);
    });

    it('give Sonarr its list (view "") and its label on the torrents it added', async () => {
      await sameRowsAsAdmin('bob', ['d.name=', 'd.base_path=', 'd.custom1=', 'd.size_bytes=', 'd.left_bytes=', 'd.ratio=', 'd.is_open=', 'd.complete='], '');
      const added = torrent(7);
      await call('bob', 'load.raw', ['', added.bytes, 'd.custom1.set=tv-sonarr', 'd.priority.set=2']);
      await rtorrent.call('system.client_version');
      assert.equal(await call('bob', 'd.custom1', [added.hash]), 'tv-sonarr');
      await call('bob', 'd.erase', [added.hash]);
      await rtorrent.call('system.client_version');
      assert.equal((await held()).includes(added.hash), false, 'Sonarr removes what it imported');
    });
  });

  describe('with a read cache (upstream.read_cache_ttl)', () => {
    let cached: GatewayTestInstance;
    before(async () => {
      cached = await startGateway({
        upstream: `unix:${rtorrent.socketPath}`,
        users: USERS,
        upstreamToml: 'timeout = "10s"\nread_cache_ttl = "30s"',
        extraToml: ['[policies.tenant-roots]', 'extends = "tenant"', `download_roots = ["${roots}/{user}"]`, '[limits]', 'call_rate = 0'].join('\n'),
      });
    });
    after(async () => {
      await cached?.close();
    });
    const read = async (user: User, method: string, params: readonly XmlParam[]): Promise<Buffer> =>
      (await post(cached.url(), xmlCall(method, params), { authorization: auth(user) })).body;

    it('never hands one tenant an answer kept for another', async () => {
      const bobs = await read('bob', 'd.name', [bobHttp.hash]);
      assert.equal(decodeXmlRpcResponse(bobs), await rtorrent.call('d.name', [bobHttp.hash]));
      const aliceAsks = await read('alice', 'd.name', [bobHttp.hash]);
      assert.throws(() => decodeXmlRpcResponse(aliceAsks), XmlRpcFault, 'Alice gets the unknown-hash fault, not Bob\'s kept answer');
      const bobsList = await read('bob', 'd.multicall2', ['', 'main', 'd.hash=']);
      const alicesList = decodeXmlRpcResponse(await read('alice', 'd.multicall2', ['', 'main', 'd.hash='])) as string[][];
      assert.notDeepEqual(alicesList, decodeXmlRpcResponse(bobsList));
      assert.deepEqual(alicesList.map(([hash]) => hash).sort(), await listOf('alice'));
    });
  });

  describe('global state', () => {
    it('refuses a tenant the settings that apply to everyone', async () => {
      assert.match((await fault('alice', 'throttle.global_down.max_rate.set', ['', 1024])).faultString, /not in policy "tenant-roots"/);
      // Reading them is fine.
      assert.equal(typeof (await call('alice', 'throttle.global_down.max_rate')), 'number');
    });
  });

  describe('an admin', () => {
    it('moves a torrent to another tenant with d.custom.set, and the tenants see it at once', async () => {
      assert.equal((await listOf('alice')).includes(bobHttp.hash), false);
      // The line docs/tenants.md gives, run as written but for the address, password and hash.
      const documented = readFileSync(new URL('../../docs/tenants.md', import.meta.url), 'utf8').split('\n').find((line) => line.startsWith('python3 -c') && line.includes('gateway.owner'));
      assert.ok(documented, 'docs/tenants.md shows how an admin moves a torrent');
      const command = documented
        .replace('http://admin:PASSWORD@127.0.0.1:8000/RPC2', gateway.url().replace('://', `://admin:${USERS.admin.password}@`))
        .replace('INFOHASH', bobHttp.hash);
      assert.notEqual(command, documented);
      // Not spawnSync: the gateway answering it runs in this process.
      await execFileAsync('sh', ['-c', command], { timeout: 30_000 });
      assert.ok((await listOf('alice')).includes(bobHttp.hash));
      assert.equal(await call('alice', 'd.custom1', [bobHttp.hash]), 'bobs');
      assert.deepEqual(await listOf('bob'), []);
      await fault('bob', 'd.name', [bobHttp.hash]);
      await call('admin', 'd.custom.set', [bobHttp.hash, OWNER_KEY, 'bob']);
      assert.deepEqual(await listOf('bob'), [bobHttp.hash]);
    });
  });

  // Last: rtorrent is a new process afterwards.
  describe('when rtorrent restarts', () => {
    it('keeps every owner, since the tag is saved with rtorrent\'s session', async () => {
      const before = { alice: await listOf('alice'), bob: await listOf('bob'), everyone: await held() };
      await rtorrent.restart();
      assert.ok(await untilAnswered(async () => (await held()).length === before.everyone.length, 20_000), 'rtorrent loaded its session again');
      assert.deepEqual(await listOf('alice'), before.alice);
      assert.deepEqual(await listOf('bob'), before.bob);
      const expected = await unknownHashFault('d.name', [UNKNOWN_HASH]);
      const got = await fault('alice', 'd.name', [bobHttp.hash]);
      assert.deepEqual([got.faultCode, got.faultString], [expected.faultCode, expected.faultString]);
    });
  });
}
