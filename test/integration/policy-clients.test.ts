/**
 * The calls real clients make, sent through the gateway to a real rtorrent with twenty-odd torrents,
 * once per release in rtorrentBuilds() (Debian's 0.9.8, and the current 0.16.20 where it is built),
 * as the user each client would be configured with: `standard`, and the narrower preset where there
 * is one (`arr`, `mobile`, `autobrr`, `monitoring`). Each must be relayed, and where the effect can
 * be read back, rtorrent must have done it (the label is set, the torrent was added, erased,
 * re-prioritised). `readonly` must pass every listing and refuse every write, leaving
 * rtorrent unchanged. Download directories need a policy with download_roots: one inside the root
 * passes, /etc does not.
 *
 * Where a release answers a client differently (a getter it no longer defines, a nested array its
 * XML-RPC reader keeps whole), the expectation names the release and the rtorrent source behind it.
 *
 * The calls come from test/helpers/client-calls.ts, which names each client's source;
 * test/unit/policy-clients.test.ts checks the same calls against the policy engine alone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { rtorrentBuilds, type RtorrentBuild, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall, xmlMulticall, XmlRpcFault, type XmlRpcDecoded } from '../helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes, torrentName } from '../helpers/torrents.js';
import {
  AUTOBRR_STATUS, AUTOBRR_TORRENT_GETTERS, autobrr, EXPORTER_GETTERS, exporter, flood, FLOOD_JESEC_FIELDS, FLOOD_LIST_098, getters,
  nzb360, RUTORRENT_LIST, RUTORRENT_SETTINGS_GETTERS, RUTORRENT_TOTALS, ruTorrent, SONARR_LIST, sonarr, transdroid, TRANSDROID_XML_LIMIT,
} from '../helpers/client-calls.js';
import { withStack } from '../helpers/stack.js';

// Throws in CI when Debian's rtorrent is missing, so the file fails there instead of skipping.
const BUILDS = rtorrentBuilds();

const TORRENTS = 20;

/** One login per policy a client would be given; the rooted ones are defined in before(). */
const USERS = {
  app: { password: 'app-secret', policy: 'standard' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
  sonarr: { password: 'sonarr-secret', policy: 'arr' },
  transdroid: { password: 'transdroid-secret', policy: 'mobile' },
  autobrr: { password: 'autobrr-secret', policy: 'autobrr' },
  exporter: { password: 'exporter-secret', policy: 'monitoring' },
  // standard, arr and autobrr with download_roots: where users may choose directories
  flood: { password: 'flood-secret', policy: 'standard-rooted' },
  sonarrdir: { password: 'sonarrdir-secret', policy: 'arr-rooted' },
  autobrrdir: { password: 'autobrrdir-secret', policy: 'autobrr-rooted' },
} as const;
type User = keyof typeof USERS;

/** What a call gets to work with on the rtorrent under test. */
interface Ctx {
  readonly rt: RtorrentInstance;
  /** the download root of the rooted policies */
  readonly root: string;
  /** loads a fresh torrent, stopped, as the administrator would; for calls that change or erase one */
  torrent(): Promise<string>;
  /** any of the preloaded torrents, for reads */
  readonly anyHash: string;
  fresh(): { bytes: Buffer; hash: string; name: string };
  freshUrl(): { url: string; hash: string };
  freshMagnet(): { uri: string; hash: string };
}

interface Prepared {
  /** the requests, sent in order */
  readonly bodies: string[];
  /**
   * rtorrent's own fault for a call the gateway relays: Flood sends commands of jesec's fork that
   * neither release has, and 0.16.20 cannot read autobrr's loads. The gateway must still let them
   * through.
   */
  readonly rtorrentFault?: RegExp;
  /** reads back what rtorrent did; gets each request's decoded answer */
  check?(answers: ReadonlyArray<XmlRpcDecoded | undefined>): Promise<void>;
}

interface ClientCall {
  readonly name: string;
  /** changes state: readonly must refuse it */
  readonly write: boolean;
  /** loads a torrent rtorrent fetches over HTTP, after the call has returned */
  readonly byUrl?: true;
  prepare(c: Ctx): Promise<Prepared> | Prepared;
}

const rows = (answer: XmlRpcDecoded | undefined): XmlRpcDecoded[][] => {
  assert.ok(Array.isArray(answer), `expected rows, got ${JSON.stringify(answer)}`);
  return answer as XmlRpcDecoded[][];
};

/**
 * Getters the clients ask for that a release does not define (rtorrent run without -D, as
 * packaged). rtorrent answers each with a fault inside the system.multicall and the client shows
 * the setting as unavailable; every other getter must answer with its value.
 */
const UNDEFINED_GETTERS: Readonly<Record<string, readonly string[]>> = {
  // The per-category socket limits came after 0.9.8 (0.16.20 src/command_local.cc builds
  // system.sockets.<category>.* for each socket category); ruTorrent asks for them on every release.
  '0.9.8': ['system.sockets.http.max_size'],
  // 0.16 defines network.port_* (now network.listen.port.*) and network.http.max_open (now
  // network.http.max_total_connections) only under method.use_deprecated (src/main.cc), and has no
  // network.proxy_address at all (network.proxy.* took its place, src/command_network.cc).
  '0.16.20': ['network.port_open', 'network.port_random', 'network.port_range', 'network.http.max_open', 'network.proxy_address'],
};

/** A system.multicall of getters: one value per getter, or "not defined" where the release lacks it. */
function assertGetters(version: string, names: readonly string[], answer: XmlRpcDecoded | undefined): void {
  assert.ok(Array.isArray(answer), `expected one answer per getter, got ${JSON.stringify(answer)}`);
  assert.equal(answer.length, names.length);
  const undefinedHere = UNDEFINED_GETTERS[version] ?? [];
  names.forEach((name, i) => {
    const member = answer[i];
    if (undefinedHere.includes(name)) {
      // xmlrpc-c (0.9.8) writes "Method", the tinyxml2 reader of 0.16.20 "method" (src/rpc/xmlrpc_tinyxml2.cc execute_command).
      const fault = member !== null && typeof member === 'object' && !Array.isArray(member) && !Buffer.isBuffer(member) ? member.faultString : undefined;
      assert.ok(String(fault).toLowerCase() === `method '${name}' not defined`, `${name} on ${version}: ${JSON.stringify(member)}`);
    } else {
      assert.ok(Array.isArray(member) && member.length === 1, `${name} on ${version}: ${JSON.stringify(member)}`);
    }
  });
}

async function listed(rt: RtorrentInstance): Promise<string[]> {
  const list = await rt.call('download_list', ['']);
  return Array.isArray(list) ? list.map(String) : [];
}

/**
 * How long a URL load may take to show. 0.9.8 fetches at once. 0.16.20's libtorrent runs curl on
 * whole-second timers, and while other transfers (announces to the test trackers) are in flight it
 * can fall back to polling every 10 s (src/net/curl_stack.cc CurlStack::set_timeout,
 * receive_timeout): measured 1 s usually, up to 6 s with started torrents.
 */
const fetchDeadlineMs = (version: string): number => (version === '0.9.8' ? 5000 : 15_000);

/** URL loads are fetched by curl after the call returns, and magnets appear a moment later. */
async function waitForTorrent(rt: RtorrentInstance, hash: string, present = true): Promise<void> {
  const deadline = Date.now() + fetchDeadlineMs(rt.version);
  while ((await listed(rt)).includes(hash) !== present) {
    assert.ok(Date.now() < deadline, `torrent ${hash} ${present ? 'never appeared' : 'was never removed'}`);
    await sleep(20);
  }
}

/** The d.* values the checks read back, per hash. */
async function get(rt: RtorrentInstance, method: string, target: string): Promise<XmlRpcDecoded> {
  return rt.call(method, [target]);
}

// --- ruTorrent ---------------------------------------------------------------------------------------

const RUTORRENT: ClientCall[] = [
  {
    name: 'ruTorrent lists torrents',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...ruTorrent.list())],
      check: async ([answer]) => {
        const list = rows(answer);
        assert.ok(list.length >= TORRENTS, `${list.length} rows`);
        for (const row of list) {
          assert.equal(row.length, RUTORRENT_LIST.length);
          assert.match(String(row[0]), /^[0-9A-F]{40}$/);
        }
      },
    }),
  },
  {
    name: 'ruTorrent lists files',
    write: false,
    prepare: (c) => ({
      bodies: [xmlCall(...ruTorrent.files(c.anyHash))],
      check: async ([answer]) => {
        const [file] = rows(answer);
        assert.match(String(file?.[0]), /^rtg-test-clients-\d+\.bin$/);
        assert.equal(file?.[3], 16384);
      },
    }),
  },
  {
    name: 'ruTorrent lists peers',
    write: false,
    // Nobody is connected to a test rtorrent: an empty list is the right answer.
    prepare: (c) => ({
      bodies: [xmlCall(...ruTorrent.peers(c.anyHash))],
      check: async ([answer]) => assert.deepEqual(answer, []),
    }),
  },
  {
    name: 'ruTorrent lists trackers',
    write: false,
    prepare: (c) => ({
      bodies: [xmlCall(...ruTorrent.trackers(c.anyHash))],
      check: async ([answer]) => assert.equal(rows(answer)[0]?.[0], 'http://127.0.0.1:9/announce'),
    }),
  },
  {
    name: 'ruTorrent reads totals',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...getters(RUTORRENT_TOTALS, ''))],
      check: async ([answer]) => assertGetters(c.rt.version, RUTORRENT_TOTALS, answer),
    }),
  },
  {
    name: 'ruTorrent reads settings',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...getters(RUTORRENT_SETTINGS_GETTERS, ''))],
      check: async ([answer]) => assertGetters(c.rt.version, RUTORRENT_SETTINGS_GETTERS, answer),
    }),
  },
  {
    name: 'ruTorrent starts a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...ruTorrent.start(h))],
        check: async () => {
          assert.equal(await get(c.rt, 'd.state', h), 1);
          assert.equal(await get(c.rt, 'd.is_open', h), 1);
        },
      };
    },
  },
  {
    name: 'ruTorrent stops a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      await c.rt.call('d.start', [h]);
      return {
        bodies: [xmlMulticall(...ruTorrent.stop(h))],
        check: async () => {
          assert.equal(await get(c.rt, 'd.state', h), 0);
          assert.equal(await get(c.rt, 'd.is_open', h), 0);
        },
      };
    },
  },
  {
    name: 'ruTorrent rechecks, announces and removes a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...ruTorrent.recheckAnnounceErase(h))],
        check: () => waitForTorrent(c.rt, h, false),
      };
    },
  },
  {
    name: 'ruTorrent sets torrent and file priorities',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...ruTorrent.priorities(h, 3))],
        check: async () => {
          assert.equal(await get(c.rt, 'd.priority', h), 3);
          assert.equal(await get(c.rt, 'f.priority', `${h}:f0`), 2);
          assert.equal(await get(c.rt, 'f.prioritize_first', `${h}:f0`), 1);
        },
      };
    },
  },
  {
    name: 'ruTorrent sets a label',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlCall(...ruTorrent.label(h, 'Linux ISOs'))],
        check: async () => assert.equal(await get(c.rt, 'd.custom1', h), 'Linux ISOs'),
      };
    },
  },
  {
    name: 'ruTorrent disables a tracker',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlCall(...ruTorrent.trackerEnabled(h, 0))],
        check: async () => assert.equal(await get(c.rt, 't.is_enabled', `${h}:t0`), 0),
      };
    },
  },
  {
    name: 'ruTorrent sets torrent properties',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...ruTorrent.setProperties(h))],
        check: async () => {
          assert.equal(await get(c.rt, 'd.uploads_max', h), 8);
          assert.equal(await get(c.rt, 'd.peers_max', h), 100);
          assert.equal(await get(c.rt, 'd.tracker_numwant', h), 50);
          assert.equal(await get(c.rt, 'd.peer_exchange', h), 1);
        },
      };
    },
  },
  {
    name: 'ruTorrent switches a torrent to super-seeding',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlCall(...ruTorrent.superSeed(h))],
        check: async () => assert.equal(await get(c.rt, 'd.connection_seed', h), 'initial_seed'),
      };
    },
  },
  {
    name: 'ruTorrent sets global rates',
    write: true,
    prepare: (c) => ({
      bodies: [xmlMulticall(...ruTorrent.globalRates())],
      check: async () => {
        assert.equal(await c.rt.call('throttle.global_up.max_rate', ['']), 1048576);
        assert.equal(await c.rt.call('throttle.global_down.max_rate', ['']), 0);
      },
    }),
  },
  {
    name: 'ruTorrent saves peer, upload and tracker settings',
    write: true,
    prepare: (c) => ({
      bodies: [xmlMulticall(...ruTorrent.saveSettings(201, 101, 51))],
      check: async () => {
        assert.equal(await c.rt.call('throttle.max_peers.normal', ['']), 201);
        assert.equal(await c.rt.call('throttle.max_uploads.global', ['']), 101);
        assert.equal(await c.rt.call('trackers.numwant', ['']), 51);
      },
    }),
  },
];

const RUTORRENT_ADD: ClientCall = {
  name: 'ruTorrent adds a torrent with a label and a directory',
  write: true,
  prepare: (c) => {
    const t = c.fresh();
    const dir = join(c.root, 'rutorrent');
    return {
      bodies: [xmlCall(...ruTorrent.add(t.bytes, dir, `${t.name}.torrent`))],
      check: async () => {
        await waitForTorrent(c.rt, t.hash);
        assert.equal(await get(c.rt, 'd.custom1', t.hash), 'Linux%20ISOs');
        assert.equal(await get(c.rt, 'd.directory', t.hash), dir);
        assert.equal(await c.rt.call('d.custom', [t.hash, 'addtime']), '1764100000');
        assert.equal(await get(c.rt, 'd.state', t.hash), 1);
      },
    };
  },
};

// --- Flood, without the sequential downloads of jesec's fork, which neither release has ----------------

/** Every add here carries a comment, a URL's too. */
const FLOOD_ADD = { comment: 'ubuntu release' } as const;

const FLOOD_READS: ClientCall[] = [
  {
    name: 'Flood lists torrents (the getters 0.9.8 has)',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...flood.list(FLOOD_LIST_098))],
      check: async ([answer]) => {
        const list = rows(answer);
        assert.ok(list.length >= TORRENTS);
        for (const row of list) assert.equal(row.length, FLOOD_LIST_098.length);
      },
    }),
  },
  {
    name: 'Flood lists torrents with jesec\'s d.down.sequential and d.timestamp.last_active, which rtorrent answers with its own fault',
    write: false,
    // Neither release has d.down.sequential; both fault with this text (0.9.8 as -503, 0.16.20 as -500).
    prepare: () => ({
      bodies: [xmlCall(...flood.list(['d.hash=', ...FLOOD_JESEC_FIELDS]))],
      rtorrentFault: /^Command "d\.down\.sequential" does not exist\.$/,
    }),
  },
  {
    name: 'Flood lists files, peers and trackers',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...flood.details(c.anyHash))],
      check: async ([answer]) => {
        const [files, peers, trackers] = rows(answer) as XmlRpcDecoded[][][];
        assert.equal(rows(files?.[0]).length, 1);
        assert.deepEqual(peers?.[0], []);
        assert.equal(rows(trackers?.[0])[0]?.[0], 'http://127.0.0.1:9/announce');
      },
    }),
  },
  {
    name: 'Flood reads settings and features',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...flood.settings())],
      check: async ([answer]) => assertGetters(c.rt.version, flood.settings().map(([name]) => name), answer),
    }),
  },
];

const FLOOD_ACTIONS: ClientCall[] = [
  {
    name: 'Flood announces, rechecks and removes a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return { bodies: [xmlMulticall(...flood.announceRecheckErase(h))], check: () => waitForTorrent(c.rt, h, false) };
    },
  },
  {
    name: 'Flood edits a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...flood.edit(h))],
        check: async () => {
          assert.equal(await get(c.rt, 'd.priority', h), 2);
          assert.equal(await get(c.rt, 'd.custom1', h), 'tv');
          assert.equal(await c.rt.call('d.custom', [h, 'flood.selected_size']), '123');
        },
      };
    },
  },
  {
    name: 'Flood sets jesec\'s d.down.sequential, which rtorrent does not define',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        // jesec's fork, which Flood is written for, defines it. xmlrpc-c (0.9.8) writes "Method",
        // the tinyxml2 reader of 0.16.20 "method" (src/rpc/xmlrpc_tinyxml2.cc execute_command).
        // Flood's direct d.connection_seed.set is refused by the gateway instead: rtorrent registers
        // it private (jsonrpc-rtorrent.test.ts).
        bodies: [xmlCall(...flood.sequential(h))],
        rtorrentFault: /^[Mm]ethod 'd\.down\.sequential\.set' not defined$/,
        check: async (answers) => assert.deepEqual(answers, [undefined], 'rtorrent answered with its own fault'),
      };
    },
  },
  {
    name: 'Flood replaces trackers',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...flood.replaceTrackers(h))],
        check: async () => {
          assert.equal(await get(c.rt, 't.is_enabled', `${h}:t0`), 0);
          assert.equal(await get(c.rt, 'd.tracker_size', h), 2);
        },
      };
    },
  },
  {
    name: 'Flood sets a file priority and starts and stops a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...flood.filePriorityStartStop(h, 0))],
        check: async () => {
          assert.equal(await get(c.rt, 'f.priority', `${h}:f0`), 0);
          assert.equal(await get(c.rt, 'd.state', h), 0);
        },
      };
    },
  },
  {
    name: 'Flood saves throttle settings',
    write: true,
    prepare: (c) => ({
      bodies: [xmlMulticall(...flood.saveThrottle())],
      check: async () => {
        assert.equal(await c.rt.call('throttle.global_down.max_rate', ['']), 1048576);
        assert.equal(await c.rt.call('throttle.max_peers.normal', ['']), 100);
      },
    }),
  },
];

/** Flood always sends a destination, so adding and moving need download_roots. */
const FLOOD_DIRECTORIES: ClientCall[] = [
  {
    name: 'Flood adds a file into a directory',
    write: true,
    prepare: (c) => {
      const t = c.fresh();
      const dir = join(c.root, 'movies');
      return {
        bodies: [xmlCall(...flood.addFile(t.bytes, dir, FLOOD_ADD))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          assert.equal(await get(c.rt, 'd.directory', t.hash), dir);
          assert.equal(await get(c.rt, 'd.custom1', t.hash), 'movies,hd');
          assert.equal(await get(c.rt, 'd.connection_seed', t.hash), 'initial_seed');
          assert.equal(await c.rt.call('d.custom', [t.hash, 'addtime']), '1764100000');
        },
      };
    },
  },
  {
    name: 'Flood adds a URL into a directory',
    write: true,
    byUrl: true,
    prepare: (c) => {
      const t = c.freshUrl();
      const dir = join(c.root, 'movies');
      return {
        bodies: [xmlCall(...flood.addUrl(t.url, dir, FLOOD_ADD))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          assert.equal(await get(c.rt, 'd.directory', t.hash), dir);
          assert.equal(await get(c.rt, 'd.custom1', t.hash), 'movies,hd');
        },
      };
    },
  },
  {
    name: 'Flood moves a torrent to another directory',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      const dir = join(c.root, 'tv');
      return {
        bodies: [xmlCall(...flood.move(h, dir))],
        check: async () => assert.equal(await get(c.rt, 'd.directory', h), dir),
      };
    },
  },
];

// --- Sonarr, Radarr, Lidarr, Readarr, Prowlarr ------------------------------------------------------

const SONARR_READS: ClientCall[] = [
  {
    name: 'Sonarr tests the connection',
    write: false,
    prepare: (c) => ({ bodies: [xmlCall(...sonarr.version())], check: async ([answer]) => assert.equal(answer, c.rt.version) }),
  },
  {
    name: 'Sonarr lists torrents',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...sonarr.list())],
      check: async ([answer]) => {
        const list = rows(answer);
        assert.ok(list.length >= TORRENTS);
        for (const row of list) assert.equal(row.length, SONARR_LIST.length);
      },
    }),
  },
  {
    name: 'Sonarr reads a torrent\'s name',
    write: false,
    prepare: (c) => ({ bodies: [xmlCall(...sonarr.name(c.anyHash))], check: async ([answer]) => assert.match(String(answer), /^rtg-test-clients-/) }),
  },
];

const SONARR_ACTIONS: ClientCall[] = [
  {
    name: 'Sonarr adds a URL with a label and a priority',
    write: true,
    byUrl: true,
    prepare: (c) => {
      const t = c.freshUrl();
      return {
        bodies: [xmlCall(...sonarr.addUrl(t.url))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          assert.equal(await get(c.rt, 'd.custom1', t.hash), 'tv-sonarr');
          assert.equal(await get(c.rt, 'd.priority', t.hash), 2);
        },
      };
    },
  },
  {
    name: 'Sonarr adds a magnet stopped',
    write: true,
    // The label waits for the metadata, which never comes here; the download itself appears at once.
    prepare: (c) => {
      const m = c.freshMagnet();
      return { bodies: [xmlCall(...sonarr.addMagnetStopped(m.uri))], check: () => waitForTorrent(c.rt, m.hash) };
    },
  },
  {
    name: 'Sonarr adds a file with a label and a priority',
    write: true,
    prepare: (c) => {
      const t = c.fresh();
      return {
        bodies: [xmlCall(...sonarr.addFile(t.bytes))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          assert.equal(await get(c.rt, 'd.custom1', t.hash), 'tv-sonarr');
          assert.equal(await get(c.rt, 'd.priority', t.hash), 3);
          assert.equal(await get(c.rt, 'd.state', t.hash), 1);
        },
      };
    },
  },
  {
    name: 'Sonarr adds a file stopped',
    write: true,
    prepare: (c) => {
      const t = c.fresh();
      return {
        bodies: [xmlCall(...sonarr.addFileStopped(t.bytes))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          assert.equal(await get(c.rt, 'd.state', t.hash), 0);
        },
      };
    },
  },
  {
    name: 'Sonarr relabels a torrent and marks it imported',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: sonarr.markImported(h).map((call) => xmlCall(...call)),
        check: async () => {
          assert.equal(await get(c.rt, 'd.custom1', h), 'tv-imported');
          assert.deepEqual(await get(c.rt, 'd.views', h), ['sonarr_imported']);
        },
      };
    },
  },
  {
    name: 'Sonarr removes a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return { bodies: [xmlCall(...sonarr.remove(h))], check: () => waitForTorrent(c.rt, h, false) };
    },
  },
];

const SONARR_DIRECTORY: ClientCall = {
  name: 'Sonarr adds a URL into its download directory',
  write: true,
  byUrl: true,
  prepare: (c) => {
    const t = c.freshUrl();
    const dir = join(c.root, 'tv');
    return {
      bodies: [xmlCall(...sonarr.addUrlInto(t.url, dir))],
      check: async () => {
        await waitForTorrent(c.rt, t.hash);
        assert.equal(await get(c.rt, 'd.directory', t.hash), dir);
        assert.equal(await get(c.rt, 'd.custom1', t.hash), 'tv-sonarr');
      },
    };
  },
};

// --- Transdroid/Transdrone and nzb360 ---------------------------------------------------------------

const TRANSDROID_READS: ClientCall[] = [
  {
    name: 'Transdroid checks the version',
    write: false,
    prepare: (c) => ({ bodies: [xmlCall(...transdroid.version())], check: async ([answer]) => assert.equal(answer, c.rt.version) }),
  },
  {
    name: 'Transdroid lists torrents',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...transdroid.list())],
      check: async ([answer]) => assert.ok(rows(answer).length >= TORRENTS),
    }),
  },
  {
    name: 'nzb360 lists torrents with their start time',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...nzb360.list())],
      check: async ([answer]) => assert.ok(rows(answer).length >= TORRENTS),
    }),
  },
  {
    name: 'Transdroid shows trackers and files',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...transdroid.details(c.anyHash))],
      check: async ([answer]) => assert.equal(rows(answer).length, 2),
    }),
  },
];

const TRANSDROID_ACTIONS: ClientCall[] = [
  {
    name: 'Transdroid raises the XML limit, then adds a file',
    write: true,
    prepare: (c) => {
      const t = c.fresh();
      return {
        bodies: [xmlCall(...transdroid.raiseXmlLimit()), xmlCall(...transdroid.addFile(t.bytes))],
        check: async () => {
          // No request over 2 MiB reaches 0.9.8 (its SCGI limit), so the gateway sends no more than that.
          const reads = c.rt.version === '0.9.8' ? 2 * 1024 * 1024 : TRANSDROID_XML_LIMIT;
          assert.equal(await c.rt.call('network.xmlrpc.size_limit', ['']), reads);
          await waitForTorrent(c.rt, t.hash);
        },
      };
    },
  },
  {
    name: 'Transdroid adds a URL and a magnet',
    write: true,
    byUrl: true,
    prepare: (c) => {
      const t = c.freshUrl();
      const m = c.freshMagnet();
      return {
        bodies: [xmlMulticall(transdroid.add(t.url), transdroid.add(m.uri))],
        check: async () => {
          await waitForTorrent(c.rt, t.hash);
          await waitForTorrent(c.rt, m.hash);
        },
      };
    },
  },
  {
    name: 'Transdroid removes a torrent with its data',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return { bodies: [xmlMulticall(...transdroid.removeWithData(h))], check: () => waitForTorrent(c.rt, h, false) };
    },
  },
  {
    name: 'Transdroid pauses, resumes, stops and starts a torrent',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return {
        bodies: [xmlMulticall(...transdroid.pauseResumeStopStart(h))],
        check: async () => assert.equal(await get(c.rt, 'd.is_open', h), 1),
      };
    },
  },
  {
    name: 'Transdroid starts, pauses, resumes and stops all torrents',
    write: true,
    prepare: (c) => {
      const states = async (): Promise<Set<XmlRpcDecoded>> => new Set(rows(await c.rt.call('d.multicall2', ['', 'main', 'd.state='])).map((row) => row[0]!));
      return {
        bodies: [transdroid.startAll(), transdroid.pauseAll(), transdroid.resumeAll(), transdroid.stopAll()].map((call) => xmlCall(...call)),
        // Only the end state can be read back; every step was relayed.
        check: async () => assert.deepEqual(await states(), new Set([0])),
      };
    },
  },
  {
    name: 'Transdroid sets a file priority',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return { bodies: [xmlCall(...transdroid.filePriority(h, 0))], check: async () => assert.equal(await get(c.rt, 'f.priority', `${h}:f0`), 2) };
    },
  },
  {
    name: 'Transdroid sets transfer rates',
    write: true,
    prepare: (c) => ({
      bodies: [xmlMulticall(...transdroid.rates())],
      check: async () => assert.equal(await c.rt.call('throttle.global_down.max_rate', ['']), 512000),
    }),
  },
  {
    name: 'Transdroid sets a label and rechecks',
    write: true,
    prepare: async (c) => {
      const h = await c.torrent();
      return { bodies: [xmlMulticall(...transdroid.labelAndRecheck(h))], check: async () => assert.equal(await get(c.rt, 'd.custom1', h), 'phone') };
    },
  },
];

// --- autobrr, which sends a load's source and trailing commands as one array ---------------------------

/**
 * An autobrr load and what it leaves behind. rtorrent's xmlrpc-c reader (0.9.8) passes a lone
 * parameter after the target on as the argument itself (src/rpc/xmlrpc.cc xmlrpc_to_object), so
 * load.* sees [source, commands…]. The tinyxml2 reader 0.16.20 is built with keeps every parameter
 * as one argument (src/rpc/xmlrpc_tinyxml2.cc execute_command), so load.* finds the whole array
 * where it reads the source and faults before it loads anything (src/command_events.cc
 * apply_load). The gateway relays the call to both.
 */
function autobrrLoad(c: Ctx, body: string, hash: string, loaded: () => Promise<void>): Prepared {
  if (c.rt.version === '0.9.8') return { bodies: [body], check: loaded };
  return {
    bodies: [body],
    rtorrentFault: /^Wrong object type: expected: string actual: list$/,
    check: async ([answer]) => {
      assert.equal(answer, undefined, `rtorrent ${c.rt.version} answered ${JSON.stringify(answer)}`);
      assert.equal((await listed(c.rt)).includes(hash), false, 'nothing was added');
    },
  };
}

const AUTOBRR_READS: ClientCall[] = [
  {
    name: 'autobrr lists torrents',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...autobrr.list())],
      check: async ([answer]) => assert.ok(rows(answer).length >= TORRENTS),
    }),
  },
  {
    name: 'autobrr reads one torrent',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...autobrr.torrent(c.anyHash))],
      check: async ([answer]) => assertGetters(c.rt.version, AUTOBRR_TORRENT_GETTERS, answer),
    }),
  },
  {
    name: 'autobrr lists files (with an integer pattern)',
    write: false,
    prepare: (c) => ({ bodies: [xmlCall(...autobrr.files(c.anyHash))], check: async ([answer]) => assert.equal(rows(answer)[0]?.[1], 16384) }),
  },
  {
    name: 'autobrr reads status',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...autobrr.status(''))],
      check: async ([answer]) => assertGetters(c.rt.version, AUTOBRR_STATUS, answer),
    }),
  },
];

const AUTOBRR_ACTIONS: ClientCall[] = [
  {
    name: 'autobrr adds a URL with a label',
    write: true,
    byUrl: true,
    prepare: (c) => {
      const t = c.freshUrl();
      return autobrrLoad(c, xmlCall(...autobrr.addUrl(t.url)), t.hash, async () => {
        await waitForTorrent(c.rt, t.hash);
        assert.equal(await get(c.rt, 'd.custom1', t.hash), 'autobrr');
      });
    },
  },
  {
    name: 'autobrr adds a magnet without extras',
    write: true,
    prepare: (c) => {
      const m = c.freshMagnet();
      return autobrrLoad(c, xmlCall(...autobrr.addMagnet(m.uri)), m.hash, () => waitForTorrent(c.rt, m.hash));
    },
  },
  {
    name: 'autobrr adds a file stopped with a label',
    write: true,
    prepare: (c) => {
      const t = c.fresh();
      return autobrrLoad(c, xmlCall(...autobrr.addFileStopped(t.bytes)), t.hash, async () => {
        await waitForTorrent(c.rt, t.hash);
        assert.equal(await get(c.rt, 'd.custom1', t.hash), 'racing');
        assert.equal(await get(c.rt, 'd.state', t.hash), 0);
      });
    },
  },
];

const AUTOBRR_DIRECTORY: ClientCall = {
  name: 'autobrr adds a URL into a directory',
  write: true,
  byUrl: true,
  prepare: (c) => {
    const t = c.freshUrl();
    const dir = join(c.root, 'racing');
    return autobrrLoad(c, xmlCall(...autobrr.addUrlInto(t.url, dir)), t.hash, async () => {
      await waitForTorrent(c.rt, t.hash);
      assert.equal(await get(c.rt, 'd.directory', t.hash), dir);
    });
  },
};

// --- exporters: counters only ------------------------------------------------------------------------

const MONITORING: ClientCall[] = [
  {
    name: 'an exporter reads versions and rates',
    write: false,
    prepare: (c) => ({
      bodies: [xmlMulticall(...exporter.counters(''))],
      check: async ([answer]) => {
        assertGetters(c.rt.version, EXPORTER_GETTERS, answer);
        const results = rows(answer);
        assert.deepEqual(results[0], [c.rt.version]);
        assert.ok(Number(results[9]?.[0]) >= TORRENTS, 'view.size counts the torrents');
      },
    }),
  },
  {
    name: 'an exporter reads per-torrent counters',
    write: false,
    prepare: () => ({
      bodies: [xmlCall(...exporter.list())],
      check: async ([answer]) => assert.ok(rows(answer).length >= TORRENTS),
    }),
  },
  {
    name: 'an exporter reads tracker health',
    write: false,
    prepare: (c) => ({
      bodies: [xmlCall(...exporter.trackers(c.anyHash))],
      check: async ([answer]) => assert.equal(rows(answer)[0]?.[0], 'http://127.0.0.1:9/announce'),
    }),
  },
];

/** Which client calls run under which users. */
const PLAN: ReadonlyArray<{ readonly client: string; readonly users: readonly User[]; readonly calls: readonly ClientCall[] }> = [
  { client: 'ruTorrent', users: ['app'], calls: RUTORRENT },
  { client: 'ruTorrent', users: ['flood'], calls: [RUTORRENT_ADD] },
  { client: 'Flood', users: ['flood', 'app'], calls: [...FLOOD_READS, ...FLOOD_ACTIONS] },
  { client: 'Flood', users: ['flood'], calls: FLOOD_DIRECTORIES },
  { client: 'Sonarr family', users: ['sonarr', 'app'], calls: [...SONARR_READS, ...SONARR_ACTIONS] },
  { client: 'Sonarr family', users: ['sonarrdir', 'flood'], calls: [SONARR_DIRECTORY] },
  { client: 'Transdroid and nzb360', users: ['transdroid', 'app'], calls: [...TRANSDROID_READS, ...TRANSDROID_ACTIONS] },
  { client: 'autobrr', users: ['autobrr', 'app'], calls: [...AUTOBRR_READS, ...AUTOBRR_ACTIONS] },
  { client: 'autobrr', users: ['autobrrdir', 'flood'], calls: [AUTOBRR_DIRECTORY] },
  { client: 'exporters', users: ['exporter'], calls: MONITORING },
];

if (BUILDS.length === 0) describe('real clients\' calls through the gateway to rtorrent', { skip: 'rtorrent not installed' }, () => undefined);
for (const build of BUILDS) describe(`real clients' calls through the gateway to rtorrent ${build.version}`, () => suite(build));

function suite(build: RtorrentBuild): void {
  let root = '';
  const stack = withStack({
    rtorrent: { build, torrents: TORRENTS, name: 'clients' },
    gateway: (rt) => {
      root = join(rt.dir, 'downloads');
      mkdirSync(root);
      return {
        users: { ...USERS },
        extraToml: [
          '[policies.standard-rooted]', 'extends = "standard"', `download_roots = ["${root}"]`,
          '[policies.arr-rooted]', 'extends = "arr"', `download_roots = ["${root}"]`,
          '[policies.autobrr-rooted]', 'extends = "autobrr"', `download_roots = ["${root}"]`,
          // Each user here stands in for several clients and sends their calls back to back, far
          // faster than any of them polls; the per-user call rate (20 a second after a burst of 40)
          // has its own tests. Every bound on what one call may cost stays at its default.
          '[limits]', 'call_rate = 0',
        ].join('\n'),
      };
    },
  });
  let torrents: Server;
  let ctx: Ctx;
  /** Every path rtorrent has asked the torrent server for, in order. */
  const served: string[] = [];

  before(async () => {
    // Serves /<n>.torrent as torrent n, for the clients that add by URL.
    torrents = createServer((req, res) => {
      served.push(req.url ?? '');
      const n = Number(/^\/(\d+)\.torrent$/.exec(req.url ?? '')?.[1] ?? -1);
      if (n < 0) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/x-bittorrent' }).end(makeTorrentBytes(n, { seed: 'added' }));
    });
    await new Promise<void>((resolve) => torrents.listen(0, '127.0.0.1', resolve));
    const port = (torrents.address() as AddressInfo).port;

    let serial = 0;
    const fresh = (): { bytes: Buffer; hash: string; name: string } => {
      const bytes = makeTorrentBytes(++serial, { seed: 'added' });
      return { bytes, hash: infoHashOf(bytes), name: torrentName(serial, { seed: 'added' }) };
    };
    ctx = {
      rt: stack.rtorrent,
      root,
      anyHash: stack.rtorrent.infoHashes[0]!,
      fresh,
      freshUrl: () => {
        const n = ++serial;
        return { url: `http://127.0.0.1:${port}/${n}.torrent`, hash: infoHashOf(makeTorrentBytes(n, { seed: 'added' })) };
      },
      freshMagnet: () => {
        const hash = createHash('sha1').update(`magnet ${++serial}`).digest('hex').toUpperCase();
        // Without a tracker and with DHT off (as in the test rc), 0.9.8 silently drops a magnet.
        return { uri: `magnet:?xt=urn:btih:${hash.toLowerCase()}&dn=episode-${serial}&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce`, hash };
      },
      async torrent() {
        const t = fresh();
        await stack.rtorrent.call('load.raw', ['', t.bytes]);
        await waitForTorrent(stack.rtorrent, t.hash);
        return t.hash;
      },
    };
  });

  after(() => {
    torrents?.close();
  });

  /**
   * The torrent files rtorrent fetched from `served[from]` on, once it has fetched everything it had
   * been asked to load before now. A URL load is fetched after the call has returned: at once by
   * 0.9.8, a second or more later by 0.16.20 (fetchDeadlineMs). So instead of waiting some fixed
   * time, a marker URL loaded straight into rtorrent after the call shows when that turn has come,
   * and is erased again.
   */
  async function fetchedSince(from: number): Promise<string[]> {
    const marker = ctx.freshUrl();
    await stack.rtorrent.call('load.normal', ['', marker.url]);
    await waitForTorrent(stack.rtorrent, marker.hash);
    await stack.rtorrent.call('d.erase', [marker.hash]);
    await waitForTorrent(stack.rtorrent, marker.hash, false);
    const markerPath = new URL(marker.url).pathname;
    return served.slice(from).filter((path) => path !== markerPath);
  }

  async function send(user: User, body: string): Promise<Awaited<ReturnType<typeof post>>> {
    return post(stack.url(), body, { authorization: basicAuth(user, USERS[user].password) });
  }

  async function logLine(from: number, user: User, msg: string): Promise<Record<string, unknown>> {
    // Written once the response is out, which can be just after the client has read it.
    const deadline = Date.now() + 1000;
    for (;;) {
      const line = stack.gateway.logs.slice(from).find((entry) => entry.msg === msg && entry.user === user);
      if (line !== undefined) return line;
      assert.ok(Date.now() < deadline, `no "${msg}" log line for ${user}`);
      await sleep(5);
    }
  }

  /** Relayed, and answered by rtorrent itself. */
  async function allowed(user: User, call: ClientCall): Promise<void> {
    const prepared = await call.prepare(ctx);
    const answers: Array<XmlRpcDecoded | undefined> = [];
    for (const body of prepared.bodies) {
      const from = stack.gateway.logs.length;
      const response = await send(user, body);
      const refusal = response.headers.get('x-gateway-error');
      assert.equal(refusal, null, `refused by the gateway: ${response.body.toString('utf8').slice(0, 400)}`);
      assert.equal(response.status, 200);
      const line = await logLine(from, user, 'request');
      assert.equal(line.outcome, 'relayed');
      try {
        answers.push(decodeXmlRpcResponse(response.body));
      } catch (err) {
        if (!(err instanceof XmlRpcFault)) throw err;
        assert.ok(prepared.rtorrentFault?.test(err.faultString), `rtorrent answered with a fault: ${err.faultString}`);
        answers.push(undefined);
      }
    }
    await prepared.check?.(answers);
  }

  for (const { client, users, calls } of PLAN) {
    describe(client, () => {
      for (const user of users) {
        for (const call of calls) {
          it(`${call.name}: allowed for ${user} (${USERS[user].policy})${call.write ? ', and rtorrent did it' : ''}`, () => allowed(user, call));
        }
      }
    });
  }

  describe('download directories need download_roots', () => {
    const OUTSIDE: ReadonlyArray<{ readonly name: string; readonly method: string; readonly byUrl?: true; body(c: Ctx, h: string): string }> = [
      { name: 'moving a torrent to /etc', method: 'd.directory.set', body: (_c, h) => xmlCall('d.directory.set', [h, '/etc']) },
      { name: 'moving a torrent\'s base path to /etc', method: 'd.directory_base.set', body: (_c, h) => xmlCall('d.directory_base.set', [h, '/etc']) },
      { name: 'adding a URL into /etc', method: 'd.directory.set', byUrl: true, body: (c) => xmlCall('load.start', ['', c.freshUrl().url, 'd.directory.set=/etc']) },
      { name: 'adding a file into /etc, autobrr style', method: 'd.directory_base.set', body: (c) => xmlCall('load.raw_start', ['', [c.fresh().bytes, 'd.directory_base.set="/etc"']]) },
      { name: 'adding into a path that climbs out of the root', method: 'd.directory.set', body: (c) => xmlCall('load.raw_start', ['', c.fresh().bytes, `d.directory.set="${c.root}/../../../etc"`]) },
    ];
    // The rooted policies get as far as checking the path; standard and arr refuse every directory
    // because they have no roots (and arr has no d.directory*.set at the top level at all).
    for (const user of ['flood', 'sonarrdir', 'autobrrdir', 'app', 'sonarr'] as const) {
      for (const attempt of OUTSIDE) {
        const policy = USERS[user].policy;
        it(`${attempt.name} is refused for ${user} (${policy})`, async () => {
          const h = await ctx.torrent();
          const before = await get(stack.rtorrent, 'd.directory', h);
          const count = (await listed(stack.rtorrent)).length;
          const fetches = served.length;
          const response = await send(user, attempt.body(ctx, h));
          assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED');
          let fault: XmlRpcFault | undefined;
          try {
            decodeXmlRpcResponse(response.body);
          } catch (err) {
            if (err instanceof XmlRpcFault) fault = err;
          }
          assert.ok(fault?.faultString.includes(`${attempt.method} is not allowed for user "${user}" (policy "${policy}")`), fault?.faultString);
          assert.equal(await get(stack.rtorrent, 'd.directory', h), before);
          if (attempt.byUrl) assert.deepEqual(await fetchedSince(fetches), [], 'rtorrent fetched nothing');
          else await sleep(20);
          assert.equal((await listed(stack.rtorrent)).length, count, 'nothing was added');
        });
      }
    }
  });

  describe('readonly: every client listing passes, every write is refused and changes nothing', () => {
    /** What the refused writes could have changed, read straight from rtorrent, one line per item. */
    async function snapshot(): Promise<string[]> {
      const list = await stack.rtorrent.call('d.multicall2', ['', 'main', 'd.hash=', 'd.custom1=', 'd.state=', 'd.is_open=', 'd.priority=', 'd.directory=', 'd.tracker_size=', 'd.views=', 'd.uploads_max=']);
      const globals = await Promise.all(
        ['throttle.global_up.max_rate', 'throttle.global_down.max_rate', 'throttle.max_peers.normal', 'network.xmlrpc.size_limit', 'trackers.numwant'].map(async (name) => `${name}=${String(await stack.rtorrent.call(name, ['']))}`),
      );
      return [...rows(list).map((row) => JSON.stringify(row)), ...globals];
    }

    /**
     * A snapshot once rtorrent has settled: a torrent the administrator just started for the test is
     * still being opened and checked for a moment.
     */
    async function settled(): Promise<string[]> {
      let previous = await snapshot();
      for (let tries = 0; tries < 40; tries++) {
        await sleep(25);
        const current = await snapshot();
        if (JSON.stringify(current) === JSON.stringify(previous)) return current;
        previous = current;
      }
      assert.fail('rtorrent never settled');
    }

    const everything = [...new Set(PLAN.flatMap((entry) => entry.calls))];
    for (const call of everything.filter((c) => !c.write)) {
      it(`${call.name}: allowed for viewer (readonly)`, () => allowed('viewer', call));
    }
    for (const call of everything.filter((c) => c.write)) {
      it(`${call.name}: refused for viewer (readonly)`, async () => {
        const prepared = await call.prepare(ctx);
        const before = await settled();
        const fetches = served.length;
        for (const body of prepared.bodies) {
          const from = stack.gateway.logs.length;
          const response = await send('viewer', body);
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED');
          assert.throws(() => decodeXmlRpcResponse(response.body), (err: unknown) => err instanceof XmlRpcFault && err.faultString.includes('for user "viewer" (policy "readonly")'));
          const line = await logLine(from, 'viewer', 'call denied');
          assert.equal(line.level, 40);
        }
        if (call.byUrl) assert.deepEqual(await fetchedSince(fetches), [], 'rtorrent fetched nothing');
        const after = await settled();
        const changed = after.filter((line) => !before.includes(line));
        assert.deepEqual(changed, [], 'rtorrent is unchanged');
        assert.equal(after.length, before.length, 'no torrent was added or removed');
      });
    }
  });
}
