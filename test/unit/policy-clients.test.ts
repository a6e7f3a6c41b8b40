/**
 * Each built-in policy against the calls the clients it serves really make, copied from their sources
 * (paths in test/helpers/client-calls.ts; see also shared/docs/clients-and-peers.md §3). A client call
 * that the matching policy refuses is a bug in the policy.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicies, type CompiledPolicy } from '../../src/policy/index.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, callOf, multicall, multicallOf } from '../helpers/call-tree.js';
import { autobrr, exporter, flood, getters, nzb360, RUTORRENT_PROPERTY_GETTERS, RUTORRENT_SETTINGS_GETTERS, RUTORRENT_TOTALS, ruTorrent, sonarr, transdroid } from '../helpers/client-calls.js';

const H = 'DD8255ECDC7CA55FB0BBF81323D87062DB1F6D1C';
const PEER = '2D5452333030302D6B736C6D7A6E74306A6B3734';
const ROOT = '/srv/torrents';
const TORRENT = Buffer.from('d8:announce23:http://127.0.0.1:1/annou4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee');
const MAGNET = 'magnet:?xt=urn:btih:dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c&dn=ubuntu';
const URL = 'https://tracker.example.org/download/123.torrent';

const policies = compilePolicies(
  {
    // Operators who let users pick download directories give them roots.
    'standard-rooted': { extends: 'standard', download_roots: [ROOT] },
    'arr-rooted': { extends: 'arr', download_roots: [ROOT] },
    'autobrr-rooted': { extends: 'autobrr', download_roots: [ROOT] },
  },
  { bodyLimit: 8 * 1024 * 1024 },
);
const policy = (name: string): CompiledPolicy => policies.get(name)!;

function allows(policyNames: string[], calls: [string, MethodCall][]): void {
  for (const name of policyNames) {
    for (const [behaviour, request] of calls) {
      test(`${behaviour} (${name})`, () => {
        const verdict = policy(name).check(request);
        assert.equal(verdict.allowed, true, verdict.allowed ? '' : verdict.reason);
      });
    }
  }
}

function refuses(policyNames: string[], calls: [string, MethodCall][]): void {
  for (const name of policyNames) {
    for (const [behaviour, request] of calls) {
      test(`${behaviour} is refused (${name})`, () => assert.equal(policy(name).check(request).allowed, false));
    }
  }
}

const RUTORRENT: [string, MethodCall][] = [
  ['ruTorrent lists torrents', callOf(ruTorrent.list())],
  ['ruTorrent lists files', callOf(ruTorrent.files(H))],
  ['ruTorrent lists peers', callOf(ruTorrent.peers(H))],
  ['ruTorrent lists trackers', callOf(ruTorrent.trackers(H))],
  ['ruTorrent reads totals', multicallOf(getters(RUTORRENT_TOTALS))],
  ['ruTorrent reads settings', multicallOf(getters(RUTORRENT_SETTINGS_GETTERS))],
  ['ruTorrent starts', multicallOf(ruTorrent.start(H))],
  ['ruTorrent stops', multicallOf(ruTorrent.stop(H))],
  ['ruTorrent rechecks, announces, removes', multicallOf(ruTorrent.recheckAnnounceErase(H))],
  ['ruTorrent sets priorities', multicallOf(ruTorrent.priorities(H, 2))],
  ['ruTorrent sets a label', callOf(ruTorrent.label(H, 'Linux ISOs'))],
  ['ruTorrent enables a tracker', callOf(ruTorrent.trackerEnabled(H, 1))],
  ['ruTorrent reads torrent properties', multicallOf(getters(RUTORRENT_PROPERTY_GETTERS, H))],
  ['ruTorrent sets torrent properties', multicallOf(ruTorrent.setProperties(H))],
  ['ruTorrent switches super-seeding', callOf(ruTorrent.superSeed(H))],
  ['ruTorrent sets global rates', multicallOf(ruTorrent.globalRates())],
  ['ruTorrent snubs, bans and kicks peers', multicallOf(ruTorrent.snubBanKick(H, PEER))],
  ['ruTorrent saves throttle settings', multicallOf(ruTorrent.saveSettings(200, 100, 50))],
];

/** Flood as it runs on jesec's fork, with sequential downloads. */
const JESEC = { sequential: true } as const;
const FLOOD: [string, MethodCall][] = [
  ['Flood lists torrents', callOf(flood.list())],
  ['Flood lists files, peers and trackers', multicallOf(flood.details(H))],
  ['Flood adds by URL', multicallOf([flood.addUrl(URL, `${ROOT}/movies`, JESEC), flood.addUrl(MAGNET, `${ROOT}/movies`, JESEC)])],
  ['Flood adds by data: URI over JSON-RPC shapes', multicallOf([flood.addUrl(`data:applications/x-bittorrent;base64,${TORRENT.toString('base64')}`, `${ROOT}/movies`, JESEC)])],
  ['Flood adds a file', callOf(flood.addFile(TORRENT, `${ROOT}/movies`, { ...JESEC, comment: 'ubuntu release' }))],
  ['Flood moves, announces, rechecks and removes', multicallOf([flood.move(H, `${ROOT}/tv`), ...flood.announceRecheckErase(H)])],
  ['Flood edits torrents', multicallOf(flood.edit(H, JESEC))],
  ['Flood replaces trackers', multicallOf(flood.replaceTrackers(H))],
  ['Flood sets file priorities and starts/stops', multicallOf(flood.filePriorityStartStop(H, 3))],
  ['Flood reads settings and features', multicallOf(flood.settings())],
  ['Flood saves throttle settings', multicallOf(flood.saveThrottle())],
];

const SONARR: [string, MethodCall][] = [
  ['Sonarr tests the connection', callOf(sonarr.version())],
  ['Sonarr lists torrents', callOf(sonarr.list())],
  ['Sonarr adds a URL with label and priority', callOf(sonarr.addUrl(URL))],
  ['Sonarr adds a magnet stopped', callOf(sonarr.addMagnetStopped(MAGNET))],
  ['Sonarr adds a file', callOf(sonarr.addFile(TORRENT))],
  ['Sonarr adds a file stopped', callOf(sonarr.addFileStopped(TORRENT))],
  ['Sonarr relabels, marks imported, checks and removes', multicallOf([...sonarr.markImported(H), sonarr.name(H), sonarr.remove(H)])],
];
const SONARR_WITH_DIRECTORY: [string, MethodCall][] = [
  ['Sonarr adds with a download directory', callOf(sonarr.addUrlInto(URL, `${ROOT}/tv`))],
];

const TRANSDROID: [string, MethodCall][] = [
  ['Transdroid checks the version', callOf(transdroid.version())],
  ['Transdroid lists torrents', callOf(transdroid.list())],
  ['nzb360 lists torrents with their start time', callOf(nzb360.list())],
  ['Transdroid shows trackers and files', multicallOf(transdroid.details(H))],
  ['Transdroid raises the XML limit before a raw add', callOf(transdroid.raiseXmlLimit())],
  ['Transdroid adds a file', callOf(transdroid.addFile(TORRENT))],
  ['Transdroid adds a URL and a magnet', multicallOf([transdroid.add(URL), transdroid.add(MAGNET)])],
  ['Transdroid removes with data', multicallOf(transdroid.removeWithData(H))],
  ['Transdroid pauses, resumes, stops and starts', multicallOf(transdroid.pauseResumeStopStart(H))],
  ['Transdroid pauses all', callOf(transdroid.pauseAll())],
  ['Transdroid resumes all', callOf(transdroid.resumeAll())],
  ['Transdroid stops all', callOf(transdroid.stopAll())],
  ['Transdroid starts all', callOf(transdroid.startAll())],
  ['Transdroid sets a file priority', callOf(transdroid.filePriority(H, 2))],
  ['Transdroid sets transfer rates', multicallOf(transdroid.rates())],
  ['Transdroid sets a label and rechecks', multicallOf(transdroid.labelAndRecheck(H))],
];

const AUTOBRR: [string, MethodCall][] = [
  ['autobrr adds a URL with a label', callOf(autobrr.addUrl(URL))],
  ['autobrr adds a magnet without extras', callOf(autobrr.addMagnet(MAGNET))],
  ['autobrr adds a file stopped', callOf(autobrr.addFileStopped(TORRENT))],
  ['autobrr lists torrents', callOf(autobrr.list())],
  ['autobrr reads one torrent', multicallOf(autobrr.torrent(H))],
  ['autobrr lists files', callOf(autobrr.files(H))],
  ['autobrr reads status', multicallOf(autobrr.status())],
];
const AUTOBRR_WITH_DIRECTORY: [string, MethodCall][] = [
  ['autobrr adds into a directory', callOf(autobrr.addUrlInto(URL, `${ROOT}/racing`))],
];

const MONITORING: [string, MethodCall][] = [
  ['an exporter reads versions and rates', multicallOf(exporter.counters())],
  ['an exporter reads per-torrent counters', callOf(exporter.list())],
  ['an exporter reads tracker health', callOf(exporter.trackers(H))],
];

describe('ruTorrent core UI passes under standard', () => {
  allows(['standard'], RUTORRENT);
  refuses(['standard'], [
    ['ruTorrent saving listen ports', call('network.port_range.set', '', '6890-6999')],
    ['ruTorrent saving the default directory', call('directory.default.set', '', '/root')],
    ['ruTorrent toggling DHT', call('dht.mode.set', '', 'auto')],
    ['ruTorrent saving the session directory', call('session.path.set', '', '/tmp')],
    ['ruTorrent adding a peer by address', call('add_peer', H, '10.0.0.1:6881')],
    ['ruTorrent creating queued files', call('f.multicall', H, '', 'f.set_create_queued=0', 'f.set_resize_queued=0')],
  ]);
});

describe('Flood passes under standard with download roots', () => {
  allows(['standard-rooted'], FLOOD);
  allows(['standard'], FLOOD.filter(([behaviour]) => !/adds|moves/.test(behaviour)));
  refuses(['standard'], [['Flood choosing a destination without download roots', FLOOD[2]![1]]]);
  // Private in rtorrent: XML-RPC answers "not defined", JSON-RPC up to 0.16.20 would run it
  // (src/policy/private-commands.ts). Flood's adds set it after the load source, which passes.
  refuses(['standard', 'standard-rooted'], [['Flood switching initial seeding with a direct d.connection_seed.set', multicall(call('d.connection_seed.set', H, 'initial_seed'))]]);
  refuses(['standard-rooted'], [
    ['Flood moving outside the roots', call('d.directory.set', H, '/home/user/.ssh')],
    ['Flood adding into a path that climbs out of the roots', call('load.start', '', URL, `d.directory.set="${ROOT}/../../root/.ssh"`)],
    ['Flood toggling DHT', call('dht.mode.set', '', 'auto')],
    ['Flood changing the listen port', call('network.port_range.set', '', '6881-6881')],
  ]);
});

describe('the Sonarr family passes under arr and standard', () => {
  allows(['arr', 'standard'], SONARR);
  allows(['arr-rooted', 'standard-rooted'], SONARR_WITH_DIRECTORY);
  refuses(['arr', 'standard'], SONARR_WITH_DIRECTORY);
  refuses(['arr'], [
    ['starting a torrent', call('d.start', H)],
    ['pausing everything', call('d.multicall2', '', 'main', 'd.stop=')],
    ['changing global rates', call('throttle.global_down.max_rate.set', '', '0')],
    ['labels that name a command after a load', call('load.start', '', URL, 'd.custom1.set=$d.erase=')],
  ]);
});

describe('Transdroid and nzb360 pass under mobile and standard', () => {
  allows(['mobile', 'standard'], TRANSDROID);
  refuses(['mobile'], [
    ['raising the XML limit to 64 MiB, which rtorrent refuses too', call('network.xmlrpc.size_limit.set', '', 64 * 1024 * 1024)],
    ['setting a download directory', call('d.directory.set', H, '/srv')],
    ['changing peer limits', call('throttle.max_peers.normal.set', '', 10)],
  ]);
});

describe('autobrr passes under autobrr and standard', () => {
  allows(['autobrr', 'standard'], AUTOBRR);
  allows(['autobrr-rooted', 'standard-rooted'], AUTOBRR_WITH_DIRECTORY);
  refuses(['autobrr'], [
    ['removing a torrent', call('d.erase', H)],
    ['relabelling a torrent', call('d.custom1.set', H, 'x')],
    ['starting a torrent', call('d.start', H)],
    ['reading peers', call('p.multicall', H, '', 'p.address=')],
  ]);
});

describe('exporters pass under monitoring and readonly', () => {
  allows(['monitoring', 'readonly'], MONITORING);
  refuses(['monitoring'], [
    ['reading paths', call('d.multicall2', '', 'main', 'd.base_path=')],
    ['reading peers', call('p.multicall', H, '', 'p.address=')],
    ['reading files', call('f.multicall', H, '', 'f.path=')],
    ['reading the session directory', call('session.path', '')],
  ]);
});

describe('readonly serves every client listing and nothing that changes state', () => {
  allows(['readonly'], [...RUTORRENT.slice(0, 4), FLOOD[0]!, FLOOD[1]!, SONARR[1]!, TRANSDROID[1]!, TRANSDROID[3]!, AUTOBRR[3]!]);
  refuses(['readonly'], [
    ['starting a torrent', call('d.start', H)],
    ['adding a torrent', call('load.start', '', MAGNET)],
    ['pausing everything through a multicall', call('d.multicall2', '', 'main', 'd.stop=')],
    ['labelling', call('d.custom1.set', H, 'x')],
    ['the super-seed branch', RUTORRENT[14]![1]],
  ]);
});

describe('data positions stay data', () => {
  allows(['standard'], [
    ['a label that looks like a command is stored verbatim', call('d.custom1.set', H, '$execute.throw=sh,-c,id')],
    ['a message with command syntax is stored verbatim', call('d.custom.set', H, 'note', '(execute.throw,sh);x={y}')],
    ['the view name of d.multicall2 is not code', call('d.multicall2', '', 'execute.throw=sh', 'd.hash=')],
    ['the first t.multicall argument is not code', call('t.multicall', H, 'd.hash=', 't.url=')],
  ]);
});
