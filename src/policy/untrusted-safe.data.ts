/*
 * rtorrent's own untrusted-safe command names, per release: the names each tag's rpc.mark_safe("…")
 * call sites list (rakshasa/rtorrent v0.16.9, the first with UNTRUSTED_CONNECTION, to v0.16.20),
 * grouped by the release that first lists them. Names marked in loops (the system.sockets.<category>.*
 * getters) are left out: a call reaching them is sent trusted, which every release accepts. Project
 * data; regenerate it from the tags' sources rather than editing by hand.
 */

/** [first release, names]: each name is safe from that release on. */
const SAFE_FROM: ReadonlyArray<readonly [string, string]> = [
  ['0.16.9', `
    add_peer and branch cat catch choke_group.down.heuristics choke_group.down.max
    choke_group.down.max.unlimited choke_group.down.queued choke_group.down.rate
    choke_group.down.total choke_group.down.unchoked choke_group.general.size choke_group.index_of
    choke_group.list choke_group.size choke_group.tracker.mode choke_group.up.heuristics
    choke_group.up.max choke_group.up.max.unlimited choke_group.up.queued choke_group.up.rate
    choke_group.up.total choke_group.up.unchoked close_low_diskspace close_low_diskspace.normal
    close_untied compare convert.date convert.elapsed_time convert.gm_date convert.gm_time
    convert.kb convert.mb convert.throttle convert.time convert.xb d.base_filename d.base_path
    d.bitfield d.bytes_done d.check_hash d.chunk_size d.chunks_hashed d.close d.close.directly
    d.completed_bytes d.completed_chunks d.connection_current d.connection_leech d.connection_seed
    d.creation_date d.custom d.custom1 d.custom2 d.custom3 d.custom4 d.custom5 d.directory
    d.directory_base d.down.rate d.down.total d.downloads_max d.erase d.free_diskspace d.hash
    d.hashing d.hashing_failed d.is_active d.is_hash_checked d.is_hash_checking d.is_meta
    d.is_multi_file d.is_not_partially_done d.is_open d.is_partially_done d.is_pex_active
    d.is_private d.left_bytes d.load_date d.local_id d.local_id_html d.message d.multicall.filtered
    d.multicall2 d.name d.open d.pause d.peer_exchange d.peers_accounted d.peers_complete
    d.peers_connected d.peers_max d.peers_min d.peers_not_connected d.priority d.priority_str
    d.ratio d.resume d.save_full_session d.save_resume d.size_bytes d.size_chunks d.size_pex
    d.skip.rate d.skip.total d.state d.state_changed d.state_counter d.throttle_name d.tracker_focus
    d.tracker_numwant d.tracker_size d.up.rate d.up.total d.update_priorities d.uploads_max d.views
    d.views.push_back_unique d.views.remove dht.add_node dht.mode.set dht.override_port dht.port
    dht.statistics dht.throttle.name directory.default download_list elapsed.greater elapsed.less
    f.completed_chunks f.frozen_path f.is_create_queued f.is_created f.is_open f.is_resize_queued
    f.last_touched f.match_depth_next f.match_depth_prev f.multicall f.offset f.path
    f.path_components f.path_depth f.prioritize_first f.prioritize_first.disable
    f.prioritize_first.enable f.prioritize_last f.prioritize_last.disable f.prioritize_last.enable
    f.priority f.priority.set f.range_first f.range_second f.size_bytes f.size_chunks
    fi.filename_last fi.is_file if method.const method.get method.has_key method.list_keys
    method.rlookup method.use_deprecated network.bind_address network.http.cacert
    network.http.capath network.http.current_open network.http.max_cache_connections
    network.http.max_host_connections network.http.max_total_connections network.http.proxy_address
    network.listen.backlog network.listen.port network.local_address network.max_open_files
    network.max_open_sockets network.open_files network.open_sockets network.port_open
    network.port_random network.port_range network.receive_buffer.size network.rpc.use_jsonrpc
    network.rpc.use_xmlrpc network.scgi.dont_route network.send_buffer.size network.total_handshakes
    network.xmlrpc.size_limit not or p.address p.banned p.banned.set p.call_target p.client_version
    p.completed_percent p.disconnect p.disconnect_delayed p.down_rate p.down_total p.id p.id_html
    p.is_encrypted p.is_incoming p.is_obfuscated p.is_preferred p.is_snubbed p.is_unwanted
    p.multicall p.options_str p.peer_rate p.peer_total p.port p.snubbed p.snubbed.set p.up_rate
    p.up_total pieces.hash.on_completion pieces.memory.max pieces.preload.min_rate
    pieces.preload.min_size pieces.preload.type pieces.sync.always_safe pieces.sync.timeout
    pieces.sync.timeout_safe protocol.pex remove_untied session.on_completion session.path
    session.use_lock start_tied stop_untied strings.choke_heuristics
    strings.choke_heuristics.download strings.choke_heuristics.upload strings.connection_type
    strings.encryption strings.ip_filter strings.ip_tos strings.log_group strings.tracker_event
    strings.tracker_mode system.api_version system.client_version system.file.max_size
    system.file.split_size system.file.split_suffix system.library_version system.listMethods
    t.activity_time_last t.activity_time_next t.failed_counter t.failed_time_last t.group t.id
    t.is_busy t.is_enabled t.is_enabled.set t.is_extra_tracker t.is_open t.is_usable t.multicall
    t.normal_interval t.scrape_complete t.scrape_counter t.scrape_downloaded t.scrape_incomplete
    t.scrape_time_last t.success_counter t.success_time_last t.type t.url throttle.down.max
    throttle.down.rate throttle.global_down.max_rate throttle.global_down.max_rate.set
    throttle.global_down.max_rate.set_kb throttle.global_down.rate throttle.global_down.total
    throttle.global_up.max_rate throttle.global_up.max_rate.set throttle.global_up.max_rate.set_kb
    throttle.global_up.rate throttle.global_up.total throttle.max_downloads
    throttle.max_downloads.div throttle.max_downloads.div._val throttle.max_downloads.div._val.set
    throttle.max_downloads.div.set throttle.max_downloads.global throttle.max_downloads.global._val
    throttle.max_downloads.global._val.set throttle.max_downloads.global.set
    throttle.max_downloads.set throttle.max_peers.normal throttle.max_peers.normal.set
    throttle.max_peers.seed throttle.max_peers.seed.set throttle.max_unchoked_downloads
    throttle.max_unchoked_uploads throttle.max_uploads throttle.max_uploads.div
    throttle.max_uploads.div._val throttle.max_uploads.div._val.set throttle.max_uploads.div.set
    throttle.max_uploads.global throttle.max_uploads.global._val
    throttle.max_uploads.global._val.set throttle.max_uploads.global.set throttle.max_uploads.set
    throttle.min_downloads throttle.min_downloads.set throttle.min_peers.normal
    throttle.min_peers.normal.set throttle.min_peers.seed throttle.min_peers.seed.set
    throttle.min_uploads throttle.min_uploads.set throttle.unchoked_downloads
    throttle.unchoked_uploads throttle.up.max throttle.up.rate trackers.numwant trackers.use_udp
    value view.set_not_visible view.set_visible
  `],
  ['0.16.13', `
    d.base_filename.as_binary d.base_filename.base64 d.base_filename.base64_as_binary
    d.base_filename.hex d.base_filename.or_as_binary d.base_filename.or_base64 d.base_path.as_binary
    d.base_path.base64 d.base_path.base64_as_binary d.base_path.hex d.base_path.or_as_binary
    d.base_path.or_base64 d.name.as_binary d.name.base64 d.name.base64_as_binary d.name.hex
    d.name.or_as_binary d.name.or_base64 f.frozen_path.as_binary f.frozen_path.base64
    f.frozen_path.base64_as_binary f.frozen_path.hex f.frozen_path.or_as_binary
    f.frozen_path.or_base64
  `],
  ['0.16.14', `
    d.multicall
  `],
  ['0.16.15', `
    system.sockets.max_size system.sockets.size
  `],
  ['0.16.16', `
    d.complete d.timestamp.finished network.proxy.global network.proxy.http
  `],
  ['0.16.19', `
    d.timestamp.started enum.log_group
  `],
  ['0.16.20', `
    system.sockets.available_alloc system.sockets.reserved_alloc
  `],
];

/** Safe in a window of releases only: rtorrent stopped marking them. */
const SAFE_UNTIL: ReadonlyArray<readonly [string, string, string]> = [
  // 0.16.16 replaced it by network.proxy.http.
  ['network.proxy_address', '0.16.9', '0.16.15'],
];

/** Releases rtorrent marks a name safe in: from `from`, up to and including `to` when set. */
export interface SafeWindow {
  readonly from: string;
  readonly to?: string;
}

export const UNTRUSTED_SAFE_SINCE: ReadonlyMap<string, SafeWindow> = new Map([
  ...SAFE_FROM.flatMap(([from, names]) => names.split(/\s+/).filter(Boolean).map((name): [string, SafeWindow] => [name, { from }])),
  ...SAFE_UNTIL.map(([name, from, to]): [string, SafeWindow] => [name, { from, to }]),
]);

/** The release the lists above end with; later releases are taken to keep its list. */
export const NEWEST_KNOWN_SAFE_LIST = '0.16.20';
