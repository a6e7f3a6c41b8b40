/**
 * What a call below `full` may cost rtorrent, against a real rtorrent (0.9.8, and 0.16.20 where it
 * has been built). Each attack shape is first shown to cost rtorrent what the gateway says it costs,
 * sent straight to it at a size that cannot hurt this machine; the same shape is then refused
 * through the gateway for every built-in policy but full, and rtorrent answers within a second
 * afterwards. Then each user's budget (calls in flight, call rate) and the answer-size cap, over HTTP
 * and an SCGI listener, with what the log and /metrics say about them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { sample } from '../helpers/metrics.js';
import { requireBinary } from '../helpers/processes.js';
import { loadTorrents, rtorrentBuilds } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, scgiRequest, xmlCall, type XmlParam } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';
import { until } from '../helpers/wait.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;

const TORRENTS = 12;
/** Every built-in policy but full, each with a user of its own. */
const BOUNDED = ['standard', 'readonly', 'flood', 'rutorrent', 'mobile', 'monitoring', 'arr', 'autobrr'] as const;
const password = (user: string): string => `${user}-secret`;
const auth = (user: string): string => basicAuth(user, password(user));

/** CPU seconds rtorrent has used so far (utime + stime), steadier than wall time on a busy machine. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A list whose every row is itself a list of every torrent: the shape that crashed rtorrent. */
function nestedList(columns: number): XmlParam[] {
  const inner = `d.multicall2=main,${Array(columns).fill('d.hash=').join(',')}`;
  return ['', 'main', ...Array(columns).fill(inner)];
}

for (const build of haveRtorrent ? rtorrentBuilds() : []) {
  describe(`what a call below full may cost rtorrent ${build.version}`, () => {
    let longName: string;
    const listenerSocket = (): string => join(stack.dir, 'flood.sock');
    const stack = withStack({
      rtorrent: { build, torrents: TORRENTS, name: `cost-${build.version}` },
      gateway: async (rt) => {
        // One torrent whose file name gives the glob matcher something to chew on.
        await loadTorrents(rt, 1, { seed: 'long', namePrefix: 'a'.repeat(22) });
        longName = rt.infoHashes[rt.infoHashes.length - 1]!;
        const users = Object.fromEntries([
          ['admin', { password: password('admin'), policy: 'full' }],
          ...BOUNDED.map((policy) => [policy, { password: password(policy), policy }]),
          ['tight', { password: password('tight'), policy: 'tight' }],
          ['capped', { password: password('capped'), policy: 'capped' }],
          // In [access.users] as tables below, for budgets of their own.
          ['single', { password: password('single') }],
          ['slow', { password: password('slow') }],
        ]);
        return {
          users,
          upstreamToml: `timeout = "20s"\njsonrpc = ${build.version !== '0.9.8'}`,
          extraToml: [
            '[access.users.single]',
            'policy = "readonly"',
            'calls_in_flight = 1',
            '[access.users.slow]',
            'policy = "readonly"',
            // One call per 20 s after a burst of two: a third quick call is refused however slow the machine.
            'call_rate = 0.05',
            'call_burst = 2',
            '[policies.tight]',
            'extends = "readonly"',
            `max_answer_cells = ${10 * (TORRENTS + 1) + 2}`,
            '[policies.capped]',
            'extends = "readonly"',
            'max_answer_bytes = 1000',
            '[[scgi.listeners]]',
            `listen = "unix:${listenerSocket()}"`,
            'user = "flood"',
          ].join('\n'),
        };
      },
    });

    /** rtorrent is up and answers a trivial call well within a second. */
    async function stillAnswers(): Promise<void> {
      assert.ok(stack.rtorrent.running(), 'rtorrent has exited');
      assert.equal(await stack.rtorrent.call('system.client_version', [], { timeoutMs: 1000 }), build.version);
    }

    /** Every bounded built-in user gets a fault: refused for its cost, or for a name its policy lacks. */
    async function refusedForEveryBoundedPolicy(body: string, reason: RegExp): Promise<void> {
      for (const policy of BOUNDED) {
        const answer = await post(stack.url(), body, { authorization: auth(policy) });
        assert.equal(answer.status, 200, policy);
        const code = answer.headers.get('x-gateway-error');
        assert.ok(code === 'GW_COST_LIMIT' || code === 'GW_POLICY_DENIED', `${policy}: ${code}: ${answer.body.toString().slice(0, 300)}`);
        if (code === 'GW_COST_LIMIT') assert.match(answer.body.toString(), reason, policy);
      }
      await stillAnswers();
    }

    it('a list nested in every row of a list costs rtorrent the product of the two, so it is refused below full', async () => {
      const flat = await stack.rtorrent.raw(xmlCall('d.multicall2', ['', 'main', 'd.hash=']));
      const nested = await stack.rtorrent.raw(xmlCall('d.multicall2', nestedList(1)));
      // One row per torrent, each holding a row per torrent.
      assert.ok(nested.body.length > ((TORRENTS + 1) / 2) * flat.body.length, `${nested.body.length} vs ${flat.body.length}`);
      // The crashing shape had thousands of columns at each level; 50 of them say the same here.
      await refusedForEveryBoundedPolicy(xmlCall('d.multicall2', nestedList(50)), /inside a multicall row/);
      await refusedForEveryBoundedPolicy(xmlCall('d.multicall2', ['', 'main', 'cat="$d.multicall2=main,d.hash="']), /inside a multicall row/);
      const viaFunction = xmlCall('d.multicall2', ['', 'main', 'branch=d.hash=,((d.multicall2,main,d.hash=))']);
      await refusedForEveryBoundedPolicy(viaFunction, /inside a multicall row/);
    });

    it('full still gets a nested list, as through nginx', async () => {
      const answer = await post(stack.url(), xmlCall('d.multicall2', nestedList(1)), { authorization: auth('admin') });
      assert.equal(answer.status, 200);
      const rows = decodeXmlRpcResponse(answer.body) as unknown[][];
      assert.equal(rows.length, TORRENTS + 1);
      assert.equal((rows[0]![0] as unknown[]).length, TORRENTS + 1);
    });

    it('a file pattern with many * is refused below full, at the top level and inside a row', async (t) => {
      const pattern = '*'.repeat(7);
      if (build.version === '0.9.8') {
        // 0.9.8's rak::regex keeps every partial match: seven '*' on one 34-character name cost it
        // a visible share of a second (eight took 5.8 s, nine 24 s).
        const before = cpuSeconds(stack.rtorrent.pid);
        await stack.rtorrent.raw(xmlCall('f.multicall', [longName, pattern, 'f.path=']), { timeoutMs: 60_000 });
        const spent = cpuSeconds(stack.rtorrent.pid) - before;
        assert.ok(spent >= 0.05, `rtorrent spent ${spent} s`);
        t.diagnostic(`rtorrent ${build.version} spent ${spent.toFixed(2)} s of CPU on ${pattern} against one file name`);
      }
      await refusedForEveryBoundedPolicy(xmlCall('f.multicall', [longName, pattern, 'f.path=']), /limits\.max_pattern_wildcards/);
      await refusedForEveryBoundedPolicy(xmlCall('d.multicall2', ['', 'main', `cat="$f.multicall=${pattern},f.path="`]), /inside a d\.multicall row|max_pattern/);
      const plain = await post(stack.url(), xmlCall('f.multicall', [longName, '*.bin', 'f.path=']), { authorization: auth('readonly') });
      assert.equal(decodeXmlRpcResponse(plain.body) instanceof Array, true);
    });

    it("the answer is estimated from rtorrent's own torrent count and bounded, naming the key that raises the bound", async () => {
      // tight: 10 numbers a torrent, and then some.
      const ten = await post(stack.url(), xmlCall('d.multicall2', ['', 'main', ...Array(10).fill('d.size_bytes=')]), { authorization: auth('tight') });
      assert.equal(ten.status, 200);
      assert.equal(ten.headers.get('x-gateway-error'), null);
      assert.equal((decodeXmlRpcResponse(ten.body) as unknown[]).length, TORRENTS + 1);
      const eleven = await post(stack.url(), xmlCall('d.multicall2', ['', 'main', ...Array(11).fill('d.size_bytes=')]), { authorization: auth('tight') });
      assert.equal(eleven.headers.get('x-gateway-error'), 'GW_COST_LIMIT');
      assert.match(eleven.body.toString(), new RegExp(`11 per torrent \\(× ${TORRENTS + 1} torrents\\)\\), over the limit of \\d+ \\(policies\\.tight\\.max_answer_cells\\)`));
      // The default bound: a 13-torrent list with 24 000 hash columns holds over 600 000 cells.
      await refusedForEveryBoundedPolicy(xmlCall('d.multicall2', ['', 'main', ...Array(24_000).fill('d.hash=')]), /over the limit of 400000 \(limits\.max_answer_cells\)/);
      assert.ok(stack.gateway.logs.some((line) => line.msg === 'call over a limit' && line.outcome === 'too_costly' && /max_answer_cells/.test(String(line.problem))));
    });

    it('the same bounds hold on an SCGI listener', async () => {
      const refused = await scgiRequest({ path: listenerSocket() }, xmlCall('d.multicall2', nestedList(2)));
      assert.match(refused.body.toString(), /<fault>[\s\S]*-32413[\s\S]*inside a multicall row/);
      // The listener writes its line once the connection has closed on its side too.
      assert.ok(await until(() => stack.gateway.logs.some((line) => line.msg === 'call over a limit' && line.outcome === 'too_costly' && line.listener === `unix:${listenerSocket()}`)));
      await stillAnswers();
    });

    it('the same bounds hold for JSON-RPC', { skip: build.version === '0.9.8' && 'rtorrent 0.9.8 has no JSON-RPC' }, async () => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'd.multicall2', params: nestedList(2) });
      const answer = await post(stack.url(), body, { authorization: auth('readonly'), 'content-type': 'application/json' });
      const error = (JSON.parse(answer.body.toString()) as { id: number; error: { code: number; message: string } });
      assert.equal(error.id, 7);
      assert.equal(error.error.code, -32413);
      assert.match(error.error.message, /inside a multicall row/);
      await stillAnswers();
    });

    it('a label stores at most max_stored_value_bytes: 4 KiB reaches rtorrent, a byte more is refused before it', async () => {
      const hash = stack.rtorrent.infoHashes[0] as string;
      const fits = await post(stack.url(), xmlCall('d.custom1.set', [hash, 'x'.repeat(4096)]), { authorization: auth('standard') });
      assert.equal(fits.headers.get('x-gateway-error'), null, fits.body.toString());
      assert.equal(String(await stack.rtorrent.call('d.custom1', [hash])).length, 4096);
      const over = await post(stack.url(), xmlCall('d.custom1.set', [hash, 'y'.repeat(4097)]), { authorization: auth('standard') });
      assert.equal(over.headers.get('x-gateway-error'), 'GW_COST_LIMIT');
      assert.match(over.body.toString(), /would store 4097 bytes.*limits\.max_stored_value_bytes/);
      assert.equal(String(await stack.rtorrent.call('d.custom1', [hash])), 'x'.repeat(4096));
    });

    it('a user gets a limited number of calls in flight; past it 429 with Retry-After, and nobody else waits for it', async () => {
      // A stopped rtorrent holds the first call in flight for as long as the test needs.
      stack.rtorrent.kill('SIGSTOP');
      let first: Promise<{ status: number }> | undefined;
      try {
        first = post(stack.url(), xmlCall('system.client_version'), { authorization: auth('single') });
        assert.ok(await until(() => stack.gateway.app.gateway.upstream.inFlight > 0), 'the first call never reached rtorrent');
        const second = await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('single') });
        assert.equal(second.status, 429);
        assert.equal(second.headers.get('retry-after'), '1');
        assert.match(second.body.toString(), /user "single" already has 1 calls in flight.*access\.users\.single\.calls_in_flight/);
      } finally {
        stack.rtorrent.kill('SIGCONT');
      }
      assert.equal((await first).status, 200);
      assert.equal((await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('single') })).status, 200);
    });

    it('a user gets a call rate with a burst; past it 429 with Retry-After, while other users go on', async () => {
      for (let i = 0; i < 2; i++) assert.equal((await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('slow') })).status, 200);
      const refused = await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('slow') });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.match(refused.body.toString(), /access\.users\.slow\.call_rate/);
      assert.equal((await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('readonly') })).status, 200);
    });

    it('an answer larger than the user may receive is dropped with a fault naming the limit', async () => {
      const small = await post(stack.url(), xmlCall('system.client_version'), { authorization: auth('capped') });
      assert.equal(small.status, 200);
      assert.equal(small.headers.get('x-gateway-error'), null);
      const list = await post(stack.url(), xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=']), { authorization: auth('capped') });
      assert.equal(list.headers.get('x-gateway-error'), 'GW_ANSWER_TOO_LARGE');
      assert.match(list.body.toString(), /answer to d\.multicall2 is \d+ bytes, over the limit of 1000 \(policies\.capped\.max_answer_bytes\)/);
      // An answer streamed from rtorrent (over 64 KiB) is refused from its Content-Length.
      const streamed = await post(stack.url(), xmlCall('d.multicall2', ['', 'main', ...Array(100).fill('d.hash=')]), { authorization: auth('capped') });
      assert.equal(streamed.headers.get('x-gateway-error'), 'GW_ANSWER_TOO_LARGE');
      assert.equal(stack.gateway.app.gateway.upstream.inFlight, 0);
      await stillAnswers();
    });

    it('counts what was refused or cut, per user and limit', async () => {
      const response = await fetch(stack.url('/metrics'), { headers: { authorization: auth('admin') } });
      const text = await response.text();
      assert.equal(sample(text, 'rtorrent_gateway_limited_calls_total', { user: 'single', limit: 'calls_in_flight' }), 1);
      assert.equal(sample(text, 'rtorrent_gateway_limited_calls_total', { user: 'slow', limit: 'call_rate' }), 1);
      assert.equal(sample(text, 'rtorrent_gateway_limited_calls_total', { user: 'capped', limit: 'answer_bytes' }), 2);
      assert.ok((sample(text, 'rtorrent_gateway_limited_calls_total', { user: 'readonly', limit: 'call_cost' }) ?? 0) >= 5);
      assert.ok(stack.gateway.logs.some((line) => line.msg === 'call over a limit' && line.user === 'slow' && line.budget === 'rate' && line.status === 429));
      // A refused shape says someone tried something: it is an audit record; a budget refusal is not.
      assert.ok(stack.gateway.logs.some((line) => line.outcome === 'too_costly' && line.audit === true));
      assert.ok(stack.gateway.logs.every((line) => line.outcome !== 'over_budget' || line.audit === undefined));
    });
  });
}
