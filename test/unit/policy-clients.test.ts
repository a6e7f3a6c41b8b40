/**
 * Each built-in policy against the calls the clients it serves really make, copied from their sources
 * (paths in the comments; see also shared/docs/clients-and-peers.md §3). A client call that the
 * matching policy refuses is a bug in the policy.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePolicies, type CompiledPolicy } from '../../src/policy/index.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, multicall } from '../helpers/call-tree.js';
import { FLOOD_SETTINGS, RUTORRENT_LIST, RUTORRENT_SETTINGS_GETTERS } from '../helpers/client-calls.js';

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

// ruTorrent js/rtorrent.js after php/methods-0.9.4.php maps the 0.8 names; "prm": 1 adds the "" target.
const RUTORRENT: [string, MethodCall][] = [
  ['ruTorrent lists torrents', call('d.multicall2', '', 'main', ...RUTORRENT_LIST)],
  ['ruTorrent lists files', call('f.multicall', H, '', 'f.path=', 'f.completed_chunks=', 'f.size_chunks=', 'f.size_bytes=', 'f.priority=', 'f.prioritize_first=', 'f.prioritize_last=')],
  ['ruTorrent lists peers', call('p.multicall', H, '', 'p.id=', 'p.address=', 'p.client_version=', 'p.is_incoming=', 'p.is_encrypted=', 'p.is_snubbed=', 'p.completed_percent=', 'p.down_total=', 'p.up_total=', 'p.down_rate=', 'p.up_rate=', 'p.id_html=', 'p.peer_rate=', 'p.peer_total=', 'p.port=')],
  ['ruTorrent lists trackers', call('t.multicall', H, '', 't.url=', 't.type=', 't.is_enabled=', 't.group=', 't.scrape_complete=', 't.scrape_incomplete=', 't.scrape_downloaded=', 't.normal_interval=', 't.scrape_time_last=')],
  ['ruTorrent reads totals', multicall(call('throttle.global_up.total'), call('throttle.global_down.total'), call('throttle.global_up.max_rate'), call('throttle.global_down.max_rate'), call('network.http.current_open'), call('network.open_sockets'))],
  ['ruTorrent reads settings', multicall(...RUTORRENT_SETTINGS_GETTERS.map((name) => call(name)))],
  ['ruTorrent starts', multicall(call('d.open', H), call('d.start', H))],
  ['ruTorrent stops', multicall(call('d.stop', H), call('d.close', H))],
  ['ruTorrent rechecks, announces, removes', multicall(call('d.check_hash', H), call('d.tracker_announce', H), call('d.erase', H))],
  ['ruTorrent sets priorities', multicall(call('d.priority.set', H, 2), call('f.priority.set', `${H}:f0`, 2), call('f.prioritize_first.enable', `${H}:f0`), call('f.prioritize_last.disable', `${H}:f0`), call('d.update_priorities', H))],
  ['ruTorrent sets a label', call('d.custom1.set', H, 'Linux ISOs')],
  ['ruTorrent enables a tracker', call('t.is_enabled.set', `${H}:t0`, 1)],
  ['ruTorrent reads torrent properties', multicall(...['d.peer_exchange', 'd.peers_max', 'd.peers_min', 'd.tracker_numwant', 'd.uploads_max', 'd.is_private', 'd.connection_seed'].map((name) => call(name, H)))],
  ['ruTorrent sets torrent properties', multicall(call('d.uploads_max.set', H, 8), call('d.peer_exchange.set', H, 1), call('d.peers_max.set', H, 100), call('d.tracker_numwant.set', H, 50))],
  ['ruTorrent switches super-seeding', call('branch', H, 'd.is_active=', 'cat=$d.stop=,$d.close=,$d.connection_seed.set=initial_seed,$d.open=,$d.start=', 'd.connection_seed.set=initial_seed')],
  ['ruTorrent sets global rates', multicall(call('throttle.global_up.max_rate.set', '', '1048576'), call('throttle.global_down.max_rate.set', '', '0'))],
  ['ruTorrent snubs, bans and kicks peers', multicall(call('p.snubbed.set', `${H}:p${PEER}`, 1), call('p.banned.set', `${H}:p${PEER}`, 1), call('p.disconnect', `${H}:p${PEER}`))],
  ['ruTorrent saves throttle settings', multicall(call('throttle.max_peers.normal.set', '', 200), call('throttle.max_uploads.global.set', '', 100), call('trackers.numwant.set', '', 50), call('pieces.hash.on_completion.set', '', 1))],
];

// Flood server/services/rTorrent/clientGatewayService.ts and constants/methodCallConfigs/*.ts
const FLOOD_LIST = [
  'd.hash=', 'd.name=', 'd.message=', 'd.state=', 'd.custom2=', 'd.is_active=', 'd.complete=', 'd.is_private=',
  'd.connection_seed=', 'd.down.sequential=', 'd.is_open=', 'd.hashing=', 'd.priority=', 'd.up.rate=', 'd.up.total=',
  'd.down.rate=', 'd.down.total=', 'd.ratio=', 'd.bytes_done=', 'd.size_bytes=', 'd.directory=', 'd.custom=addtime',
  'd.custom=flood.selected_size', 'd.creation_date=', 'd.timestamp.finished=', 'd.timestamp.last_active=', 'd.custom1=',
  'cat="$t.multicall=d.hash=,t.is_enabled=,t.url=,cat={|||}"', 'd.peers_complete=',
  'cat="$t.multicall=d.hash=,t.scrape_complete=,cat={|||}"', 'd.peers_accounted=',
  'cat="$t.multicall=d.hash=,t.scrape_incomplete=,cat={|||}"',
];
const FLOOD_ADD_CALLS = [
  'd.tied_to_file.set=""', 'd.custom.set=addtime,1764100000', `d.directory.set="${ROOT}/movies"`, 'd.custom1.set="movies,hd"',
  'd.down.sequential.set=1', 'd.connection_seed.set=initial_seed',
];
const FLOOD: [string, MethodCall][] = [
  ['Flood lists torrents', call('d.multicall2', '', 'main', ...FLOOD_LIST)],
  ['Flood lists files, peers and trackers', multicall(call('f.multicall', H, '', 'f.path=', 'f.priority=', 'f.size_bytes=', 'f.size_chunks=', 'f.completed_chunks='), call('p.multicall', H, '', 'p.address=', 'p.client_version=', 'p.completed_percent=', 'p.down_rate=', 'p.up_rate=', 'p.is_encrypted=', 'p.is_incoming='), call('t.multicall', H, '', 't.url=', 't.type=', 't.is_enabled='))],
  ['Flood adds by URL', multicall(call('load.start', '', URL, ...FLOOD_ADD_CALLS), call('load.start', '', MAGNET, ...FLOOD_ADD_CALLS))],
  ['Flood adds by data: URI over JSON-RPC shapes', multicall(call('load.start', '', `data:applications/x-bittorrent;base64,${TORRENT.toString('base64')}`, ...FLOOD_ADD_CALLS))],
  ['Flood adds a file', call('load.raw_start', '', TORRENT, ...FLOOD_ADD_CALLS, 'd.custom2.set="VRS24mrkerubuntu%20release"')],
  ['Flood moves, announces, rechecks and removes', multicall(call('d.directory.set', H, `${ROOT}/tv`), call('d.tracker_announce', H), call('d.check_hash', H), call('d.erase', H))],
  ['Flood edits torrents', multicall(call('d.priority.set', H, '2'), call('d.update_priorities', H), call('d.down.sequential.set', H, '1'), call('d.custom1.set', H, 'tv'), call('d.custom.set', H, 'flood.selected_size', '123'), call('d.is_multi_file', H))],
  ['Flood replaces trackers', multicall(call('t.multicall', H, '', 't.disable='), call('d.tracker.insert', H, '0', 'https://tracker.example.org/announce'), call('d.save_full_session', H))],
  ['Flood sets file priorities and starts/stops', multicall(call('f.priority.set', `${H}:f3`, '0'), call('d.update_priorities', H), call('d.open', H), call('d.start', H), call('d.stop', H), call('d.close', H))],
  ['Flood reads settings and features', multicall(...FLOOD_SETTINGS.map((name) => call(name, '')), call('session.path', ''), call('system.listMethods'))],
  ['Flood saves throttle settings', multicall(call('throttle.global_down.max_rate.set', '', '1048576'), call('throttle.max_peers.normal.set', '', '100'))],
];

// Sonarr src/NzbDrone.Core/Download/Clients/rTorrent/RTorrentProxy.cs (Radarr/Lidarr/Readarr/Prowlarr share it)
const SONARR_LIST = call('d.multicall2', '', '', 'd.name=', 'd.hash=', 'd.base_path=', 'd.custom1=', 'd.size_bytes=', 'd.left_bytes=', 'd.down.rate=', 'd.ratio=', 'd.is_open=', 'd.is_active=', 'd.complete=', 'd.timestamp.finished=');
const SONARR: [string, MethodCall][] = [
  ['Sonarr tests the connection', call('system.client_version')],
  ['Sonarr lists torrents', SONARR_LIST],
  ['Sonarr adds a URL with label and priority', call('load.start', '', URL, 'd.custom1.set=tv-sonarr', 'd.priority.set=2')],
  ['Sonarr adds a magnet stopped', call('load.normal', '', MAGNET, 'd.custom1.set=tv-sonarr')],
  ['Sonarr adds a file', call('load.raw_start', '', TORRENT, 'd.custom1.set=tv-sonarr', 'd.priority.set=3')],
  ['Sonarr adds a file stopped', call('load.raw', '', TORRENT)],
  ['Sonarr relabels, marks imported, checks and removes', multicall(call('d.custom1.set', H, 'tv-imported'), call('d.views.push_back_unique', H, 'sonarr_imported'), call('d.name', H), call('d.erase', H))],
];
const SONARR_WITH_DIRECTORY: [string, MethodCall][] = [
  ['Sonarr adds with a download directory', call('load.start', '', URL, 'd.custom1.set=tv-sonarr', `d.directory.set=${ROOT}/tv`)],
];

// Transdroid app/.../daemon/adapters/rTorrent/RTorrentAdapter.java; nzb360 behaves alike
const TRANSDROID: [string, MethodCall][] = [
  ['Transdroid checks the version', call('system.client_version')],
  ['Transdroid lists torrents', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.state=', 'd.down.rate=', 'd.up.rate=', 'd.peers_connected=', 'd.peers_not_connected=', 'd.peers_accounted=', 'd.bytes_done=', 'd.up.total=', 'd.size_bytes=', 'd.creation_date=', 'd.left_bytes=', 'd.complete=', 'd.is_active=', 'd.is_hash_checking=', 'd.is_multi_file=', 'd.base_filename=', 'd.message=', 'd.custom=addtime', 'd.custom=seedingtime', 'd.custom1=', 'd.peers_complete=', 'd.peers_accounted=', 'd.is_open=')],
  ['nzb360 lists torrents with their start time', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.timestamp.started=', 'd.timestamp.finished=', 'd.ratio=', 'd.directory=')],
  ['Transdroid shows trackers and files', multicall(call('t.multicall', H, '', 't.url='), call('f.multicall', H, '', 'f.path=', 'f.size_bytes=', 'f.priority=', 'f.completed_chunks=', 'f.size_chunks=', 'f.priority=', 'f.frozen_path='))],
  ['Transdroid raises the XML limit before a raw add', call('network.xmlrpc.size_limit.set', '', 2 * 1024 * 1024 + 2560)],
  ['Transdroid adds a file', call('load.raw_start', '', TORRENT)],
  ['Transdroid adds a URL and a magnet', multicall(call('load.start', '', URL), call('load.start', '', MAGNET))],
  ['Transdroid removes with data', multicall(call('d.custom5.set', H, '1'), call('d.delete_tied', H), call('d.erase', H))],
  ['Transdroid pauses, resumes, stops and starts', multicall(call('d.stop', H), call('d.start', H), call('d.close', H), call('d.open', H))],
  ['Transdroid pauses all', call('d.multicall2', '', 'main', 'd.stop=')],
  ['Transdroid resumes all', call('d.multicall2', '', 'main', 'd.start=')],
  ['Transdroid stops all', call('d.multicall2', '', 'main', 'd.stop=', 'd.close=')],
  ['Transdroid starts all', call('d.multicall2', '', 'main', 'd.open=', 'd.start=')],
  ['Transdroid sets a file priority', call('f.priority.set', `${H}:f2`, '2')],
  ['Transdroid sets transfer rates', multicall(call('throttle.global_down.max_rate.set', '', '500k'), call('throttle.global_up.max_rate.set', '', '0'))],
  ['Transdroid sets a label and rechecks', multicall(call('d.custom1.set', H, 'phone'), call('d.check_hash', H))],
];

// autobrr via autobrr/go-rtorrent rtorrent.go: Call(ctx, cmd, "", args) sends the source and the
// trailing commands as one array, and []byte as base64.
const AUTOBRR: [string, MethodCall][] = [
  ['autobrr adds a URL with a label', call('load.start', '', [Buffer.from(URL), 'd.custom1.set="autobrr"'])],
  ['autobrr adds a magnet without extras', call('load.start', '', [Buffer.from(MAGNET)])],
  ['autobrr adds a file stopped', call('load.raw', '', [TORRENT, 'd.custom1.set="racing"'])],
  ['autobrr lists torrents', call('d.multicall2', '', 'main', 'd.name=', 'd.size_bytes=', 'd.hash=', 'd.custom1=', 'd.directory=', 'd.is_active=', 'd.complete=', 'd.ratio=', 'd.creation_date=', 'd.timestamp.finished=', 'd.timestamp.started=')],
  ['autobrr reads one torrent', multicall(...['d.name', 'd.size_bytes', 'd.custom1', 'd.directory', 'd.complete', 'd.ratio', 'd.creation_date', 'd.timestamp.finished', 'd.timestamp.started', 'd.completed_bytes', 'd.down.rate', 'd.up.rate'].map((name) => call(name, H)))],
  ['autobrr lists files', call('f.multicall', H, 0, 'f.path=', 'f.size_bytes=')],
  ['autobrr reads status', multicall(call('network.bind_address'), call('system.hostname'), call('throttle.global_down.total'), call('throttle.global_down.rate'), call('throttle.global_up.total'), call('throttle.global_up.rate'))],
];
const AUTOBRR_WITH_DIRECTORY: [string, MethodCall][] = [
  ['autobrr adds into a directory', call('load.start', '', [Buffer.from(URL), 'd.custom1.set="autobrr"', `d.directory_base.set="${ROOT}/racing"`])],
];

// An exporter such as aauren/rtorrent-exporter: counters only
const MONITORING: [string, MethodCall][] = [
  ['an exporter reads versions and rates', multicall(call('system.client_version'), call('system.library_version'), call('system.hostname'), call('throttle.global_up.rate'), call('throttle.global_down.rate'), call('throttle.global_up.total'), call('throttle.global_down.total'), call('pieces.memory.current'), call('network.open_sockets'), call('view.size', '', 'main'), call('dht.statistics'))],
  ['an exporter reads per-torrent counters', call('d.multicall2', '', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=', 'd.up.rate=', 'd.down.rate=', 'd.up.total=', 'd.down.total=', 'd.ratio=', 'd.is_active=', 'd.complete=', 'd.peers_connected=', 'd.custom1=')],
  ['an exporter reads tracker health', call('t.multicall', H, '', 't.url=', 't.is_enabled=', 't.success_counter=', 't.failed_counter=', 't.scrape_complete=')],
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
