/**
 * rtorrent's own faults, relayed unchanged: a call the gateway lets through and rtorrent refuses
 * must reach the client with rtorrent's bytes, over HTTP (body) and over an SCGI listener (head and
 * body), as the same call sent straight to rtorrent gets them. Once per release in rtorrentBuilds().
 *
 * The releases word and number their faults differently, and the table below says how: 0.9.8's
 * xmlrpc-c gives -501 for targets and -503 for arguments, 0.16.20's tinyxml2 reader gives -500 with
 * "invalid parameters: …" for both. A body over network.xmlrpc.size_limit is -509 on 0.16.20 only;
 * 0.9.8 reports it as a parse failure, -503.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { rtorrentBuilds, type RtorrentBuild, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, faultOf, scgiRequest, xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

// Throws in CI when either release is missing, so the file fails there instead of skipping.
const BUILDS = rtorrentBuilds();
const ADMIN = basicAuth('admin', 'admin-secret');

/** Lowered from the 16 MiB default so that a small call goes over it; the gateway's own limit is far above. */
const SIZE_LIMIT = 8192;

interface Fault {
  readonly code: number;
  readonly text: string;
}

interface Case {
  readonly name: string;
  body(rt: RtorrentInstance): string;
  /** rtorrent's fault, per release */
  readonly fault: Readonly<Record<string, Fault>>;
}

const NO_SUCH_HASH = '0000000000000000000000000000000000000000';

const CASES: Case[] = [
  {
    name: 'an unknown method',
    body: () => xmlCall('no.such.method', ['']),
    fault: {
      '0.9.8': { code: -506, text: 'Method \'no.such.method\' not defined' },
      '0.16.20': { code: -506, text: 'method \'no.such.method\' not defined' },
    },
  },
  {
    name: 'an info-hash rtorrent does not have',
    body: () => xmlCall('d.name', [NO_SUCH_HASH]),
    fault: {
      '0.9.8': { code: -501, text: 'Could not find info-hash.' },
      '0.16.20': { code: -500, text: 'invalid parameters: info-hash not found' },
    },
  },
  {
    name: 'a target that is no info-hash at all',
    body: () => xmlCall('d.name', ['00']),
    fault: {
      '0.9.8': { code: -501, text: 'Unsupported target type found.' },
      '0.16.20': { code: -500, text: 'invalid parameters: invalid target' },
    },
  },
  {
    name: 'a file index past the torrent\'s last file',
    body: (rt) => xmlCall('f.path', [`${rt.infoHashes[0]}:f9`]),
    fault: {
      '0.9.8': { code: -501, text: 'Invalid index.' },
      '0.16.20': { code: -500, text: 'invalid parameters: index not found' },
    },
  },
  {
    name: 'an integer where rtorrent wants a string (d.custom1.set)',
    body: (rt) => xmlCall('d.custom1.set', [rt.infoHashes[0]!, 5]),
    fault: {
      '0.9.8': { code: -503, text: 'Wrong object type.' },
      '0.16.20': { code: -500, text: 'Wrong object type: expected: string actual: value' },
    },
  },
  {
    name: 'a string where rtorrent wants a number (throttle.global_down.max_rate.set)',
    body: () => xmlCall('throttle.global_down.max_rate.set', ['', 'fast']),
    fault: {
      '0.9.8': { code: -503, text: 'Not a value.' },
      '0.16.20': { code: -500, text: 'Not a value.' },
    },
  },
  {
    name: `a body over a lowered network.xmlrpc.size_limit (${SIZE_LIMIT} bytes)`,
    body: () => xmlCall('cat', ['', 'x'.repeat(SIZE_LIMIT)]),
    fault: {
      '0.9.8': { code: -503, text: `Call XML not a proper XML-RPC call.  XML-RPC request too large.  Max allowed is ${SIZE_LIMIT} bytes` },
      '0.16.20': { code: -509, text: 'Content size exceeds maximum XML-RPC limit' },
    },
  },
];

if (BUILDS.length === 0) describe('rtorrent\'s own faults, relayed unchanged', { skip: 'rtorrent not installed' }, () => undefined);
for (const build of BUILDS) describe(`rtorrent ${build.version}'s own faults, relayed unchanged`, () => suite(build));

function suite(build: RtorrentBuild): void {
  const listener = (): string => join(stack.dir, 'admin.sock');
  const stack = withStack({
    rtorrent: { build, torrents: 1, name: 'faults', extraRc: [`network.xmlrpc.size_limit.set = ${SIZE_LIMIT}`] },
    gateway: () => ({ extraToml: ['[[scgi.listeners]]', `listen = "unix:${listener()}"`, 'user = "admin"', 'mode = "0600"'].join('\n') }),
  });
  before(async () => {
    assert.equal(await stack.rtorrent.call('network.xmlrpc.size_limit'), SIZE_LIMIT);
  });

  for (const { name, body, fault } of CASES) {
    const expected = fault[build.version];
    it(`${name}: ${expected === undefined ? 'rtorrent\'s fault' : `fault ${expected.code}`}, the same bytes over HTTP and SCGI as straight from rtorrent`, async () => {
      assert.ok(expected, `an expected fault for ${build.version}`);
      const call = body(stack.rtorrent);
      const direct = await stack.rtorrent.raw(call);
      const own = faultOf(direct.body);
      assert.deepEqual({ code: own.faultCode, text: own.faultString }, expected, 'rtorrent\'s own fault');

      const viaHttp = await post(stack.url(), call, { authorization: ADMIN });
      assert.equal(viaHttp.status, 200);
      assert.equal(viaHttp.headers.get('x-gateway-error'), null, 'not a fault of the gateway\'s');
      assert.equal(viaHttp.headers.get('content-type'), 'text/xml');
      assert.ok(viaHttp.body.equals(direct.body), `HTTP: ${viaHttp.body.toString('utf8').slice(0, 300)}`);

      const viaScgi = await scgiRequest({ path: listener() }, call);
      assert.ok(viaScgi.raw.equals(direct.raw), `SCGI: ${viaScgi.raw.toString('utf8').slice(0, 300)}`);
    });
  }

  it('leaves rtorrent answering normally after each fault', async () => {
    const response = await post(stack.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    assert.equal(decodeXmlRpcResponse(response.body), build.version);
  });
}
