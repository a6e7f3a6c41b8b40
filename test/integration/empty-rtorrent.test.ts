/**
 * A fresh rtorrent with no torrents yet, as every new installation starts: the lists of users whose
 * calls are weighed by cost (everyone but full) answer an empty list, on each release.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { rtorrentBuilds, type RtorrentBuild } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const USERS = {
  app: { password: 'app-secret', policy: 'standard' },
  alice: { password: 'alice-secret', policy: 'tenant' },
};

for (const build of haveRtorrent ? rtorrentBuilds() : []) describe(`an empty rtorrent ${build.version}`, () => suite(build));

function suite(build: RtorrentBuild): void {
  const stack = withStack({ rtorrent: { build, torrents: 0, name: 'empty' }, gateway: { users: USERS } });

  for (const user of ['app', 'alice'] as const) {
    it(`answers ${user}'s (policy ${USERS[user].policy}) torrent list with an empty list, not an error`, async () => {
      const response = await post(stack.url(), xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'cat="$t.multicall=d.hash=,t.url=,cat={|||}"']), {
        authorization: basicAuth(user, USERS[user].password),
      });
      assert.equal(response.status, 200, response.body.toString());
      assert.deepEqual(decodeXmlRpcResponse(response.body), []);
    });
  }
}
