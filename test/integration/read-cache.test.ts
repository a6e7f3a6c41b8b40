/**
 * upstream.read_cache_ttl: pollers of one rtorrent share its answers. A recording pass-through in
 * front of a real rtorrent counts what reaches rtorrent; each release the suite runs against gets the
 * same specification.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { relayTo, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { sample } from '../helpers/metrics.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, type RtorrentBuild } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, scgiRequest, xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';
import { until } from '../helpers/wait.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const USERS = {
  admin: { password: 'admin-secret', policy: 'full' },
  app: { password: 'app-secret', policy: 'standard' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
};
const auth = (user: keyof typeof USERS): string => basicAuth(user, USERS[user].password);
/** The list a dashboard polls: labels included, so a change of label shows. */
const LIST = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.custom1=']);
/** Long enough that no test here outlives it by accident on a busy machine. */
const TTL = '30s';

for (const build of haveRtorrent ? rtorrentBuilds() : []) describe(`a read cache in front of rtorrent ${build.version} (upstream.read_cache_ttl)`, () => suite(build));

function suite(build: RtorrentBuild): void {
  let recorder: FakeScgiServer;
  const listener = (): string => join(stack.dir, 'flood.sock');
  const stack = withStack({
    rtorrent: { build, torrents: 3, name: 'read-cache' },
    gateway: async (rtorrent) => {
      recorder = await startFakeScgi(relayTo(rtorrent.socketPath), { answerProbes: false });
      return {
        upstream: `unix:${recorder.socketPath}`,
        users: USERS,
        upstreamToml: `timeout = "10s"\nread_cache_ttl = "${TTL}"`,
        extraToml: ['[[scgi.listeners]]', `listen = "unix:${listener()}"`, 'user = "app"', 'mode = "0600"', '[limits]', 'call_rate = 0'].join('\n'),
      };
    },
  });
  after(async () => {
    await recorder?.close();
  });

  /** How many times rtorrent was sent exactly this call. */
  const reachedRtorrent = (body: string): number => recorder.requests.filter((request) => request.body.toString().includes(body.slice(body.indexOf('<methodName>')))).length;
  const list = async (user: keyof typeof USERS): Promise<string[][]> => {
    const response = await post(stack.url(), LIST, { authorization: auth(user) });
    assert.equal(response.status, 200, response.body.toString());
    return decodeXmlRpcResponse(response.body) as string[][];
  };
  const setLabel = async (user: keyof typeof USERS, hash: string, label: string): Promise<void> => {
    const response = await post(stack.url(), xmlCall('d.custom1.set', [hash, label]), { authorization: auth(user) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-error'), null, response.body.toString());
  };

  it('answers 8 pollers of the same list with one rtorrent call, whoever polls', async () => {
    const before = reachedRtorrent(LIST);
    const answers = [];
    for (const user of ['viewer', 'app', 'viewer', 'app', 'viewer', 'app', 'viewer', 'app'] as const) answers.push(await list(user));
    assert.equal(reachedRtorrent(LIST) - before, 1);
    for (const answer of answers) assert.deepEqual(answer, answers[0]);
    const lines = (): typeof stack.gateway.logs => stack.gateway.logs.filter((line) => line.msg === 'request' && Array.isArray(line.methods) && line.methods[0] === 'd.multicall2');
    assert.ok(await until(() => lines().length >= 8), 'a line for each poll');
    assert.deepEqual(lines().slice(-7).map((line) => line.outcome), Array(7).fill('cached'), 'the log line says where the answer came from');
  });

  it('keeps calls sent with UNTRUSTED_CONNECTION apart from trusted ones (full\'s calls are sent trusted)', async () => {
    await list('viewer');
    const before = reachedRtorrent(LIST);
    await list('admin');
    await list('admin');
    // 0.9.8 never gets the header, so there every caller's list is the same call.
    assert.equal(reachedRtorrent(LIST) - before, build.version === '0.9.8' ? 0 : 1);
  });

  it('shows a user their own change on their next read: a write through the gateway drops the kept answers', async () => {
    const [hash] = stack.rtorrent.infoHashes as [string];
    await list('app');
    const before = reachedRtorrent(LIST);
    await setLabel('app', hash, 'changed-over-http');
    const labels = new Map((await list('app')).map(([h, , label]) => [h, label]));
    assert.equal(labels.get(hash), 'changed-over-http');
    assert.equal(reachedRtorrent(LIST) - before, 1, 'the list was asked for again');
  });

  it('drops them for a write through an SCGI listener too (Flood setting a label)', async () => {
    const [, hash] = stack.rtorrent.infoHashes as [string, string];
    await list('viewer');
    const answer = await scgiRequest({ path: listener() }, xmlCall('d.custom1.set', [hash, 'changed-over-scgi']));
    assert.doesNotMatch(answer.body.toString(), /<fault>/);
    const labels = new Map((await list('viewer')).map(([h, , label]) => [h, label]));
    assert.equal(labels.get(hash), 'changed-over-scgi');
  });

  it('serves an SCGI listener\'s reads from the same kept answers as HTTP', async () => {
    await list('viewer');
    const before = reachedRtorrent(LIST);
    const answer = await scgiRequest({ path: listener() }, LIST);
    assert.equal(reachedRtorrent(LIST) - before, 0);
    assert.deepEqual(decodeXmlRpcResponse(answer.body), await list('viewer'));
    // Logged as an answer, at info, like the HTTP side's.
    const line = stack.gateway.logs.findLast((entry) => entry.transport === 'scgi' && Array.isArray(entry.methods) && entry.methods[0] === 'd.multicall2');
    assert.equal(line?.outcome, 'cached');
    assert.equal(line?.level, 30);
    assert.equal(line?.msg, 'request');
  });

  it('may answer with up to read_cache_ttl old state for a change made behind the gateway\'s back', async () => {
    const [, , hash] = stack.rtorrent.infoHashes as [string, string, string];
    await list('viewer');
    // Straight to rtorrent's own socket, as a schedule in rtorrent.rc or another client would.
    await stack.rtorrent.call('d.custom1.set', [hash, 'changed-behind']);
    const labels = new Map((await list('viewer')).map(([h, , label]) => [h, label]));
    assert.notEqual(labels.get(hash), 'changed-behind', 'still the kept answer');
  });

  it('counts calls, hits and bytes served from the cache in /metrics', async () => {
    const text = await (await fetch(stack.url('/metrics'), { headers: { authorization: auth('admin') } })).text();
    const cached = sample(text, 'rtorrent_gateway_shared_reads_total', { upstream: 'default', source: 'cached' }) ?? 0;
    const called = sample(text, 'rtorrent_gateway_shared_reads_total', { upstream: 'default', source: 'called' }) ?? 0;
    assert.ok(cached >= 8 && called >= 3, `cached ${cached}, called ${called}`);
    assert.ok((sample(text, 'rtorrent_gateway_read_cache_served_bytes_total', { upstream: 'default' }) ?? 0) > 0);
    assert.ok((sample(text, 'rtorrent_gateway_read_cache_bytes', { upstream: 'default' }) ?? 0) > 0);
  });
}

describe('a read cache with a short TTL', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withStack({
    rtorrent: { torrents: 1, name: 'read-cache-ttl' },
    gateway: { users: USERS, upstreamToml: 'read_cache_ttl = "200ms"', extraToml: '[limits]\ncall_rate = 0' },
  });

  it('shows a change made behind its back once the TTL has passed', async () => {
    const [hash] = stack.rtorrent.infoHashes as [string];
    const label = async (): Promise<string | undefined> => {
      const response = await post(stack.url(), LIST, { authorization: auth('viewer') });
      return new Map((decodeXmlRpcResponse(response.body) as string[][]).map(([h, , value]) => [h, value])).get(hash);
    };
    await label();
    await stack.rtorrent.call('d.custom1.set', [hash, 'seen-after-ttl']);
    // Polled as a dashboard would; the deadline leaves a busy machine ample margin over 200 ms.
    const deadline = Date.now() + 10_000;
    let latest = await label();
    while (latest !== 'seen-after-ttl' && Date.now() < deadline) {
      await sleep(50);
      latest = await label();
    }
    assert.equal(latest, 'seen-after-ttl');
  });
});
