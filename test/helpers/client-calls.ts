/**
 * What ruTorrent and Flood send (js/rtorrent.js, names mapped by php/methods-0.9.4.php), shared by the policy
 * unit tests and the tests against a real rtorrent.
 */

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

/** The getters of Flood's settings page (server/services/rTorrent, clientSettingsMap). */
export const FLOOD_SETTINGS = [
  'dht.statistics', 'dht.port', 'directory.default', 'network.local_address', 'network.max_open_files', 'network.port_open',
  'network.port_random', 'pieces.hash.on_completion', 'pieces.memory.max', 'protocol.pex', 'throttle.global_down.max_rate',
  'throttle.global_up.max_rate', 'throttle.max_peers.normal', 'throttle.max_peers.seed', 'throttle.max_downloads',
  'throttle.max_downloads.global', 'throttle.max_uploads', 'throttle.max_uploads.global', 'throttle.min_peers.normal',
  'throttle.min_peers.seed', 'trackers.numwant', 'throttle.global_up.rate', 'throttle.global_up.total',
  'throttle.global_down.rate', 'throttle.global_down.total',
];
