import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideCall, decideJsonRpcCall, requestFor } from '../../src/call-decision.js';
import { compilePolicies } from '../../src/policy/index.js';
import { scgiBodyLimit } from '../../src/upstream/request-size.js';

const MiB = 1024 * 1024;
const policies = compilePolicies({}, { bodyLimit: 16 * MiB });
const caller = { user: 'rutorrent', policy: policies.get('standard')! };
/** ruTorrent's start-up call: the largest value rtorrent's setter takes. */
const RAISE = '<methodCall><methodName>network.xmlrpc.size_limit.set</methodName><params><param><value><string></string></value></param><param><value><i4>67108863</i4></value></param></params></methodCall>';

/** An upstream whose release is known, and how often it was asked. */
function upstreamOf(version: string | undefined): { version: { current(): Promise<string | undefined> }; asked: number } {
  const upstream = {
    asked: 0,
    version: {
      current: async (): Promise<string | undefined> => {
        upstream.asked++;
        return version;
      },
    },
  };
  return upstream;
}

function forward(body: string, decide = decideCall) {
  const decision = decide(Buffer.from(body), caller);
  assert.equal(decision.kind, 'forward');
  return decision as Extract<typeof decision, { kind: 'forward' }>;
}

describe('the largest request each rtorrent release reads', () => {
  it('is 2 MiB before 0.10 and 16 MiB since; a release that cannot be read gets the larger', () => {
    assert.equal(scgiBodyLimit('0.9.8'), 2 * MiB);
    assert.equal(scgiBodyLimit('0.9.6'), 2 * MiB);
    assert.equal(scgiBodyLimit('0.10.0'), 16 * MiB);
    assert.equal(scgiBodyLimit('0.16.20'), 16 * MiB);
    assert.equal(scgiBodyLimit(undefined), 16 * MiB);
    assert.equal(scgiBodyLimit('unknown'), 16 * MiB);
  });
});

describe('network.xmlrpc.size_limit.set follows the release behind the gateway', () => {
  it('is clamped to 2 MiB for 0.9.8 and 16 MiB for 0.16.20', async () => {
    const decision = forward(RAISE);
    assert.match((await requestFor(decision, upstreamOf('0.9.8'))).toString(), /<i8>2097152<\/i8>/);
    assert.match((await requestFor(decision, upstreamOf('0.16.20'))).toString(), /<i8>16777216<\/i8>/);
  });

  it('is clamped the same way in a system.multicall and in a JSON-RPC call', async () => {
    const multicall = forward(
      '<methodCall><methodName>system.multicall</methodName><params><param><value><array><data><value><struct>' +
        '<member><name>methodName</name><value><string>network.xmlrpc.size_limit.set</string></value></member>' +
        '<member><name>params</name><value><array><data><value><string></string></value><value><i4>67108863</i4></value></data></array></value></member>' +
        '</struct></value></data></array></value></param></params></methodCall>',
    );
    assert.match((await requestFor(multicall, upstreamOf('0.9.8'))).toString(), /<i8>2097152<\/i8>/);
    const json = forward('{"jsonrpc":"2.0","id":1,"method":"network.xmlrpc.size_limit.set","params":["",67108863]}', decideJsonRpcCall);
    assert.match((await requestFor(json, upstreamOf('0.16.20'))).toString(), /,16777216\]/);
  });

  it('a call that does not raise the limit is sent as checked, without asking for the release', async () => {
    const decision = forward('<methodCall><methodName>system.client_version</methodName><params/></methodCall>');
    const upstream = upstreamOf('0.9.8');
    assert.equal(await requestFor(decision, upstream), decision.canonical);
    assert.equal(upstream.asked, 0);
  });
});
