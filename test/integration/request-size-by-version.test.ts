/**
 * rtorrent reads at most 2 MiB in one SCGI request before 0.10 and 16 MiB since, and closes the
 * connection without a word past that. The gateway learns which release answers and refuses a larger
 * call itself with 413 naming the release and its limit, so the client is told why instead of
 * getting a bare 502. A call just under the limit still gets rtorrent's own answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds } from '../helpers/rtorrent.js';
import { scgiRequest, xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const MiB = 1024 * 1024;
/** Room for the XML around the padding, either way of the limit. */
const MARGIN = 4096;

/** A call of about `bytes` bytes that any release answers (with a result or a fault of its own). */
function callOfSize(bytes: number): string {
  const shell = xmlCall('system.client_version', ['', '']);
  return xmlCall('system.client_version', ['', 'x'.repeat(bytes - shell.length)]);
}

for (const build of haveRtorrent ? rtorrentBuilds() : []) {
  const limit = build.version === '0.9.8' ? 2 * MiB : 16 * MiB;

  describe(`the request size rtorrent ${build.version} reads (${limit / MiB} MiB)`, { timeout: 120_000 }, () => {
    const stack = withStack({
      rtorrent: { build, name: 'request-size' },
      // A body limit above every release's, so that only the release's own limit is in play.
      gateway: { serverToml: 'body_limit = "20MiB"' },
    });

    it('closes the connection without an answer when a request is over its limit (sent directly)', async () => {
      const { rtorrent } = stack;
      await assert.rejects(scgiRequest({ path: rtorrent.socketPath }, callOfSize(limit + MARGIN), { timeoutMs: 20_000 }));
      // …and is still there for the next call.
      assert.equal(await rtorrent.call('system.client_version'), build.version);
    });

    it('through the gateway, such a call gets 413 naming the release and its limit, and rtorrent is not sent it', async () => {
      const { gateway } = stack;
      const response = await post(gateway.url(), callOfSize(limit + MARGIN), { authorization: ADMIN });
      assert.equal(response.status, 413);
      assert.equal(response.headers.get('x-gateway-error'), 'GW_BODY_TOO_LARGE');
      const message = response.body.toString();
      assert.match(message, new RegExp(`as sent to rtorrent ${build.version.replaceAll('.', '\\.')} at unix:`));
      assert.match(message, new RegExp(`reads at most ${limit} bytes in one request`));
      const line = gateway.logs.findLast((entry) => entry.status === 413);
      assert.ok(line, 'the refusal has its log line');
    });

    it('a call just under the limit gets rtorrent\'s own answer', async () => {
      const { gateway } = stack;
      const response = await post(gateway.url(), callOfSize(limit - MARGIN), { authorization: ADMIN });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-gateway-error'), null, response.body.toString().slice(0, 300));
      // rtorrent read it: an answer of its own (0.9.8's XML limit is 512 KiB, so a fault there).
      assert.match(response.body.toString(), /<methodResponse>/);
    });
  });
}
