import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');

/** Small answers, a fault and a large (streamed) answer, mixed as a dashboard mixes them. */
const MIX = [
  xmlCall('system.client_version'),
  xmlCall('d.name', ['0000000000000000000000000000000000000000']),
  xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=', 'd.directory=', 'd.creation_date=', 'd.message=']),
  xmlCall('system.listMethods'),
  xmlCall('throttle.global_down.max_rate'),
];

/**
 * rtorrent listens on one SCGI socket only, a Unix one in these tests: this passes each TCP
 * connection's bytes through to it unchanged, so the gateway's TCP upstream meets the real rtorrent.
 */
async function tcpToUnix(socketPath: string): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const upstream = connect({ path: socketPath });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

describe('upstream connections, reused from call to call, against a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  let rtorrent: RtorrentInstance;
  let overUnix: GatewayTestInstance;
  let overTcp: GatewayTestInstance;
  let relay: Server;
  let expected: Buffer[];

  before(async () => {
    rtorrent = await startRtorrent({ torrents: 200, name: 'connections' });
    const bridge = await tcpToUnix(rtorrent.socketPath);
    relay = bridge.server;
    // Few upstream slots, so each socket is reconnected many times over.
    overUnix = await startGateway({ upstream: `unix:${rtorrent.socketPath}`, upstreamToml: 'timeout = "10s"\nmax_connections = 3' });
    overTcp = await startGateway({ upstream: `tcp://127.0.0.1:${bridge.port}`, upstreamToml: 'timeout = "10s"\nmax_connections = 3' });
    expected = await Promise.all(MIX.map(async (body) => (await rtorrent.raw(body)).body));
  });
  after(async () => {
    await overUnix?.close();
    await overTcp?.close();
    await new Promise((resolve) => relay?.close(resolve));
    await rtorrent?.stop();
  });

  it('the mix holds both kinds of answer: read whole and streamed', () => {
    assert.ok(expected.some((body) => body.length > WHOLE_ANSWER_MAX_BYTES));
    assert.ok(expected.some((body) => body.length <= WHOLE_ANSWER_MAX_BYTES));
  });

  for (const [name, gateway] of [
    ['a Unix socket', () => overUnix],
    ['TCP', () => overTcp],
  ] as const) {
    it(`relays 120 mixed calls over ${name}, 12 at a time, each byte-identical to rtorrent's own answer`, async () => {
      const calls = Array.from({ length: 120 }, (_, index) => index);
      for (let start = 0; start < calls.length; start += 12) {
        await Promise.all(
          calls.slice(start, start + 12).map(async (index) => {
            const which = index % MIX.length;
            const response = await post(gateway().url(), MIX[which] as string, { authorization: ADMIN });
            assert.equal(response.status, 200, `call ${index}`);
            assert.ok(response.body.equals(expected[which] as Buffer), `call ${index} (${which}) differs from rtorrent's answer`);
          }),
        );
      }
    });
  }

  it('keeps serving over TCP after a client hung up on a large answer', async () => {
    // The client reads the head and the first body bytes of the big answer, then hangs up.
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port: overTcp.port, path: '/RPC2', method: 'POST', agent: false, headers: { 'content-type': 'text/xml', authorization: ADMIN } },
        (response) => {
          assert.equal(response.statusCode, 200);
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') reject(error);
      });
      request.end(MIX[2]);
    });
    for (let index = 0; index < 10; index++) {
      const which = index % MIX.length;
      const response = await post(overTcp.url(), MIX[which] as string, { authorization: ADMIN });
      assert.ok(response.body.equals(expected[which] as Buffer), `call ${index} after the abandoned one`);
    }
  });
});
