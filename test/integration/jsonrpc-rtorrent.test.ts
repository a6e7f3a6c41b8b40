/**
 * JSON-RPC through the gateway to a real rtorrent 0.16.20 (upstream.jsonrpc = true): what rtorrent
 * answers is relayed unchanged (single calls, batches, `id: null`, its own errors), and a refusal is
 * the same as for the XML-RPC twin of the call. A request of notifications only gets HTTP 200 with
 * an empty body (Content-Length: 0), whether rtorrent ran it or the gateway refused it: JSON-RPC 2.0
 * answers notifications with nothing, and rtorrent answers them that way itself.
 *
 * rtorrent 0.16.20's JSON-RPC runs private commands that its XML-RPC does not define (the flag
 * check came after it, master 3ae91b65). Sent straight to rtorrent, d.state.set changes a
 * download and system.shutdown would stop rtorrent; through the gateway only `full` reaches them.
 *
 * The XML-RPC side of these calls against 0.9.8 and 0.16.20 is in policy-clients.test.ts and
 * policy-attacks.test.ts; jsonrpc.test.ts covers what only a fake peer can show.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { currentRtorrent } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall, XmlRpcFault, type XmlParam } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

// Throws with CI=true when 0.16.20 is not built, so the file fails there instead of skipping.
const BUILD = currentRtorrent();

const USERS = {
  admin: { password: 'admin-secret', policy: 'full' },
  app: { password: 'app-secret', policy: 'standard' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
  ops: { password: 'ops-secret', policy: 'no-shutdown' },
} as const;
/** An operator's "everything but stopping rtorrent", built on full. */
const NO_SHUTDOWN = ['[policies.no-shutdown]', 'extends = "full"', 'deny = ["system.shutdown.normal", "system.shutdown.quick"]'].join('\n');
type User = keyof typeof USERS;

type Id = string | number | null;
interface Answer {
  readonly jsonrpc: '2.0';
  readonly id: Id;
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string };
}

/** One JSON-RPC call; `id` undefined makes it a notification. */
function request(method: string, params: unknown[], id?: Id): Record<string, unknown> {
  return id === undefined ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', id, method, params };
}

const json = (value: unknown): string => JSON.stringify(value);

describe('JSON-RPC through the gateway to rtorrent 0.16.20', { skip: BUILD === undefined && 'rtorrent 0.16.20 is not built here (scripts/build-rtorrent.sh)' }, () => {
  const stack = withStack({
    rtorrent: { build: BUILD!, torrents: 3, name: 'jsonrpc-rt' },
    gateway: { users: USERS, upstreamToml: 'jsonrpc = true\ntimeout = "10s"', extraToml: NO_SHUTDOWN },
  });
  /** Downloads for reads, for labels, and for the private setter, so no test sees another's writes. */
  let readHash: string;
  let labelHash: string;
  let stateHash: string;
  before(() => {
    [readHash, labelHash, stateHash] = stack.rtorrent.infoHashes as [string, string, string];
  });

  /** Straight to rtorrent's SCGI socket, as JSON-RPC. */
  async function direct(body: string): Promise<Buffer> {
    const response = await stack.rtorrent.raw(body, { contentType: 'application/json' });
    assert.equal(response.status, 200);
    return response.body;
  }

  async function send(user: User, body: string, contentType = 'application/json') {
    return post(stack.url(), body, { authorization: basicAuth(user, USERS[user].password), 'content-type': contentType });
  }

  /** Through the gateway, relayed: the answer and its parsed form. */
  async function relayed(user: User, body: string): Promise<{ bytes: Buffer; answer: Answer | Answer[] }> {
    const response = await send(user, body);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-error'), null, response.body.toString());
    assert.equal(response.headers.get('content-type'), 'application/json');
    return { bytes: response.body, answer: JSON.parse(response.body.toString()) as Answer | Answer[] };
  }

  /** Through the gateway, refused: the JSON-RPC error the caller gets. */
  async function refused(user: User, body: string): Promise<Answer> {
    const response = await send(user, body);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED');
    return JSON.parse(response.body.toString()) as Answer;
  }

  /** The XML-RPC twin through the gateway: the fault it gets. */
  async function xmlFault(user: User, method: string, params: readonly XmlParam[]): Promise<XmlRpcFault> {
    const response = await send(user, xmlCall(method, params), 'text/xml');
    assert.equal(response.status, 200);
    try {
      decodeXmlRpcResponse(response.body);
    } catch (err) {
      if (err instanceof XmlRpcFault) return err;
      throw err;
    }
    assert.fail(`${method} was not refused: ${response.body.toString()}`);
  }

  async function custom1(hash: string): Promise<unknown> {
    return ((JSON.parse((await direct(json(request('d.custom1', [hash], 1)))).toString()) as Answer).result);
  }

  async function state(hash: string): Promise<unknown> {
    return ((JSON.parse((await direct(json(request('d.state', [hash], 1)))).toString()) as Answer).result);
  }

  async function connectionSeed(hash: string): Promise<unknown> {
    return ((JSON.parse((await direct(json(request('d.connection_seed', [hash], 1)))).toString()) as Answer).result);
  }

  describe('what rtorrent answers is relayed unchanged', () => {
    it('a single call gets the very bytes rtorrent answers it with', async () => {
      for (const [user, body] of [
        ['app', json(request('system.client_version', [''], 1))],
        ['app', json(request('d.name', [readHash], 'name'))],
        ['viewer', json(request('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes='], 7))],
      ] as const) {
        const { bytes, answer } = await relayed(user, body);
        assert.deepEqual(bytes, await direct(body), body);
        assert.ok(!Array.isArray(answer) && answer.error === undefined, bytes.toString());
      }
      const { answer } = await relayed('app', json(request('system.client_version', [''], 1)));
      assert.deepEqual(answer, { id: 1, jsonrpc: '2.0', result: '0.16.20' });
    });

    it('a batch gets one answer per call with an id, in the order sent, its notifications run in between', async () => {
      const batch = json([
        request('d.name', [readHash], 'first'),
        request('d.custom1.set', [labelHash, 'batch-label']),
        request('d.custom1', [labelHash], 2),
        request('system.client_version', [''], 3),
      ]);
      const { answer } = await relayed('app', batch);
      assert.ok(Array.isArray(answer));
      assert.deepEqual(answer.map((a) => a.id), ['first', 2, 3]);
      assert.equal(answer[1]?.result, 'batch-label', 'the notification ran before the call after it');
      assert.equal(answer[2]?.result, '0.16.20');
      assert.equal(typeof answer[0]?.result, 'string');
    });

    it('a one-call batch is answered with an array', async () => {
      const { answer } = await relayed('viewer', json([request('system.client_version', [''], 1)]));
      assert.deepEqual(answer, [{ id: 1, jsonrpc: '2.0', result: '0.16.20' }]);
    });

    it('id null is answered with id null', async () => {
      const { answer } = await relayed('app', json(request('system.client_version', [''], null)));
      assert.deepEqual(answer, { id: null, jsonrpc: '2.0', result: '0.16.20' });
    });

    it("rtorrent's own errors come back as JSON-RPC errors: an unknown method for full, an unknown or wrong target for anyone", async () => {
      const cases: Array<[User, string, number, RegExp]> = [
        ['admin', json(request('no.such.method', [''], 1)), -32601, /^method not found: no\.such\.method$/],
        ['app', json(request('d.name', ['0000000000000000000000000000000000000000'], 2)), -32602, /^invalid parameters: info-hash not found$/],
        ['app', json(request('d.name', [''], 3)), -32602, /^Target of wrong type to generic command\.$/],
        ['admin', json(request('d.name', ['not-a-hash'], 4)), -32602, /^invalid parameters: invalid target$/],
      ];
      for (const [user, body, code, message] of cases) {
        const { bytes, answer } = await relayed(user, body);
        assert.deepEqual(bytes, await direct(body), body);
        assert.ok(!Array.isArray(answer));
        assert.equal(answer.error?.code, code, body);
        assert.match(answer.error?.message ?? '', message, body);
        assert.equal(answer.result, undefined);
      }
    });

    it('an error inside a batch stays with its call; the other calls are answered', async () => {
      const { answer } = await relayed('admin', json([request('system.client_version', [''], 1), request('no.such.method', [''], 2), request('d.name', [readHash], 3)]));
      assert.ok(Array.isArray(answer));
      assert.deepEqual(answer.map((a) => [a.id, a.error?.code ?? 'result']), [[1, 'result'], [2, -32601], [3, 'result']]);
    });
  });

  describe('notifications: rtorrent runs them and answers nothing', () => {
    it('a notification gets HTTP 200 with an empty body, and rtorrent has done it', async () => {
      for (const body of [json(request('d.custom1.set', [labelHash, 'notified'])), json([request('d.custom1.set', [labelHash, 'notified-in-batch'])])]) {
        const response = await send('app', body);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('x-gateway-error'), null);
        assert.equal(response.headers.get('content-length'), '0');
        assert.equal(response.body.length, 0);
      }
      assert.equal(await custom1(labelHash), 'notified-in-batch');
    });

    it('a refused notification gets the same empty 200 and runs nothing; the refusal is logged', async () => {
      const marker = join(stack.rtorrent.dir, 'notified-execute');
      const from = stack.gateway.logs.length;
      const response = await send('app', json(request('execute.throw', ['', 'touch', marker])));
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED');
      assert.equal(response.headers.get('content-length'), '0');
      assert.equal(response.body.length, 0);
      await sleep(100);
      assert.equal(existsSync(marker), false);
      const line = stack.gateway.logs.slice(from).find((entry) => entry.msg === 'call denied');
      assert.match(String(line?.denial), /^execute\.throw: /);
    });
  });

  describe('a refusal is the same as for the XML-RPC twin', () => {
    const twins = (marker: string): Array<[string, string, XmlParam[]]> => [
      ['execute.throw', 'execute.throw', ['', 'touch', marker]],
      ['a d.multicall2 with an $execute.throw= row', 'd.multicall2', ['', 'main', 'd.name=', `cat=$execute.throw=touch,${marker}`]],
      ['a d.multicall2 with a bare execute.throw= row', 'd.multicall2', ['', 'main', `execute.throw=touch,${marker}`]],
    ];
    for (const user of ['app', 'viewer'] as const) {
      it(`${USERS[user].policy}: the JSON-RPC error carries the XML-RPC fault's code and message, and nothing runs`, async () => {
        const marker = join(stack.rtorrent.dir, `twin-${user}`);
        for (const [what, method, params] of twins(marker)) {
          const error = (await refused(user, json(request(method, params, 11)))).error;
          const fault = await xmlFault(user, method, params);
          assert.equal(error?.code, fault.faultCode, what);
          assert.equal(error?.message, fault.faultString, what);
          assert.match(fault.faultString, new RegExp(`execute\\.throw is not allowed for user "${user}" \\(policy "${USERS[user].policy}"\\)`), what);
        }
        await sleep(100);
        assert.equal(existsSync(marker), false, 'rtorrent ran nothing');
      });
    }

    it('a batch with one refused call is refused whole: the allowed calls do not run either', async () => {
      const marker = join(stack.rtorrent.dir, 'twin-batch');
      const before = await custom1(labelHash);
      const answers = (await refused('app', json([request('d.custom1.set', [labelHash, 'must-not-be-set'], 1), request('execute.throw', ['', 'touch', marker], 2)]))) as unknown as Answer[];
      assert.deepEqual(answers.map((a) => [a.id, a.error?.code]), [[1, -32403], [2, -32403]]);
      assert.match(answers[0]?.error?.message ?? '', /^not run: the gateway refuses a batch as a whole, and batch call 2 \(execute\.throw\) was refused/);
      assert.equal(await custom1(labelHash), before);
      assert.equal(existsSync(marker), false);
    });
  });

  describe('private commands, which 0.16.20 runs over JSON-RPC but not over XML-RPC', () => {
    it('rtorrent runs d.state.set sent straight to it as JSON-RPC, and says "not defined" to the same call as XML-RPC', async () => {
      assert.equal(await state(stateHash), 0);
      const answer = JSON.parse((await direct(json(request('d.state.set', [stateHash, 1], 1)))).toString()) as Answer;
      assert.equal(answer.error, undefined, JSON.stringify(answer));
      assert.equal(await state(stateHash), 1, 'the private setter changed the download');
      const xml = await stack.rtorrent.raw(xmlCall('d.state.set', [stateHash, 0]));
      assert.throws(() => decodeXmlRpcResponse(xml.body), (err: unknown) => err instanceof XmlRpcFault && err.faultString === "method 'd.state.set' not defined");
      // scgi_local reaches its command too: rtorrent refuses only because one socket is open already.
      const scgi = JSON.parse((await direct(json(request('scgi_local', ['', join(stack.rtorrent.dir, 'second.socket')], 2)))).toString()) as Answer;
      assert.deepEqual(scgi.error, { code: -32602, message: 'SCGI already enabled.' });
      const restored = JSON.parse((await direct(json(request('d.state.set', [stateHash, 0], 3)))).toString()) as Answer;
      assert.equal(restored.error, undefined);
      assert.equal(await state(stateHash), 0);
    });

    for (const user of ['app', 'viewer', 'ops'] as const) {
      const policy = USERS[user].policy;
      it(`${policy}: private commands are refused over JSON-RPC as over XML-RPC, and change nothing`, async () => {
        const seedBefore = await connectionSeed(stateHash);
        const calls: Array<[string, XmlParam[]]> = [
          ['d.state.set', [stateHash, 1]],
          // standard allows it after a load.* source and inside command strings, not as a call of its own
          ['d.connection_seed.set', [stateHash, 'initial_seed']],
          ['system.shutdown', ['']],
          ['scgi_local', ['', join(stack.rtorrent.dir, `${user}.socket`)]],
        ];
        for (const [method, params] of calls) {
          const error = (await refused(user, json(request(method, params, 5)))).error;
          assert.equal(error?.code, -32403);
          assert.match(error?.message ?? '', new RegExp(`^denied by the gateway: ${method.replace(/\./g, '\\.')} is not allowed for user "${user}" \\(policy "${policy}"\\): .*is private in rtorrent`));
          const fault = await xmlFault(user, method, params);
          assert.equal(fault.faultString, error?.message);
          // As a notification and inside a batch it is refused all the same.
          const notified = await send(user, json(request(method, params)));
          assert.equal(notified.headers.get('x-gateway-error'), 'GW_POLICY_DENIED');
          assert.equal(notified.body.length, 0);
          const batch = (await refused(user, json([request('system.client_version', [''], 1), request(method, params, 2)]))) as unknown as Answer[];
          assert.deepEqual(batch.map((a) => a.error?.code), [-32403, -32403]);
        }
        assert.equal(await state(stateHash), 0, 'd.state is unchanged');
        assert.equal(await connectionSeed(stateHash), seedBefore, 'd.connection_seed is unchanged');
        assert.ok(stack.rtorrent.running(), 'rtorrent is still running');
        assert.equal(existsSync(join(stack.rtorrent.dir, `${user}.socket`)), false);
      });
    }

    it('a policy built on full that denies system.shutdown.normal does not let its private alias system.shutdown through', async () => {
      const denied = await refused('ops', json(request('system.shutdown.normal', [''], 1)));
      assert.match(denied.error?.message ?? '', /: system\.shutdown\.normal is not in policy "no-shutdown"$/);
      const alias = await refused('ops', json(request('system.shutdown', [''], 2)));
      assert.match(alias.error?.message ?? '', /system\.shutdown is private in rtorrent/);
      await sleep(200);
      assert.ok(stack.rtorrent.running(), 'rtorrent is still running');
      // The refusal is the private name's, not the policy's: its other calls still pass.
      const { answer } = await relayed('ops', json(request('d.name', [readHash], 3)));
      assert.ok(!Array.isArray(answer) && typeof answer.result === 'string');
    });

    it('full: d.state.set passes, and rtorrent runs it', async () => {
      const { answer } = await relayed('admin', json(request('d.state.set', [stateHash, 1], 8)));
      assert.ok(!Array.isArray(answer) && answer.error === undefined, JSON.stringify(answer));
      assert.equal(await state(stateHash), 1);
      await relayed('admin', json(request('d.state.set', [stateHash, 0], 9)));
      assert.equal(await state(stateHash), 0);
    });
  });
});
