/**
 * UNTRUSTED_CONNECTION=1 goes only to an rtorrent whose own release takes the whole call that way:
 * the header first appeared in 0.16.9, and rtorrent's safe list grew after it (d.complete only in
 * 0.16.16). A recording SCGI peer reports each release; what the gateway sends it is read back.
 * A pass-through in front of the real rtorrent 0.9.8 and 0.16.20 shows the same against the real
 * thing; test/integration/policy-clients.test.ts shows 0.16.20 accepting every client call the
 * gateway marks this way.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { relayTo, rtorrentStyleReply, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, startRtorrent } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, scgiRequest, xmlCall, type XmlRpcDecoded } from '../helpers/scgi-direct.js';
import { sonarr } from '../helpers/client-calls.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const HASH = '0123456789ABCDEF0123456789ABCDEF01234567';
/** A Sonarr list with d.complete, which is on rtorrent's safe list only from 0.16.16. */
const SONARR_LIST = xmlCall(...sonarr.shortList());
const PLAIN_LIST = xmlCall('d.multicall2', ['', 'main', 'd.name=', 'd.hash=']);
const USERS = {
  admin: { password: 'admin-secret', policy: 'full' },
  sonarr: { password: 'sonarr-secret', policy: 'arr' },
  app: { password: 'app-secret', policy: 'standard' },
};

interface Peer {
  readonly fake: FakeScgiServer;
  readonly gateway: GatewayTestInstance;
  /** The UNTRUSTED_CONNECTION value the peer got with the call, or undefined. */
  send(user: keyof typeof USERS, body: string): Promise<string | undefined>;
}

const open: Peer[] = [];
after(async () => {
  for (const peer of open.splice(0)) {
    await peer.gateway.close();
    await peer.fake.close();
  }
});

async function peer(version: string, upstreamToml = ''): Promise<Peer> {
  const fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<?xml version="1.0"?><methodResponse><params><param><value><string>ok</string></value></param></params></methodResponse>')), { version });
  const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, users: USERS, upstreamToml: `timeout = "5s"\n${upstreamToml}` });
  const send = async (user: keyof typeof USERS, body: string): Promise<string | undefined> => {
    const response = await post(gateway.url(), body, { authorization: basicAuth(user, USERS[user].password) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-error'), null, response.body.toString());
    return fake.requests.at(-1)?.headers.find(([name]) => name === 'UNTRUSTED_CONNECTION')?.[1];
  };
  const made = { fake, gateway, send };
  open.push(made);
  return made;
}

describe('UNTRUSTED_CONNECTION by the release that answers', () => {
  it("sends a Sonarr list with d.complete untrusted to 0.16.20 and 0.16.16, trusted to 0.16.12 and 0.9.8", async () => {
    for (const [version, expected] of [['0.16.20', '1'], ['0.16.16', '1'], ['0.16.12', undefined], ['0.16.9', undefined], ['0.9.8', undefined]] as const) {
      const { send } = await peer(version);
      assert.equal(await send('sonarr', SONARR_LIST), expected, version);
    }
  });

  it('sends a list of getters every release marks safe untrusted from 0.16.9 on, never to 0.9.8', async () => {
    assert.equal(await (await peer('0.16.12')).send('app', PLAIN_LIST), '1');
    assert.equal(await (await peer('0.16.9')).send('app', PLAIN_LIST), '1');
    assert.equal(await (await peer('0.9.8')).send('app', PLAIN_LIST), undefined);
  });

  it('sends trusted what no release takes untrusted, and whatever a full user sends', async () => {
    const { send } = await peer('0.16.20');
    assert.equal(await send('app', xmlCall('load.start', ['', `magnet:?xt=urn:btih:${HASH}`, 'd.custom1.set=tv'])), undefined);
    assert.equal(await send('admin', PLAIN_LIST), undefined);
  });

  it('sends nothing untrusted with upstream.untrusted = "never"', async () => {
    assert.equal(await (await peer('0.16.20', 'untrusted = "never"')).send('app', PLAIN_LIST), undefined);
  });

  it('asks the version again after rtorrent could not be reached, and follows the release that comes back', async () => {
    const first = await peer('0.16.12');
    assert.equal(await first.send('sonarr', SONARR_LIST), undefined);
    await first.fake.close();
    const down = await post(first.gateway.url(), SONARR_LIST, { authorization: basicAuth('sonarr', USERS.sonarr.password) });
    assert.equal(down.status, 502);
    // The same socket path, now answered by a newer release.
    const upgraded = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<?xml version="1.0"?><methodResponse><params><param><value><i8>0</i8></value></param></params></methodResponse>')), {
      version: '0.16.20',
      socketPath: first.fake.socketPath,
    });
    open.push({ ...first, fake: upgraded });
    const response = await post(first.gateway.url(), SONARR_LIST, { authorization: basicAuth('sonarr', USERS.sonarr.password) });
    assert.equal(response.status, 200);
    assert.equal(upgraded.requests.at(-1)?.headers.find(([name]) => name === 'UNTRUSTED_CONNECTION')?.[1], '1');
  });

  it("logs what to do when rtorrent refuses an untrusted call (fault -507)", async () => {
    const refusal =
      '<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>-507</i4></value></member>' +
      '<member><name>faultString</name><value><string>Command "d.name" is not allowed for untrusted connections.</string></value></member></struct></value></fault></methodResponse>';
    const fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(refusal)), { version: '0.16.20' });
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, users: USERS });
    open.push({ fake, gateway, send: async () => undefined });
    const response = await post(gateway.url(), PLAIN_LIST, { authorization: basicAuth('app', USERS.app.password) });
    assert.match(response.body.toString(), /-507/);
    const line = gateway.logs.find((entry) => /refused a call sent with UNTRUSTED_CONNECTION=1/.test(String(entry.msg)));
    assert.ok(line, 'a warn line');
    assert.equal(line.level, 40);
    assert.equal(line.rtorrent, '0.16.20');
    assert.match(String(line.msg), /upstream\.untrusted = "never"/);
  });

  it("never passes an SCGI client's own UNTRUSTED_CONNECTION through: the listener decides as the HTTP side does", async () => {
    const dir = makeTempDir('untrusted-listener');
    try {
      const fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<?xml version="1.0"?><methodResponse><params><param><value><string>ok</string></value></param></params></methodResponse>')), { version: '0.16.20' });
      const socket = join(dir, 'rutorrent.sock');
      const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, users: USERS, extraToml: `[[scgi.listeners]]\nlisten = "unix:${socket}"\nuser = "app"` });
      open.push({ fake, gateway, send: async () => undefined });
      const headers = (): Array<[string, string]> => fake.requests.at(-1)?.headers ?? [];
      // ruTorrent's PHP sends UNTRUSTED_CONNECTION of its own; the pair rtorrent gets is the gateway's.
      await scgiRequest({ path: socket }, PLAIN_LIST, { extraHeaders: [['UNTRUSTED_CONNECTION', '0']] });
      assert.deepEqual(headers().filter(([name]) => name === 'UNTRUSTED_CONNECTION'), [['UNTRUSTED_CONNECTION', '1']]);
      await scgiRequest({ path: socket }, xmlCall('load.start', ['', `magnet:?xt=urn:btih:${HASH}`]), { extraHeaders: [['UNTRUSTED_CONNECTION', '1']] });
      assert.deepEqual(headers().filter(([name]) => name === 'UNTRUSTED_CONNECTION'), []);
      assert.ok(!headers().some(([name]) => name.startsWith('HTTP_')));
    } finally {
      await removeTempDir(dir);
    }
  });
});

describe('UNTRUSTED_CONNECTION against the real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  for (const build of haveRtorrent ? rtorrentBuilds() : []) {
    it(`rtorrent ${build.version} gets it exactly where its release takes the call, and answers`, async () => {
      const rt = await startRtorrent({ build, torrents: 3, name: `trust-${build.version}` });
      const recorder = await startFakeScgi(relayTo(rt.socketPath), { answerProbes: false });
      const gateway = await startGateway({ upstream: `unix:${recorder.socketPath}`, users: USERS });
      try {
        const sent = async (user: keyof typeof USERS, body: string): Promise<{ header: string | undefined; answer: XmlRpcDecoded }> => {
          const response = await post(gateway.url(), body, { authorization: basicAuth(user, USERS[user].password) });
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('x-gateway-error'), null, response.body.toString());
          return {
            header: recorder.requests.at(-1)?.headers.find(([name]) => name === 'UNTRUSTED_CONNECTION')?.[1],
            answer: decodeXmlRpcResponse(response.body),
          };
        };
        const list = await sent('sonarr', SONARR_LIST);
        // 0.16.20 marks every command of Sonarr's list safe, and answers it untrusted; 0.9.8 never gets the pair.
        assert.equal(list.header, build.version === '0.9.8' ? undefined : '1');
        assert.equal((list.answer as unknown[]).length, 3);
        const hash = rt.infoHashes[0] as string;
        const label = await sent('app', xmlCall('d.custom1.set', [hash, 'tv']));
        assert.equal(label.header, undefined, 'd.custom1.set is off the safe list: sent trusted');
        assert.equal(await rt.call('d.custom1', [hash]), 'tv');
      } finally {
        await gateway.close();
        await recorder.close();
        await rt.stop();
      }
    });
  }
});
