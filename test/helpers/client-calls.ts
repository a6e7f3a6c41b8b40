/**
 * What real clients send rtorrent, copied from their sources (docs/policies.md lists them), in one
 * place for every test that replays them: the policy unit tests build request trees from these
 * (callOf and multicallOf in call-tree.ts), the tests against a real rtorrent XML bodies (xmlCall
 * and xmlMulticall in scgi-direct.ts).
 *
 * Calls are [method, params] pairs, written out with the values the clients put on the wire. What
 * the tests vary (the torrent, a file index, a directory, a value they read back afterwards) is a
 * parameter; the rest is what the client itself sends. Where a client sends several calls for one
 * action, or the tests send them in one system.multicall, the builder returns a list.
 */

/** A parameter as clients write it: a string, an integer, base64 bytes or an array of these. */
export type WireParam = string | number | Buffer | WireParam[];

/** One call: the method and its parameters, the target ("" or a hash) first. */
export type Call = [method: string, params: WireParam[]];

/**
 * One call per getter, each with the same target. Clients that go through rtorrent's XML-RPC
 * wrappers send "" for a global getter; the policy unit tests send the getters bare.
 */
export const getters = (names: readonly string[], ...target: WireParam[]): Call[] => names.map((name) => [name, [...target]]);

/** The file index a file's target names: `<hash>:f<index>`. */
const file = (hash: string, index: number): string => `${hash}:f${index}`;

// --- ruTorrent: js/rtorrent.js, names mapped by php/methods-0.9.4.php ---------------------------------
// A "prm": 1 command gets the "" target.

/** The d.multicall2 fields of its torrent list. */
export const RUTORRENT_LIST = [
  'd.hash=', 'd.is_open=', 'd.is_hash_checking=', 'd.is_hash_checked=', 'd.state=', 'd.name=', 'd.size_bytes=',
  'd.completed_chunks=', 'd.size_chunks=', 'd.bytes_done=', 'd.up.total=', 'd.ratio=', 'd.up.rate=', 'd.down.rate=',
  'd.chunk_size=', 'd.custom1=', 'd.peers_accounted=', 'd.peers_not_connected=', 'd.peers_connected=', 'd.peers_complete=',
  'd.left_bytes=', 'd.priority=', 'd.state_changed=', 'd.skip.total=', 'd.hashing=', 'd.chunks_hashed=', 'd.base_path=',
  'd.creation_date=', 'd.tracker_size=', 'd.is_active=', 'd.message=', 'd.custom2=', 'd.free_diskspace=', 'd.is_private=',
  'd.is_multi_file=', 'd.is_partially_done=', 'cat="$t.multicall=d.hash=,t.scrape_complete=,cat={#}"', 'cat=$d.views=',
];

/** The getters of its settings dialog. */
export const RUTORRENT_SETTINGS_GETTERS = [
  'dht.statistics', 'pieces.hash.on_completion', 'network.bind_address', 'dht.port', 'directory.default',
  'throttle.global_down.max_rate', 'network.http.cacert', 'network.http.capath', 'network.http.proxy_address',
  'network.local_address', 'throttle.max_downloads.div', 'throttle.max_downloads.global', 'system.file.max_size',
  'pieces.memory.max', 'network.max_open_files', 'network.http.max_open', 'throttle.max_peers.normal',
  'throttle.max_peers.seed', 'throttle.max_uploads', 'throttle.max_uploads.global', 'throttle.min_peers.seed',
  'throttle.min_peers.normal', 'protocol.pex', 'network.port_open', 'throttle.global_up.max_rate', 'network.port_random',
  'network.port_range', 'pieces.preload.min_size', 'pieces.preload.min_rate', 'pieces.preload.type', 'network.proxy_address',
  'network.receive_buffer.size', 'pieces.sync.always_safe', 'network.scgi.dont_route', 'network.send_buffer.size',
  'session.path', 'session.use_lock', 'session.on_completion', 'system.file.split_size', 'system.file.split_suffix',
  'pieces.sync.timeout_safe', 'pieces.sync.timeout', 'trackers.numwant', 'trackers.use_udp', 'throttle.max_uploads.div',
  'network.max_open_sockets', 'system.sockets.http.max_size',
];

/** The getters behind its status bar: transfer totals, rate limits and open connections. */
export const RUTORRENT_TOTALS = [
  'throttle.global_up.total', 'throttle.global_down.total', 'throttle.global_up.max_rate', 'throttle.global_down.max_rate',
  'network.http.current_open', 'network.open_sockets',
];

/** The getters of its torrent Properties dialog. */
export const RUTORRENT_PROPERTY_GETTERS = ['d.peer_exchange', 'd.peers_max', 'd.peers_min', 'd.tracker_numwant', 'd.uploads_max', 'd.is_private', 'd.connection_seed'];

export const ruTorrent = {
  /**
   * The start-up multicall of php/settings.php raises rtorrent's XML limit to the most its setter
   * takes (64 MiB - 1); a version check stands in for the getters it sends alongside.
   */
  startup: (): Call[] => [['network.xmlrpc.size_limit.set', ['', 67108863]], ['system.client_version', []]],
  /** The torrent list. */
  list: (): Call => ['d.multicall2', ['', 'main', ...RUTORRENT_LIST]],
  /**
   * Fifteen columns in the manner of the torrent list, not its own (d.completed_bytes and
   * d.directory are not among those): a large answer of strings and 64-bit integers.
   */
  shortList: (): Call => [
    'd.multicall2',
    ['', 'main', 'd.hash=', 'd.name=', 'd.state=', 'd.size_bytes=', 'd.completed_bytes=', 'd.up.rate=', 'd.down.rate=', 'd.ratio=', 'd.custom1=', 'd.directory=', 'd.creation_date=', 'd.peers_accounted=', 'd.message=', 'd.is_open=', 'd.priority='],
  ],
  /** The Files tab. */
  files: (hash: string): Call => ['f.multicall', [hash, '', 'f.path=', 'f.completed_chunks=', 'f.size_chunks=', 'f.size_bytes=', 'f.priority=', 'f.prioritize_first=', 'f.prioritize_last=']],
  /** The Peers tab. */
  peers: (hash: string): Call => [
    'p.multicall',
    [hash, '', 'p.id=', 'p.address=', 'p.client_version=', 'p.is_incoming=', 'p.is_encrypted=', 'p.is_snubbed=', 'p.completed_percent=', 'p.down_total=', 'p.up_total=', 'p.down_rate=', 'p.up_rate=', 'p.id_html=', 'p.peer_rate=', 'p.peer_total=', 'p.port='],
  ],
  /** The Trackers tab. */
  trackers: (hash: string): Call => ['t.multicall', [hash, '', 't.url=', 't.type=', 't.is_enabled=', 't.group=', 't.scrape_complete=', 't.scrape_incomplete=', 't.scrape_downloaded=', 't.normal_interval=', 't.scrape_time_last=']],
  /** The add dialog (php/rtorrent.php): directory, label (URL-encoded), file name and time ride along as trailing commands. */
  add: (torrent: Buffer, dir: string, fileName: string): Call => [
    'load.raw_start',
    ['', torrent, `d.directory.set="${dir}"`, 'd.custom1.set="Linux%20ISOs"', `d.custom.set=x-filename,${fileName}`, 'd.custom.set=addtime,1764100000'],
  ],
  /** Start from the context menu. */
  start: (hash: string): Call[] => [['d.open', [hash]], ['d.start', [hash]]],
  /** Stop from the context menu. */
  stop: (hash: string): Call[] => [['d.stop', [hash]], ['d.close', [hash]]],
  /** Force recheck, Update trackers and Delete from the context menu. */
  recheckAnnounceErase: (hash: string): Call[] => [['d.check_hash', [hash]], ['d.tracker_announce', [hash]], ['d.erase', [hash]]],
  /** The torrent's priority, then the Files tab's priority, first/last-piece switches (file 0). */
  priorities: (hash: string, priority: number): Call[] => [
    ['d.priority.set', [hash, priority]], ['f.priority.set', [file(hash, 0), 2]], ['f.prioritize_first.enable', [file(hash, 0)]],
    ['f.prioritize_last.disable', [file(hash, 0)]], ['d.update_priorities', [hash]],
  ],
  /** Set label. */
  label: (hash: string, label: string): Call => ['d.custom1.set', [hash, label]],
  /** Enable or disable the first tracker in the Trackers tab. */
  trackerEnabled: (hash: string, enabled: 0 | 1): Call => ['t.is_enabled.set', [`${hash}:t0`, enabled]],
  /** Saving the Properties dialog. */
  setProperties: (hash: string): Call[] => [['d.uploads_max.set', [hash, 8]], ['d.peer_exchange.set', [hash, 1]], ['d.peers_max.set', [hash, 100]], ['d.tracker_numwant.set', [hash, 50]]],
  /** Super-seeding from the context menu: a running torrent is stopped, switched and started again in one branch. */
  superSeed: (hash: string): Call => ['branch', [hash, 'd.is_active=', 'cat=$d.stop=,$d.close=,$d.connection_seed.set=initial_seed,$d.open=,$d.start=', 'd.connection_seed.set=initial_seed']],
  /** The speed limits of the status bar's menu. */
  globalRates: (): Call[] => [['throttle.global_up.max_rate.set', ['', '1048576']], ['throttle.global_down.max_rate.set', ['', '0']]],
  /** Saving the settings dialog's peer, upload and tracker settings. */
  saveSettings: (maxPeers: number, maxUploads: number, numwant: number): Call[] => [
    ['throttle.max_peers.normal.set', ['', maxPeers]], ['throttle.max_uploads.global.set', ['', maxUploads]],
    ['trackers.numwant.set', ['', numwant]], ['pieces.hash.on_completion.set', ['', 1]],
  ],
  /** Snub, Ban and Kick from the Peers tab's menu. */
  snubBanKick: (hash: string, peer: string): Call[] => [['p.snubbed.set', [`${hash}:p${peer}`, 1]], ['p.banned.set', [`${hash}:p${peer}`, 1]], ['p.disconnect', [`${hash}:p${peer}`]]],
};

// --- Flood: server/services/rTorrent/clientGatewayService.ts, constants/methodCallConfigs/*.ts --------
// Written for jesec's rtorrent fork, which has a few commands neither 0.9.8 nor 0.16.20 defines.

/** The d.multicall2 fields of its torrent list. */
export const FLOOD_LIST = [
  'd.hash=', 'd.name=', 'd.message=', 'd.state=', 'd.custom2=', 'd.is_active=', 'd.complete=', 'd.is_private=',
  'd.connection_seed=', 'd.down.sequential=', 'd.is_open=', 'd.hashing=', 'd.priority=', 'd.up.rate=', 'd.up.total=',
  'd.down.rate=', 'd.down.total=', 'd.ratio=', 'd.bytes_done=', 'd.size_bytes=', 'd.directory=', 'd.custom=addtime',
  'd.custom=flood.selected_size', 'd.creation_date=', 'd.timestamp.finished=', 'd.timestamp.last_active=', 'd.custom1=',
  'cat="$t.multicall=d.hash=,t.is_enabled=,t.url=,cat={|||}"', 'd.peers_complete=',
  'cat="$t.multicall=d.hash=,t.scrape_complete=,cat={|||}"', 'd.peers_accounted=',
  'cat="$t.multicall=d.hash=,t.scrape_incomplete=,cat={|||}"',
];

/** The fields of its list that only jesec's fork has. */
export const FLOOD_JESEC_FIELDS = ['d.down.sequential=', 'd.timestamp.last_active='];

/** Its list without them: what 0.9.8 and 0.16.20 answer. */
export const FLOOD_LIST_098 = FLOOD_LIST.filter((field) => !FLOOD_JESEC_FIELDS.includes(field));

/** The getters of its settings page (clientSettingsMap). */
export const FLOOD_SETTINGS = [
  'dht.statistics', 'dht.port', 'directory.default', 'network.local_address', 'network.max_open_files', 'network.port_open',
  'network.port_random', 'pieces.hash.on_completion', 'pieces.memory.max', 'protocol.pex', 'throttle.global_down.max_rate',
  'throttle.global_up.max_rate', 'throttle.max_peers.normal', 'throttle.max_peers.seed', 'throttle.max_downloads',
  'throttle.max_downloads.global', 'throttle.max_uploads', 'throttle.max_uploads.global', 'throttle.min_peers.normal',
  'throttle.min_peers.seed', 'trackers.numwant', 'throttle.global_up.rate', 'throttle.global_up.total',
  'throttle.global_down.rate', 'throttle.global_down.total',
];

/** What else an add may carry. */
export interface FloodAddOptions {
  /** sequential download, which only the fork has */
  readonly sequential?: boolean;
  /** kept in d.custom2 as ruTorrent keeps a comment: "VRS24mrker" and the text URL-encoded */
  readonly comment?: string;
}

/** The trailing commands of every add: Flood always names a destination directory. */
function floodAddCommands(dir: string, options: FloodAddOptions = {}): string[] {
  return [
    'd.tied_to_file.set=""', 'd.custom.set=addtime,1764100000', `d.directory.set="${dir}"`, 'd.custom1.set="movies,hd"',
    ...(options.sequential === true ? ['d.down.sequential.set=1'] : []),
    'd.connection_seed.set=initial_seed',
    ...(options.comment === undefined ? [] : [`d.custom2.set="VRS24mrker${encodeURIComponent(options.comment)}"`]),
  ];
}

/** Sequential download, the fork's d.down.sequential.set. */
const floodSequential = (hash: string): Call => ['d.down.sequential.set', [hash, '1']];

export const flood = {
  /** The torrent list; FLOOD_LIST_098 for what the releases under test answer. */
  list: (fields: readonly string[] = FLOOD_LIST): Call => ['d.multicall2', ['', 'main', ...fields]],
  /** A torrent's details panel: files, peers and trackers. */
  details: (hash: string): Call[] => [
    ['f.multicall', [hash, '', 'f.path=', 'f.priority=', 'f.size_bytes=', 'f.size_chunks=', 'f.completed_chunks=']],
    ['p.multicall', [hash, '', 'p.address=', 'p.client_version=', 'p.completed_percent=', 'p.down_rate=', 'p.up_rate=', 'p.is_encrypted=', 'p.is_incoming=']],
    ['t.multicall', [hash, '', 't.url=', 't.type=', 't.is_enabled=']],
  ],
  /** The settings page, and the features it probes for. */
  settings: (): Call[] => [...getters(FLOOD_SETTINGS, ''), ['session.path', ['']], ['system.listMethods', []]],
  /** Adding by URL, magnet or data: URI, started. */
  addUrl: (source: string, dir: string, options?: FloodAddOptions): Call => ['load.start', ['', source, ...floodAddCommands(dir, options)]],
  /** Adding a torrent file, started. */
  addFile: (torrent: Buffer, dir: string, options?: FloodAddOptions): Call => ['load.raw_start', ['', torrent, ...floodAddCommands(dir, options)]],
  /** Moving a torrent's data. */
  move: (hash: string, dir: string): Call => ['d.directory.set', [hash, dir]],
  /** Reannounce, Check hash and Remove. */
  announceRecheckErase: (hash: string): Call[] => [['d.tracker_announce', [hash]], ['d.check_hash', [hash]], ['d.erase', [hash]]],
  /** Setting priority, tags and the selected size; with the fork's sequential download when `sequential`. */
  edit: (hash: string, options: { readonly sequential?: boolean } = {}): Call[] => [
    ['d.priority.set', [hash, '2']], ['d.update_priorities', [hash]],
    ...(options.sequential === true ? [floodSequential(hash)] : []),
    ['d.custom1.set', [hash, 'tv']], ['d.custom.set', [hash, 'flood.selected_size', '123']], ['d.is_multi_file', [hash]],
  ],
  /** Sequential download on its own. */
  sequential: floodSequential,
  /** Setting a torrent's trackers: the old ones disabled, the new one inserted, the session saved. */
  replaceTrackers: (hash: string): Call[] => [['t.multicall', [hash, '', 't.disable=']], ['d.tracker.insert', [hash, '0', 'https://tracker.example.org/announce']], ['d.save_full_session', [hash]]],
  /** A file's priority (to "don't download"), then start and stop. */
  filePriorityStartStop: (hash: string, index: number): Call[] => [
    ['f.priority.set', [file(hash, index), '0']], ['d.update_priorities', [hash]],
    ['d.open', [hash]], ['d.start', [hash]], ['d.stop', [hash]], ['d.close', [hash]],
  ],
  /** Saving the bandwidth and connection settings. */
  saveThrottle: (): Call[] => [['throttle.global_down.max_rate.set', ['', '1048576']], ['throttle.max_peers.normal.set', ['', '100']]],
};

// --- Sonarr: src/NzbDrone.Core/Download/Clients/rTorrent/RTorrentProxy.cs ----------------------------
// Radarr, Lidarr, Readarr and Prowlarr share it. Its category goes into d.custom1.

/** The d.multicall2 fields of GetTorrents. */
export const SONARR_LIST = ['d.name=', 'd.hash=', 'd.base_path=', 'd.custom1=', 'd.size_bytes=', 'd.left_bytes=', 'd.down.rate=', 'd.ratio=', 'd.is_open=', 'd.is_active=', 'd.complete=', 'd.timestamp.finished='];

export const sonarr = {
  /** Test in its download client settings (GetVersion). */
  version: (): Call => ['system.client_version', []],
  /** GetTorrents: over the default view, "". */
  list: (): Call => ['d.multicall2', ['', '', ...SONARR_LIST]],
  /**
   * Five of GetTorrents' columns, d.complete among them, over the main view: d.complete is on
   * rtorrent's untrusted-safe list only from 0.16.16, so how the gateway marks this call depends on
   * the release that answers.
   */
  shortList: (): Call => ['d.multicall2', ['', 'main', 'd.name=', 'd.hash=', 'd.size_bytes=', 'd.complete=', 'd.custom1=']],
  /** HasHashTorrent. */
  name: (hash: string): Call => ['d.name', [hash]],
  /** AddTorrentFromUrl, started, with its category and priority. */
  addUrl: (url: string): Call => ['load.start', ['', url, 'd.custom1.set=tv-sonarr', 'd.priority.set=2']],
  /** AddTorrentFromUrl into the directory of its settings. */
  addUrlInto: (url: string, dir: string): Call => ['load.start', ['', url, 'd.custom1.set=tv-sonarr', `d.directory.set=${dir}`]],
  /** AddTorrentFromUrl for a magnet with "Add Stopped". */
  addMagnetStopped: (uri: string): Call => ['load.normal', ['', uri, 'd.custom1.set=tv-sonarr']],
  /** AddTorrentFromFile, started. */
  addFile: (torrent: Buffer): Call => ['load.raw_start', ['', torrent, 'd.custom1.set=tv-sonarr', 'd.priority.set=3']],
  /** AddTorrentFromFile with "Add Stopped" and no category. */
  addFileStopped: (torrent: Buffer): Call => ['load.raw', ['', torrent]],
  /** After an import: SetTorrentLabel to its post-import category, PushTorrentUniqueView to its post-import view. */
  markImported: (hash: string): Call[] => [['d.custom1.set', [hash, 'tv-imported']], ['d.views.push_back_unique', [hash, 'sonarr_imported']]],
  /** RemoveTorrent. */
  remove: (hash: string): Call => ['d.erase', [hash]],
};

// --- Transdroid/Transdrone: app/.../daemon/adapters/rTorrent/RTorrentAdapter.java; nzb360 alike -------

/** The d.multicall2 fields of its torrent list. */
export const TRANSDROID_LIST = [
  'd.hash=', 'd.name=', 'd.state=', 'd.down.rate=', 'd.up.rate=', 'd.peers_connected=', 'd.peers_not_connected=',
  'd.peers_accounted=', 'd.bytes_done=', 'd.up.total=', 'd.size_bytes=', 'd.creation_date=', 'd.left_bytes=', 'd.complete=',
  'd.is_active=', 'd.is_hash_checking=', 'd.is_multi_file=', 'd.base_filename=', 'd.message=', 'd.custom=addtime',
  'd.custom=seedingtime', 'd.custom1=', 'd.peers_complete=', 'd.peers_accounted=', 'd.is_open=',
];

/** What Transdroid raises rtorrent's XML limit to before it adds a torrent file. */
export const TRANSDROID_XML_LIMIT = 2 * 1024 * 1024 + 2560;

/** d.multicall2 over the main view, one command per torrent: its "all torrents" actions. */
const allTorrents = (...commands: string[]): Call => ['d.multicall2', ['', 'main', ...commands]];

export const transdroid = {
  /** The version check before anything else. */
  version: (): Call => ['system.client_version', []],
  /** The torrent list. */
  list: (): Call => ['d.multicall2', ['', 'main', ...TRANSDROID_LIST]],
  /** A torrent's details screen: trackers and files. */
  details: (hash: string): Call[] => [
    ['t.multicall', [hash, '', 't.url=']],
    ['f.multicall', [hash, '', 'f.path=', 'f.size_bytes=', 'f.priority=', 'f.completed_chunks=', 'f.size_chunks=', 'f.priority=', 'f.frozen_path=']],
  ],
  /** Sent before a torrent file is added. */
  raiseXmlLimit: (): Call => ['network.xmlrpc.size_limit.set', ['', TRANSDROID_XML_LIMIT]],
  /** Adding a torrent file. */
  addFile: (torrent: Buffer): Call => ['load.raw_start', ['', torrent]],
  /** Adding a URL or a magnet. */
  add: (source: string): Call => ['load.start', ['', source]],
  /** Remove with data: the erasedata mark in d.custom5, the tied file, then the torrent. */
  removeWithData: (hash: string): Call[] => [['d.custom5.set', [hash, '1']], ['d.delete_tied', [hash]], ['d.erase', [hash]]],
  /** Pause, resume, stop and start on one torrent. */
  pauseResumeStopStart: (hash: string): Call[] => [['d.stop', [hash]], ['d.start', [hash]], ['d.close', [hash]], ['d.open', [hash]]],
  pauseAll: (): Call => allTorrents('d.stop='),
  resumeAll: (): Call => allTorrents('d.start='),
  stopAll: (): Call => allTorrents('d.stop=', 'd.close='),
  startAll: (): Call => allTorrents('d.open=', 'd.start='),
  /** A file's priority, to high. */
  filePriority: (hash: string, index: number): Call => ['f.priority.set', [file(hash, index), '2']],
  /** The transfer-rate dialog, with a suffixed value rtorrent parses itself. */
  rates: (): Call[] => [['throttle.global_down.max_rate.set', ['', '500k']], ['throttle.global_up.max_rate.set', ['', '0']]],
  /** Set label, then Recheck. */
  labelAndRecheck: (hash: string): Call[] => [['d.custom1.set', [hash, 'phone']], ['d.check_hash', [hash]]],
};

export const nzb360 = {
  /** Its torrent list, with start and finish times. */
  list: (): Call => ['d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.timestamp.started=', 'd.timestamp.finished=', 'd.ratio=', 'd.directory=']],
};

// --- autobrr: autobrr/go-rtorrent rtorrent.go ---------------------------------------------------------
// Call(ctx, cmd, "", args) sends the source and the trailing commands as one array, []byte as base64.

/** The getters of GetTorrent and GetStatus, one call each. */
export const AUTOBRR_TORRENT_GETTERS = ['d.name', 'd.size_bytes', 'd.custom1', 'd.directory', 'd.complete', 'd.ratio', 'd.creation_date', 'd.timestamp.finished', 'd.timestamp.started', 'd.completed_bytes', 'd.down.rate', 'd.up.rate'];

/** The getters of IP, Name, DownTotal, DownRate, UpTotal and UpRate. */
export const AUTOBRR_STATUS = ['network.bind_address', 'system.hostname', 'throttle.global_down.total', 'throttle.global_down.rate', 'throttle.global_up.total', 'throttle.global_up.rate'];

export const autobrr = {
  /** Add: a URL, as base64, with the label of the filter that matched. */
  addUrl: (url: string): Call => ['load.start', ['', [Buffer.from(url), 'd.custom1.set="autobrr"']]],
  /** Add with the filter's download directory. */
  addUrlInto: (url: string, dir: string): Call => ['load.start', ['', [Buffer.from(url), 'd.custom1.set="autobrr"', `d.directory_base.set="${dir}"`]]],
  /** Add: a magnet and nothing else. */
  addMagnet: (uri: string): Call => ['load.start', ['', [Buffer.from(uri)]]],
  /** AddTorrentStopped: a torrent file with a label. */
  addFileStopped: (torrent: Buffer): Call => ['load.raw', ['', [torrent, 'd.custom1.set="racing"']]],
  /** GetTorrents over the main view. */
  list: (): Call => ['d.multicall2', ['', 'main', 'd.name=', 'd.size_bytes=', 'd.hash=', 'd.custom1=', 'd.directory=', 'd.is_active=', 'd.complete=', 'd.ratio=', 'd.creation_date=', 'd.timestamp.finished=', 'd.timestamp.started=']],
  /** GetTorrent and GetStatus. */
  torrent: (hash: string): Call[] => getters(AUTOBRR_TORRENT_GETTERS, hash),
  /** GetFiles, with an integer where rtorrent expects the pattern. */
  files: (hash: string): Call => ['f.multicall', [hash, 0, 'f.path=', 'f.size_bytes=']],
  /** AUTOBRR_STATUS, each with `target`: go-rtorrent itself sends them bare. */
  status: (...target: WireParam[]): Call[] => getters(AUTOBRR_STATUS, ...target),
};

// --- exporters such as aauren/rtorrent-exporter: counters only ----------------------------------------

/** Its global getters, in the order it scrapes them. */
export const EXPORTER_GETTERS = [
  'system.client_version', 'system.library_version', 'system.hostname', 'throttle.global_up.rate', 'throttle.global_down.rate',
  'throttle.global_up.total', 'throttle.global_down.total', 'pieces.memory.current', 'network.open_sockets', 'view.size', 'dht.statistics',
];

export const exporter = {
  /** EXPORTER_GETTERS, each with `target`; view.size names the view it counts. */
  counters: (...target: WireParam[]): Call[] => EXPORTER_GETTERS.map((name): Call => [name, name === 'view.size' ? ['', 'main'] : [...target]]),
  /** Per-torrent counters. */
  list: (): Call => ['d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=', 'd.up.rate=', 'd.down.rate=', 'd.up.total=', 'd.down.total=', 'd.ratio=', 'd.is_active=', 'd.complete=', 'd.peers_connected=', 'd.custom1=']],
  /** Tracker health of one torrent. */
  trackers: (hash: string): Call => ['t.multicall', [hash, '', 't.url=', 't.is_enabled=', 't.success_counter=', 't.failed_counter=', 't.scrape_complete=']],
};
