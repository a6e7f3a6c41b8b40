import type { PolicyDefinition } from './types.js';

/**
 * The built-in policies, written as the same definitions an operator would write. Every name is an
 * exact rtorrent command (test/unit/policy-compile.test.ts checks them against command-names.ts).
 * docs/policies.md explains who each one is for and which client calls it was built from.
 */

const variants = (base: string, suffixes: readonly string[]): string[] => [base, ...suffixes.map((suffix) => `${base}.${suffix}`)];
const ENCODINGS = ['as_binary', 'base64', 'base64_as_binary', 'hex', 'or_as_binary', 'or_base64'] as const;
const REALPATH = ['realpath.or_empty', 'realpath.or_throw'] as const;

/** Download getters that reveal paths on the rtorrent host. */
const DOWNLOAD_PATH_GETTERS = [
  ...variants('d.base_filename', ENCODINGS),
  ...variants('d.base_path', [...ENCODINGS, ...REALPATH]),
  ...variants('d.directory', REALPATH),
  'd.directory_base',
  ...variants('d.loaded_file', REALPATH),
  ...variants('d.tied_to_file', REALPATH),
];

/** Download getters without side effects (§2.5), minus the path getters above. */
const DOWNLOAD_GETTERS = [
  'd.accepting_seeders', 'd.bitfield', 'd.bytes_done', 'd.chunk_size', 'd.chunks_hashed', 'd.chunks_seen',
  'd.complete', 'd.completed_bytes', 'd.completed_chunks', 'd.connection_current', 'd.connection_leech',
  'd.connection_seed', 'd.creation_date', 'd.custom', 'd.custom.if_z', 'd.custom.items', 'd.custom.keys',
  'd.custom1', 'd.custom2', 'd.custom3', 'd.custom4', 'd.custom5', 'd.custom_throw',
  ...variants('d.down.choke_heuristics', ['leech', 'seed']), 'd.down.rate', 'd.down.sequential', 'd.down.total',
  'd.downloads_max', 'd.downloads_min', 'd.free_diskspace', 'd.group', 'd.group.name', 'd.hash', 'd.hashing',
  'd.hashing_failed', 'd.ignore_commands', 'd.incomplete', 'd.is_active', 'd.is_hash_checked', 'd.is_hash_checking',
  'd.is_meta', 'd.is_multi_file', 'd.is_not_partially_done', 'd.is_open', 'd.is_partially_done', 'd.is_pex_active',
  'd.is_private', 'd.left_bytes', 'd.load_date', 'd.local_id', 'd.local_id_html', 'd.max_file_size', 'd.max_size_pex',
  'd.message', 'd.mode', ...variants('d.name', ENCODINGS), 'd.peer_exchange', 'd.peers_accounted', 'd.peers_complete',
  'd.peers_connected', 'd.peers_max', 'd.peers_min', 'd.peers_not_connected', 'd.priority', 'd.priority_str', 'd.ratio',
  'd.size_bytes', 'd.size_chunks', 'd.size_files', 'd.size_pex', 'd.skip.rate', 'd.skip.total', 'd.state',
  'd.state_changed', 'd.state_counter', 'd.throttle_name', ...variants('d.timestamp.finished', ['or_zero', 'elapsed']),
  'd.timestamp.last_active', ...variants('d.timestamp.started', ['or_zero', 'elapsed']), 'd.tracker.has_active',
  'd.tracker.has_active_not_scrape', 'd.tracker.has_usable', 'd.tracker_focus', 'd.tracker_numwant', 'd.tracker_size',
  ...variants('d.up.choke_heuristics', ['leech', 'seed']), 'd.up.rate', 'd.up.total', 'd.uploads_max', 'd.uploads_min',
  'd.views', 'd.views.has', 'd.wanted_chunks',
];

const FILE_GETTERS = [
  'f.completed_chunks', ...variants('f.frozen_path', [...ENCODINGS.filter((e) => e !== 'base64_as_binary'), ...REALPATH]),
  'f.is_create_queued', 'f.is_created', 'f.is_open', 'f.is_resize_queued', 'f.last_touched', 'f.match_depth_next',
  'f.match_depth_prev', 'f.offset', 'f.path', ...variants('f.path_components', ENCODINGS), 'f.path_depth',
  'f.prioritize_first', 'f.prioritize_last', 'f.priority', 'f.range_first', 'f.range_second', 'f.size_bytes',
  'f.size_chunks', 'fi.filename_last', 'fi.is_file',
];

const TRACKER_GETTERS = [
  't.activity_time_last', 't.activity_time_next', 't.can_scrape', 't.failed_counter', 't.failed_time_last',
  't.failed_time_next', 't.group', 't.id', 't.is_busy', 't.is_enabled', 't.is_extra_tracker', 't.is_open',
  't.is_scrapable', 't.is_usable', 't.latest_event', 't.latest_new_peers', 't.latest_sum_peers', 't.min_interval',
  't.normal_interval', 't.scrape_complete', 't.scrape_counter', 't.scrape_downloaded', 't.scrape_incomplete',
  't.scrape_time_last', 't.success_counter', 't.success_time_last', 't.success_time_next', 't.type', 't.url',
];

const PEER_GETTERS = [
  'p.address', 'p.banned', 'p.client_version', 'p.completed_percent', 'p.down_rate', 'p.down_total', 'p.id', 'p.id_html',
  'p.is_encrypted', 'p.is_incoming', 'p.is_obfuscated', 'p.is_preferred', 'p.is_snubbed', 'p.is_unwanted',
  'p.options_str', 'p.peer_rate', 'p.peer_total', 'p.port', 'p.snubbed', 'p.up_rate', 'p.up_total',
];

/** Global getters that reveal paths or addresses of the rtorrent host. */
const HOST_GETTERS = [
  ...variants('directory.default', REALPATH), ...variants('session.path', REALPATH), 'network.bind_address',
  'network.bind_address.ipv4', 'network.bind_address.ipv6', 'network.local_address', 'network.local_address.ipv4',
  'network.local_address.ipv6', 'network.http.cacert', 'network.http.capath', 'network.http.proxy_address',
  'network.proxy.global', 'network.proxy.http', 'network.proxy_address', 'system.pid', 'magnet.path',
];

const SOCKET_CATEGORIES = ['generic', 'http', 'internal', 'rpc', 'files'] as const;

const GLOBAL_GETTERS = [
  // system
  'system.api_version', 'system.client_version', 'system.library_version', 'system.hostname', 'system.daemon',
  'system.time', 'system.time_seconds', 'system.time_usec', 'system.file.allocate', 'system.file.max_size',
  'system.file.split_size', 'system.file.split_suffix', 'system.files.closed_counter', 'system.files.failed_counter',
  'system.files.opened_counter', 'system.files.advise_random', 'system.files.advise_random.hashing',
  'system.files.session.fdatasync', 'system.sockets.size', 'system.sockets.max_size', 'system.sockets.reserved_alloc',
  'system.sockets.available_alloc',
  ...SOCKET_CATEGORIES.flatMap((c) => [`system.sockets.${c}.size`, `system.sockets.${c}.max_size`, `system.sockets.${c}.min_alloc`]),
  ...SOCKET_CATEGORIES.filter((c) => c !== 'generic').flatMap((c) =>
    ['max_alloc', 'max_alloc.limit', 'min_alloc.limit'].map((s) => `system.sockets.${c}.${s}`),
  ),
  // xmlrpc-c introspection
  'system.listMethods', 'system.methodExist', 'system.methodHelp', 'system.methodSignature', 'system.capabilities',
  'system.getCapabilities',
  // throttles
  'throttle.global_up.rate', 'throttle.global_up.total', 'throttle.global_up.max_rate', 'throttle.global_down.rate',
  'throttle.global_down.total', 'throttle.global_down.max_rate', 'throttle.max_peers.normal', 'throttle.max_peers.seed',
  'throttle.min_peers.normal', 'throttle.min_peers.seed', 'throttle.max_uploads', 'throttle.max_uploads.div',
  'throttle.max_uploads.global', 'throttle.max_downloads', 'throttle.max_downloads.div', 'throttle.max_downloads.global',
  'throttle.min_uploads', 'throttle.min_downloads', 'throttle.max_unchoked_uploads', 'throttle.max_unchoked_downloads',
  'throttle.unchoked_uploads', 'throttle.unchoked_downloads', 'throttle.up.max', 'throttle.up.rate', 'throttle.down.max',
  'throttle.down.rate',
  // network
  'network.listen.port', 'network.listen.port.random', 'network.listen.port.range', 'network.listen.backlog',
  'network.port_range', 'network.port_random', 'network.port_open', 'network.local_port', 'network.local_port.ipv4',
  'network.local_port.ipv6', 'network.http.current_open', 'network.http.max_open', 'network.http.max_total_connections',
  'network.http.max_host_connections', 'network.http.max_cache_connections', 'network.http.dns_cache_timeout',
  'network.http.ssl_verify_host', 'network.http.ssl_verify_peer', 'network.max_open_files', 'network.open_files',
  'network.open_sockets', 'network.max_open_sockets', 'network.send_buffer.size', 'network.receive_buffer.size',
  'network.total_handshakes', 'network.xmlrpc.size_limit', 'network.rpc.use_xmlrpc', 'network.rpc.use_jsonrpc',
  'network.prefer.ipv6', 'network.block.ipv4', 'network.block.ipv6', 'network.block.ipv4in6', 'network.block.outgoing',
  'network.scgi.dont_route', 'network.scgi.use_gzip', 'network.scgi.gzip.min_size',
  // protocol, dht, trackers
  'protocol.pex', 'protocol.encryption', 'protocol.encryption.handshake', 'protocol.encryption.stream',
  'protocol.connection.leech', 'protocol.connection.seed', 'protocol.choke_heuristics.up.leech',
  'protocol.choke_heuristics.up.seed', 'protocol.choke_heuristics.down.leech', 'protocol.choke_heuristics.down.seed',
  'dht.statistics', 'dht.port', 'dht.override_port', 'dht.throttle.name', 'trackers.numwant', 'trackers.use_udp',
  'trackers.delay_scrape',
  // pieces
  'pieces.memory.current', 'pieces.memory.max', 'pieces.memory.block_count', 'pieces.memory.sync_queue',
  'pieces.hash.on_completion', 'pieces.hash.queue_size', 'pieces.preload.type', 'pieces.preload.min_size',
  'pieces.preload.min_rate', 'pieces.stats_preloaded', 'pieces.stats_not_preloaded', 'pieces.stats.total_size',
  'pieces.sync.always_safe', 'pieces.sync.safe_free_diskspace', 'pieces.sync.timeout', 'pieces.sync.timeout_safe',
  'pieces.sync.queue_size',
  // session, views, ratio groups, choke groups
  'session.name', 'session.use_lock', 'session.on_completion', 'view.list', 'view.size', 'view.size_not_visible',
  'download_list', 'ratio.min', 'ratio.max', 'ratio.upload', 'group.seeding.ratio.min', 'group.seeding.ratio.max',
  'group.seeding.ratio.upload', 'group.seeding.view', 'choke_group.list', 'choke_group.size', 'choke_group.index_of',
  'choke_group.general.size', 'choke_group.tracker.mode',
  ...['up', 'down'].flatMap((d) =>
    ['heuristics', 'max', 'max.unlimited', 'queued', 'rate', 'total', 'unchoked'].map((s) => `choke_group.${d}.${s}`),
  ),
];

/** Pure helpers: they compute from their arguments and change nothing (§2.5 "Pure helpers"). */
const HELPERS = [
  'cat', 'value', 'false', 'elapsed.less', 'elapsed.greater',
  ...['date', 'elapsed_time', 'gm_date', 'gm_time', 'kb', 'mb', 'throttle', 'time', 'xb'].map((s) => `convert.${s}`),
  ...['add', 'avg', 'cnt', 'div', 'max', 'med', 'min', 'mod', 'mul', 'sub'].map((s) => `math.${s}`),
  // Not string.replace: each {old, new} pair applies to the previous one's result, so the text can
  // double with every pair (master src/command_string.cc).
  ...['contains', 'contains_i', 'ends_with', 'equals', 'join', 'length', 'lpad', 'lstrip', 'map', 'rpad',
    'rstrip', 'split', 'starts_with', 'strip', 'substr'].map((s) => `string.${s}`),
  ...['choke_heuristics', 'choke_heuristics.download', 'choke_heuristics.upload', 'connection_type', 'encryption',
    'encryption.handshake', 'encryption.stream', 'ip_filter', 'ip_tos', 'log_group', 'tracker_event', 'tracker_mode'].map(
    (s) => `strings.${s}`,
  ),
];

/**
 * Evaluators whose command strings the scanner follows. match is left out: its regex is compiled with
 * std::regex, which backtracks without bound on hostile patterns.
 */
const CONTROL_FLOW = ['if', 'branch', 'and', 'or', 'not', 'equal', 'less', 'greater'];
const MULTICALLS = ['system.multicall', 'd.multicall2', 'd.multicall', 'd.multicall.filtered', 'f.multicall', 't.multicall', 'p.multicall'];

const READONLY = [
  ...DOWNLOAD_GETTERS, ...DOWNLOAD_PATH_GETTERS, ...FILE_GETTERS, ...TRACKER_GETTERS, ...PEER_GETTERS, ...GLOBAL_GETTERS,
  ...HOST_GETTERS, ...HELPERS, ...CONTROL_FLOW, ...MULTICALLS,
];

const LOADS = ['load.normal', 'load.start', 'load.raw', 'load.raw_start'];

/** Day-to-day actions of web UIs, *arr, autobrr and mobile clients (§2.4, minus what §2.1-2.3 forbid). */
const STANDARD_ACTIONS = [
  ...LOADS, 'load.verbose', 'load.start_verbose', 'load.raw_verbose', 'load.raw_start_verbose', 'load.throw',
  'load.start_throw',
  // lifecycle
  'd.start', 'd.stop', 'd.open', 'd.close', 'd.close.directly', 'd.pause', 'd.resume', 'd.try_start', 'd.try_stop',
  'd.try_close', 'd.check_hash', 'd.erase', 'd.delete_tied', 'd.save_full_session', 'd.save_resume',
  // per-download settings and labels
  'd.priority.set', 'd.update_priorities', 'd.peer_exchange.set', 'd.uploads_max.set', 'd.uploads_min.set',
  'd.downloads_max.set', 'd.downloads_min.set', 'd.peers_min.set', 'd.peers_max.set', 'd.tracker_numwant.set',
  'd.throttle_name.set', 'd.connection_current.set', 'd.connection_seed.set', 'd.up.choke_heuristics.set',
  'd.down.choke_heuristics.set', 'd.max_file_size.set', 'd.accepting_seeders.enable', 'd.accepting_seeders.disable',
  'd.disconnect.seeders', 'd.group.set', 'd.hashing_failed.set', 'd.down.sequential.set', 'd.custom.set',
  'd.custom1.set', 'd.custom2.set', 'd.custom3.set', 'd.custom4.set', 'd.custom5.set', 'd.message.set',
  'd.tied_to_file.set', 'd.directory.set', 'd.directory_base.set',
  // trackers, views, files, peers
  'd.tracker_announce', 'd.tracker_announce.force', 'd.tracker.send_scrape', 'd.tracker.insert', 't.enable', 't.disable',
  't.is_enabled.set', 'd.views.push_back', 'd.views.push_back_unique', 'd.views.remove', 'view.set_visible',
  'view.set_not_visible', 'f.priority.set', 'f.prioritize_first.enable', 'f.prioritize_first.disable',
  'f.prioritize_last.enable', 'f.prioritize_last.disable', 'p.snubbed.set', 'p.banned.set', 'p.disconnect',
  'p.disconnect_delayed',
  // throttles from settings dialogs
  'throttle.global_up.max_rate.set', 'throttle.global_up.max_rate.set_kb', 'throttle.global_down.max_rate.set',
  'throttle.global_down.max_rate.set_kb', 'throttle.max_peers.normal.set', 'throttle.max_peers.seed.set',
  'throttle.min_peers.normal.set', 'throttle.min_peers.seed.set', 'throttle.max_uploads.set',
  'throttle.max_uploads.div.set', 'throttle.max_uploads.global.set', 'throttle.max_downloads.set',
  'throttle.max_downloads.div.set', 'throttle.max_downloads.global.set', 'throttle.min_uploads.set',
  'throttle.min_downloads.set', 'trackers.numwant.set', 'pieces.hash.on_completion.set',
  // Transdroid raises the limit before a raw load; bounded by the gateway's own body limit
  'network.xmlrpc.size_limit.set',
];

/**
 * Settings that apply to every torrent of the rtorrent: a user kept to their own torrents
 * (scope = "own") may read them but not change them for everyone else.
 */
const GLOBAL_SETTERS: ReadonlySet<string> = new Set([
  ...STANDARD_ACTIONS.filter((name) => name.startsWith('throttle.')),
  'trackers.numwant.set', 'pieces.hash.on_completion.set',
]);

/** What a tenant does with their own torrents: standard's actions minus the global settings. */
const TENANT_ACTIONS = STANDARD_ACTIONS.filter((name) => !GLOBAL_SETTERS.has(name));

/** Sonarr, Radarr, Lidarr, Readarr, Prowlarr (RTorrentProxy.cs). */
const ARR = [
  'system.client_version', 'system.api_version', 'system.multicall', 'd.multicall2', 'd.multicall', ...DOWNLOAD_GETTERS,
  'd.base_path', 'd.base_filename', 'd.directory', 'd.directory_base', ...LOADS, 'd.custom1.set',
  'd.views.push_back_unique', 'd.erase',
];

/** Transdroid/Transdrone (RTorrentAdapter.java) and nzb360, which works the same way. */
const MOBILE = [
  ...READONLY, ...LOADS, 'd.start', 'd.stop', 'd.open', 'd.close', 'd.check_hash', 'd.erase', 'd.delete_tied',
  'd.custom1.set', 'd.custom5.set', 'd.views.push_back_unique', 'f.priority.set', 'throttle.global_down.max_rate.set',
  'throttle.global_up.max_rate.set', 'network.xmlrpc.size_limit.set',
];

/** autobrr through go-rtorrent (rtorrent.go): adds, plus the reads its status pages make. */
const AUTOBRR = [
  'system.client_version', 'system.api_version', 'system.hostname', 'network.bind_address', 'system.multicall',
  'd.multicall2', 'd.multicall', 'd.name', 'd.hash', 'd.size_bytes', 'd.custom1', 'd.directory', 'd.base_path',
  'd.is_active', 'd.complete', 'd.completed_bytes', 'd.ratio', 'd.down.rate', 'd.up.rate', 'd.creation_date',
  'd.timestamp.started', 'd.timestamp.finished', 'f.multicall', 'f.path', 'f.size_bytes', 'throttle.global_down.rate',
  'throttle.global_down.total', 'throttle.global_up.rate', 'throttle.global_up.total', ...LOADS,
];

/** Exporters and dashboards that only count: no paths, addresses, files or peers. */
const MONITORING = [
  ...DOWNLOAD_GETTERS, ...TRACKER_GETTERS, ...GLOBAL_GETTERS, ...HELPERS, ...CONTROL_FLOW, 'system.multicall',
  'd.multicall2', 'd.multicall', 'd.multicall.filtered', 't.multicall',
];

export const FULL_POLICY = 'full';

/**
 * Flood's and ruTorrent's torrent lists carry tracker columns as a t.multicall inside each d.multicall2
 * row (`cat="$t.multicall=d.hash=,t.url=,cat={|||}"`); no client nests files or peers there.
 */
const ROW_MULTICALLS = ['t.multicall'];

export const BUILTIN_DEFINITIONS: ReadonlyMap<string, PolicyDefinition> = new Map<string, PolicyDefinition>([
  ['standard', { allow: [...READONLY, ...STANDARD_ACTIONS], row_multicalls: ROW_MULTICALLS }],
  ['readonly', { allow: READONLY, row_multicalls: ROW_MULTICALLS }],
  // Flood and ruTorrent through an SCGI listener: the standard set, under their own names so an admin
  // can see (and later narrow) what each web UI is allowed; docs/scgi-listener.md lists what needs full.
  ['flood', { allow: [...READONLY, ...STANDARD_ACTIONS], row_multicalls: ROW_MULTICALLS }],
  ['rutorrent', { allow: [...READONLY, ...STANDARD_ACTIONS], row_multicalls: ROW_MULTICALLS }],
  ['arr', { allow: ARR }],
  ['mobile', { allow: MOBILE, row_multicalls: ROW_MULTICALLS }],
  ['autobrr', { allow: AUTOBRR }],
  ['monitoring', { allow: MONITORING, row_multicalls: ROW_MULTICALLS }],
  // One rtorrent shared by several people: each sees and changes only the torrents they added
  // (docs/tenants.md). Extend it with download_roots = ["/srv/torrents/{user}"] to keep data apart too.
  ['tenant', { allow: [...READONLY, ...TENANT_ACTIONS], row_multicalls: ROW_MULTICALLS, scope: 'own' }],
]);

/** Commands that may follow a load.* source, in the literal shapes real clients send (§5.4). */
export const LOAD_TRAILING_COMMANDS: readonly string[] = [
  'd.custom.set', 'd.custom1.set', 'd.custom2.set', 'd.custom3.set', 'd.custom4.set', 'd.custom5.set',
  'd.directory.set', 'd.directory_base.set', 'd.priority.set', 'd.tied_to_file.set', 'd.connection_seed.set',
  'd.down.sequential.set', 'd.views.push_back_unique', 'd.throttle_name.set',
];
