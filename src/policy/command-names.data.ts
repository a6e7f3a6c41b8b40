/*
 * rtorrent command names: project data, not code. Regenerate instead of editing by hand.
 *
 * RTORRENT_0_9_8 and RTORRENT_MASTER are copies of shared/docs/data/rtorrent-0.9.8-commands.txt and
 * rtorrent-master-commands.txt (master 3ae91b65), minus the extraction artefact "group.".
 * test/unit/policy-compile.test.ts checks that they still match those files when shared/ is present.
 *
 * Those two lists were extracted from the registration calls in rtorrent's source and miss every name
 * that a macro or a loop builds, which includes names real clients send (d.custom1.set, the
 * throttle.*.set variables, system.multicall). The supplements below close that gap:
 *  - FROM_0_9_8_LISTMETHODS: what the Debian rtorrent 0.9.8 package answers to system.listMethods
 *    (735 names; these are the ones not already in the two lists). It includes xmlrpc-c's own
 *    system.* methods, the event.* multi-methods and group.seeding.* from main.cc.
 *  - FROM_MASTER_MACROS: master names built by macros (rakshasa/rtorrent 3ae91b65):
 *    "<key>.set" of every CMD2_VAR_* and CMD2_DL_VAR_* key (src/command_helpers.h:82-113,
 *    src/command_download.cc:604-639), the CMD2_DL_TIMESTAMP extras (.set, .set_if_z, .or_zero,
 *    .elapsed) and system.sockets.<category>.* for the libtorrent socket categories generic, http,
 *    internal, rpc, files (src/command_local.cc:258-276), and f.frozen_path.base64_as_binary, which
 *    master marks untrusted-safe (shared/docs/data/rtorrent-untrusted-safe-names.txt).
 *  - FROM_JESEC: names that only jesec/rtorrent (Flood's fork) has and that the reference cites.
 *  - FROM_0_16_20_LISTMETHODS: what rtorrent 0.16.20 (the release tarball, built by
 *    scripts/build-rtorrent.sh: tinyxml2 XML-RPC, JSON-RPC, no Lua) answers to system.listMethods
 *    (894 names; these are the ones not already in the lists above: the ui.color.* variables, which a
 *    loop registers from display/color_map.h, v0.16.20:src/command_ui.cc:904-915).
 *    test/integration/command-coverage.test.ts asks a live 0.16.20 and fails with the names to add
 *    when this list is out of date. The answer holds private names too (argument.0, d.state.set,
 *    d.connection_seed.set), which 0.9.8's xmlrpc-c never lists: 0.16.20's system.listMethods walks
 *    the whole command table (v0.16.20:src/command_dynamic.cc:104-114).
 * Private names (d.state.set, d.connection_seed.set, ...) are included on purpose: they cannot be
 * called at the top level over XML-RPC, but command strings reach them.
 */

const words = (text: string): readonly string[] => text.split(/\s+/).filter((word) => word !== '');

export const RTORRENT_0_9_8: readonly string[] = words(`
  add_peer and argument.0 argument.1 argument.2 argument.3 bind branch cat catch check_hash
  choke_group.down.heuristics choke_group.down.heuristics.set choke_group.down.max
  choke_group.down.max.set choke_group.down.max.unlimited choke_group.down.queued
  choke_group.down.rate choke_group.down.total choke_group.down.unchoked choke_group.general.size
  choke_group.index_of choke_group.insert choke_group.list choke_group.size
  choke_group.tracker.mode choke_group.tracker.mode.set choke_group.up.heuristics
  choke_group.up.heuristics.set choke_group.up.max choke_group.up.max.set
  choke_group.up.max.unlimited choke_group.up.queued choke_group.up.rate choke_group.up.total
  choke_group.up.unchoked close_low_diskspace close_untied compare connection_leech
  connection_seed convert.date convert.elapsed_time convert.gm_date convert.gm_time convert.kb
  convert.mb convert.throttle convert.time convert.xb d.accepting_seeders
  d.accepting_seeders.disable d.accepting_seeders.enable d.base_filename d.base_path d.bitfield
  d.bytes_done d.check_hash d.chunk_size d.chunks_hashed d.chunks_seen d.close d.close.directly
  d.complete d.completed_bytes d.completed_chunks d.connection_current d.connection_current.set
  d.connection_leech d.connection_seed d.create_link d.creation_date d.custom d.custom.if_z
  d.custom.items d.custom.keys d.custom.set d.custom1 d.custom2 d.custom3 d.custom4 d.custom5
  d.custom_throw d.delete_link d.delete_tied d.directory d.directory.set d.directory_base
  d.directory_base.set d.disconnect.seeders d.down.choke_heuristics d.down.choke_heuristics.leech
  d.down.choke_heuristics.seed d.down.choke_heuristics.set d.down.rate d.down.total
  d.downloads_max d.downloads_max.set d.downloads_min d.downloads_min.set d.erase d.free_diskspace
  d.group d.group.name d.group.set d.hash d.hashing d.hashing_failed d.hashing_failed.set
  d.ignore_commands d.incomplete d.is_active d.is_hash_checked d.is_hash_checking d.is_meta
  d.is_multi_file d.is_not_partially_done d.is_open d.is_partially_done d.is_pex_active
  d.is_private d.left_bytes d.load_date d.loaded_file d.local_id d.local_id_html d.max_file_size
  d.max_file_size.set d.max_size_pex d.message d.message.set d.mode d.multicall.filtered
  d.multicall2 d.name d.open d.pause d.peer_exchange d.peer_exchange.set d.peers_accounted
  d.peers_complete d.peers_connected d.peers_max d.peers_max.set d.peers_min d.peers_min.set
  d.peers_not_connected d.priority d.priority.set d.priority_str d.ratio d.resume
  d.save_full_session d.save_resume d.size_bytes d.size_chunks d.size_files d.size_pex d.skip.rate
  d.skip.total d.start d.state d.state_changed d.state_counter d.stop d.throttle_name
  d.throttle_name.set d.tied_to_file d.timestamp.finished d.timestamp.started d.tracker.insert
  d.tracker.send_scrape d.tracker_announce d.tracker_announce.force d.tracker_focus
  d.tracker_numwant d.tracker_numwant.set d.tracker_size d.try_close d.try_start d.try_stop
  d.up.choke_heuristics d.up.choke_heuristics.leech d.up.choke_heuristics.seed
  d.up.choke_heuristics.set d.up.rate d.up.total d.update_priorities d.uploads_max
  d.uploads_max.set d.uploads_min d.uploads_min.set d.views d.views.has d.views.push_back
  d.views.push_back_unique d.views.remove d.wanted_chunks dht dht.add_node dht.mode.set dht.port
  dht.statistics dht.throttle.name dht.throttle.name.set dht_port directory directory.default
  directory.watch.added download_list download_rate elapsed.greater elapsed.less encoding.add
  encoding_list encryption equal execute execute.capture execute.capture_nothrow execute.nothrow
  execute.nothrow.bg execute.raw execute.raw.bg execute.raw_nothrow execute.raw_nothrow.bg
  execute.throw execute.throw.bg execute2 f.completed_chunks f.frozen_path f.is_create_queued
  f.is_created f.is_open f.is_resize_queued f.last_touched f.match_depth_next f.match_depth_prev
  f.multicall f.offset f.path f.path_components f.path_depth f.prioritize_first
  f.prioritize_first.disable f.prioritize_first.enable f.prioritize_last f.prioritize_last.disable
  f.prioritize_last.enable f.priority f.priority.set f.range_first f.range_second
  f.set_create_queued f.set_resize_queued f.size_bytes f.size_chunks f.unset_create_queued
  f.unset_resize_queued false fi.filename_last fi.is_file file.append file.prioritize_toc
  file.prioritize_toc.first file.prioritize_toc.last greater group.insert if import ip
  ip_tables.add_address ip_tables.get ip_tables.insert_table ip_tables.size_data
  ipv4_filter.add_address ipv4_filter.dump ipv4_filter.get ipv4_filter.load ipv4_filter.size_data
  key_layout keys.layout less load.normal load.raw load.raw_start load.raw_start_verbose
  load.raw_verbose load.start load.start_verbose load.verbose log.add_output log.close log.execute
  log.open_file log.open_file_pid log.open_gz_file log.open_gz_file_pid log.vmmap.dump log.xmlrpc
  match math.add math.avg math.cnt math.div math.max math.med math.min math.mod math.mul math.sub
  max_downloads max_downloads_div max_downloads_global max_memory_usage max_peers max_peers_seed
  max_uploads max_uploads_div max_uploads_global method.const method.const.enable method.erase
  method.get method.has_key method.insert method.insert.bool method.insert.c_simple
  method.insert.list method.insert.s_c_simple method.insert.simple method.insert.string
  method.insert.value method.list_keys method.redirect method.rlookup method.rlookup.clear
  method.set method.set_key method.use_deprecated method.use_intermediate min_downloads min_peers
  min_peers_seed min_uploads network.bind_address network.bind_address.set network.http.cacert
  network.http.cacert.set network.http.capath network.http.capath.set network.http.current_open
  network.http.dns_cache_timeout network.http.dns_cache_timeout.set network.http.max_open
  network.http.max_open.set network.http.proxy_address network.http.proxy_address.set
  network.http.ssl_verify_host network.http.ssl_verify_host.set network.http.ssl_verify_peer
  network.http.ssl_verify_peer.set network.listen.backlog network.listen.backlog.set
  network.listen.port network.local_address network.local_address.set network.max_open_files
  network.max_open_files.set network.max_open_sockets network.max_open_sockets.set
  network.open_sockets network.port_open network.port_random network.port_range
  network.proxy_address network.proxy_address.set network.receive_buffer.size
  network.receive_buffer.size.set network.scgi.dont_route network.scgi.open_local
  network.scgi.open_port network.send_buffer.size network.send_buffer.size.set network.tos.set
  network.xmlrpc.dialect.set network.xmlrpc.size_limit network.xmlrpc.size_limit.set not on_ratio
  or p.address p.banned p.banned.set p.call_target p.client_version p.completed_percent
  p.disconnect p.disconnect_delayed p.down_rate p.down_total p.id p.id_html p.is_encrypted
  p.is_incoming p.is_obfuscated p.is_preferred p.is_snubbed p.is_unwanted p.multicall
  p.options_str p.peer_rate p.peer_total p.port p.snubbed p.snubbed.set p.up_rate p.up_total
  pieces.hash.on_completion pieces.hash.queue_size pieces.memory.block_count pieces.memory.current
  pieces.memory.max pieces.memory.max.set pieces.memory.sync_queue pieces.preload.min_rate
  pieces.preload.min_rate.set pieces.preload.min_size pieces.preload.min_size.set
  pieces.preload.type pieces.preload.type.set pieces.stats.total_size pieces.stats_not_preloaded
  pieces.stats_preloaded pieces.sync.always_safe pieces.sync.always_safe.set
  pieces.sync.queue_size pieces.sync.safe_free_diskspace pieces.sync.timeout
  pieces.sync.timeout.set pieces.sync.timeout_safe pieces.sync.timeout_safe.set port_random
  port_range print protocol.choke_heuristics.down.leech protocol.choke_heuristics.down.seed
  protocol.choke_heuristics.up.leech protocol.choke_heuristics.up.seed protocol.connection.leech
  protocol.connection.seed protocol.encryption.set protocol.pex proxy_address ratio.disable
  ratio.enable ratio.max ratio.max.set ratio.min ratio.min.set ratio.upload ratio.upload.set
  remove_untied scgi_local scgi_port schedule schedule2 schedule_remove schedule_remove2
  scheduler.max_active scheduler.simple.added scheduler.simple.removed scheduler.simple.update
  session session.name session.on_completion session.path session.path.set session.save
  session.use_lock start_tied stop_untied strings.choke_heuristics
  strings.choke_heuristics.download strings.choke_heuristics.upload strings.connection_type
  strings.encryption strings.ip_filter strings.ip_tos strings.log_group strings.tracker_event
  strings.tracker_mode system.api_version system.client_version system.cwd system.cwd.set
  system.daemon system.env system.file.allocate system.file.max_size system.file.split_size
  system.file.split_suffix system.file_status_cache.prune system.file_status_cache.size
  system.files.closed_counter system.files.failed_counter system.files.opened_counter
  system.hostname system.library_version system.pid system.shutdown system.shutdown.normal
  system.shutdown.quick system.time system.time_seconds system.time_usec system.umask.set
  t.activity_time_last t.activity_time_next t.can_scrape t.disable t.enable t.failed_counter
  t.failed_time_last t.failed_time_next t.group t.id t.is_busy t.is_enabled t.is_enabled.set
  t.is_extra_tracker t.is_open t.is_usable t.latest_event t.latest_new_peers t.latest_sum_peers
  t.min_interval t.multicall t.normal_interval t.scrape_complete t.scrape_counter
  t.scrape_downloaded t.scrape_incomplete t.scrape_time_last t.success_counter t.success_time_last
  t.success_time_next t.type t.url throttle.down throttle.down.max throttle.down.rate
  throttle.global_down.max_rate throttle.global_down.max_rate.set
  throttle.global_down.max_rate.set_kb throttle.global_down.rate throttle.global_down.total
  throttle.global_up.max_rate throttle.global_up.max_rate.set throttle.global_up.max_rate.set_kb
  throttle.global_up.rate throttle.global_up.total throttle.ip throttle.max_downloads
  throttle.max_downloads.div throttle.max_downloads.div._val throttle.max_downloads.div.set
  throttle.max_downloads.global throttle.max_downloads.global._val
  throttle.max_downloads.global.set throttle.max_peers.normal throttle.max_peers.seed
  throttle.max_uploads throttle.max_uploads.div throttle.max_uploads.div._val
  throttle.max_uploads.div.set throttle.max_uploads.global throttle.max_uploads.global._val
  throttle.max_uploads.global.set throttle.min_downloads throttle.min_peers.normal
  throttle.min_peers.seed throttle.min_uploads throttle.unchoked_downloads
  throttle.unchoked_uploads throttle.up throttle.up.max throttle.up.rate to_date to_elapsed_time
  to_gm_date to_gm_time to_kb to_mb to_throttle to_time to_xb torrent_list_layout trackers.disable
  trackers.enable trackers.numwant trackers.use_udp try try_import ui.current_view
  ui.current_view.set ui.input.history.clear ui.input.history.size ui.input.history.size.set
  ui.throttle.global.step.large ui.throttle.global.step.medium ui.throttle.global.step.small
  ui.torrent_list.layout ui.unfocus_download upload_rate value view.add view.event_added
  view.event_removed view.filter view.filter.temp view.filter.temp.excluded view.filter.temp.log
  view.filter_all view.filter_download view.filter_on view.list view.persistent view.set
  view.set_not_visible view.set_visible view.size view.size_not_visible view.sort
  view.sort_current view.sort_new
`);

export const RTORRENT_MASTER: readonly string[] = words(`
  add_peer and argument.0 argument.1 argument.2 argument.3 bind branch cat catch check_hash
  choke_group.all.down.update_balance choke_group.all.up.update_balance
  choke_group.down.heuristics choke_group.down.heuristics.set choke_group.down.max
  choke_group.down.max.set choke_group.down.max.unlimited choke_group.down.queued
  choke_group.down.rate choke_group.down.total choke_group.down.unchoked choke_group.general.size
  choke_group.index_of choke_group.insert choke_group.list choke_group.size
  choke_group.tracker.mode choke_group.tracker.mode.set choke_group.up.heuristics
  choke_group.up.heuristics.set choke_group.up.max choke_group.up.max.set
  choke_group.up.max.unlimited choke_group.up.queued choke_group.up.rate choke_group.up.total
  choke_group.up.unchoked close_low_diskspace close_low_diskspace.normal close_untied compare
  connection_leech connection_seed convert.date convert.elapsed_time convert.gm_date
  convert.gm_time convert.kb convert.mb convert.throttle convert.time convert.xb
  d.accepting_seeders d.accepting_seeders.disable d.accepting_seeders.enable d.base_filename
  d.base_filename.as_binary d.base_filename.base64 d.base_filename.base64_as_binary
  d.base_filename.hex d.base_filename.or_as_binary d.base_filename.or_base64 d.base_path
  d.base_path.as_binary d.base_path.base64 d.base_path.base64_as_binary d.base_path.hex
  d.base_path.or_as_binary d.base_path.or_base64 d.base_path.realpath.or_empty
  d.base_path.realpath.or_throw d.bitfield d.bytes_done d.check_hash d.chunk_size d.chunks_hashed
  d.chunks_seen d.close d.close.directly d.complete d.completed_bytes d.completed_chunks
  d.connection_current d.connection_current.set d.connection_leech d.connection_seed d.create_link
  d.creation_date d.custom d.custom.if_z d.custom.items d.custom.keys d.custom.set d.custom1
  d.custom2 d.custom3 d.custom4 d.custom5 d.custom_throw d.delete_link d.delete_tied d.directory
  d.directory.realpath.or_empty d.directory.realpath.or_throw d.directory.set d.directory_base
  d.directory_base.set d.disconnect.seeders d.down.choke_heuristics d.down.choke_heuristics.leech
  d.down.choke_heuristics.seed d.down.choke_heuristics.set d.down.rate d.down.total
  d.downloads_max d.downloads_max.set d.downloads_min d.downloads_min.set d.erase d.free_diskspace
  d.group d.group.name d.group.set d.hash d.hashing d.hashing_failed d.hashing_failed.set
  d.ignore_commands d.incomplete d.is_active d.is_hash_checked d.is_hash_checking d.is_meta
  d.is_multi_file d.is_not_partially_done d.is_open d.is_partially_done d.is_pex_active
  d.is_private d.left_bytes d.load_date d.loaded_file d.loaded_file.realpath.or_empty
  d.loaded_file.realpath.or_throw d.local_id d.local_id_html d.max_file_size d.max_file_size.set
  d.max_size_pex d.message d.message.set d.mode d.multicall d.multicall.filtered d.multicall2
  d.name d.name.as_binary d.name.base64 d.name.base64_as_binary d.name.hex d.name.or_as_binary
  d.name.or_base64 d.open d.pause d.peer_exchange d.peer_exchange.set d.peers_accounted
  d.peers_complete d.peers_connected d.peers_max d.peers_max.set d.peers_min d.peers_min.set
  d.peers_not_connected d.priority d.priority.set d.priority_str d.ratio d.resume
  d.save_full_session d.save_resume d.size_bytes d.size_chunks d.size_files d.size_pex d.skip.rate
  d.skip.total d.start d.state d.state_changed d.state_counter d.stop d.throttle_name
  d.throttle_name.set d.tied_to_file d.tied_to_file.realpath.or_empty
  d.tied_to_file.realpath.or_throw d.timestamp.finished d.timestamp.started d.tracker.has_active
  d.tracker.has_active_not_scrape d.tracker.has_usable d.tracker.insert d.tracker.send_scrape
  d.tracker_announce d.tracker_announce.force d.tracker_focus d.tracker_numwant
  d.tracker_numwant.set d.tracker_size d.try_close d.try_start d.try_stop d.up.choke_heuristics
  d.up.choke_heuristics.leech d.up.choke_heuristics.seed d.up.choke_heuristics.set d.up.rate
  d.up.total d.update_priorities d.uploads_max d.uploads_max.set d.uploads_min d.uploads_min.set
  d.views d.views.has d.views.push_back d.views.push_back_unique d.views.remove d.wanted_chunks
  dht dht.add_node dht.mode.set dht.override_port dht.override_port.set dht.port dht.port.set
  dht.statistics dht.throttle.name directory directory.default directory.default.realpath.or_empty
  directory.default.realpath.or_throw directory.watch.added directory.watch.ready download_list
  download_rate elapsed.greater elapsed.less encryption enum.log_group equal execute
  execute.capture execute.capture_nothrow execute.nothrow execute.nothrow.bg execute.raw
  execute.raw.bg execute.raw_nothrow execute.raw_nothrow.bg execute.throw execute.throw.bg
  execute2 f.completed_chunks f.frozen_path f.frozen_path.as_binary f.frozen_path.base64
  f.frozen_path.hex f.frozen_path.or_as_binary f.frozen_path.or_base64
  f.frozen_path.realpath.or_empty f.frozen_path.realpath.or_throw f.is_create_queued f.is_created
  f.is_open f.is_resize_queued f.last_touched f.match_depth_next f.match_depth_prev f.multicall
  f.offset f.path f.path_components f.path_components.as_binary f.path_components.base64
  f.path_components.base64_as_binary f.path_components.hex f.path_components.or_as_binary
  f.path_components.or_base64 f.path_depth f.prioritize_first f.prioritize_first.disable
  f.prioritize_first.enable f.prioritize_last f.prioritize_last.disable f.prioritize_last.enable
  f.priority f.priority.set f.range_first f.range_second f.set_create_queued f.set_resize_queued
  f.size_bytes f.size_chunks f.unset_create_queued f.unset_resize_queued false fi.filename_last
  fi.is_file file.prioritize_toc file.prioritize_toc.first file.prioritize_toc.last greater
  group.insert if import ip ip_tables.add_address ip_tables.get ip_tables.insert_table
  ip_tables.size_data ipv4_filter.add_address ipv4_filter.dump ipv4_filter.get ipv4_filter.load
  ipv4_filter.size_data key_layout keys.layout less load.normal load.raw load.raw_start
  load.raw_start_verbose load.raw_verbose load.start load.start_verbose load.verbose
  log.add_output log.append_file log.append_file.flush log.append_gz_file log.close log.execute
  log.open_file log.open_file.flush log.open_file_pid log.open_gz_file log.open_gz_file_pid
  log.print log.rpc log.vmmap.dump log.xmlrpc lua.execute lua.execute.str magnet.path
  magnet.path.set match math.add math.avg math.cnt math.div math.max math.med math.min math.mod
  math.mul math.sub max_downloads max_downloads_div max_downloads_global max_memory_usage
  max_peers max_peers_seed max_uploads max_uploads_div max_uploads_global method.const
  method.const.enable method.erase method.get method.has_key method.insert method.insert.bool
  method.insert.c_simple method.insert.list method.insert.s_c_simple method.insert.simple
  method.insert.string method.insert.value method.list_keys method.redirect method.rlookup
  method.rlookup.clear method.set method.set_key method.use_deprecated method.use_intermediate
  min_downloads min_peers min_peers_seed min_uploads network.bind_address
  network.bind_address.ipv4 network.bind_address.ipv4.set network.bind_address.ipv6
  network.bind_address.ipv6.set network.bind_address.set network.block.ipv4 network.block.ipv4.set
  network.block.ipv4in6 network.block.ipv4in6.set network.block.ipv6 network.block.ipv6.set
  network.block.outgoing network.block.outgoing.set network.http.cacert network.http.cacert.set
  network.http.capath network.http.capath.set network.http.current_open
  network.http.dns_cache_timeout network.http.dns_cache_timeout.set
  network.http.max_cache_connections network.http.max_cache_connections.set
  network.http.max_host_connections network.http.max_host_connections.set network.http.max_open
  network.http.max_open.set network.http.max_total_connections
  network.http.max_total_connections.set network.http.proxy_address network.http.proxy_address.set
  network.http.ssl_verify_host network.http.ssl_verify_host.set network.http.ssl_verify_peer
  network.http.ssl_verify_peer.set network.listen.backlog network.listen.backlog.set
  network.listen.port network.listen.port.random network.listen.port.random.set
  network.listen.port.range network.listen.port.range.set network.listen.port.set
  network.local_address network.local_address.ipv4 network.local_address.ipv4.set
  network.local_address.ipv6 network.local_address.ipv6.set network.local_address.set
  network.local_port network.local_port.ipv4 network.local_port.ipv4.set network.local_port.ipv6
  network.local_port.ipv6.set network.local_port.set network.max_open_files
  network.max_open_files.set network.max_open_sockets network.max_open_sockets.set
  network.open_files network.open_sockets network.port_open network.port_open.set
  network.port_random network.port_random.set network.port_range network.port_range.set
  network.prefer.ipv6 network.prefer.ipv6.set network.proxy.global network.proxy.global.set
  network.proxy.http network.proxy.http.set network.receive_buffer.size
  network.receive_buffer.size.set network.rpc.use_jsonrpc network.rpc.use_jsonrpc.set
  network.rpc.use_xmlrpc network.rpc.use_xmlrpc.set network.scgi.dont_route
  network.scgi.gzip.min_size network.scgi.gzip.min_size.set network.scgi.open_local
  network.scgi.open_port network.scgi.open_systemd network.scgi.use_gzip network.scgi.use_gzip.set
  network.send_buffer.size network.send_buffer.size.set network.tos.set network.total_handshakes
  network.xmlrpc.dialect.set network.xmlrpc.size_limit network.xmlrpc.size_limit.set not on_ratio
  or p.address p.banned p.banned.set p.call_target p.client_version p.completed_percent
  p.disconnect p.disconnect_delayed p.down_rate p.down_total p.id p.id_html p.is_encrypted
  p.is_incoming p.is_obfuscated p.is_preferred p.is_snubbed p.is_unwanted p.multicall
  p.options_str p.peer_rate p.peer_total p.port p.snubbed p.snubbed.set p.up_rate p.up_total
  pieces.hash.on_completion pieces.hash.queue_size pieces.memory.block_count pieces.memory.current
  pieces.memory.max pieces.memory.max.set pieces.memory.sync_queue pieces.preload.min_rate
  pieces.preload.min_rate.set pieces.preload.min_size pieces.preload.min_size.set
  pieces.preload.type pieces.preload.type.set pieces.stats.total_size pieces.stats_not_preloaded
  pieces.stats_preloaded pieces.sync.always_safe pieces.sync.always_safe.set
  pieces.sync.queue_size pieces.sync.safe_free_diskspace pieces.sync.timeout
  pieces.sync.timeout.set pieces.sync.timeout_safe pieces.sync.timeout_safe.set port_random
  port_range print protocol.choke_heuristics.down.leech protocol.choke_heuristics.down.seed
  protocol.choke_heuristics.up.leech protocol.choke_heuristics.up.seed protocol.connection.leech
  protocol.connection.seed protocol.encryption protocol.encryption.handshake
  protocol.encryption.set protocol.encryption.stream protocol.pex protocol.pex.set proxy_address
  ratio.disable ratio.enable ratio.max ratio.max.set ratio.min ratio.min.set ratio.upload
  ratio.upload.set remove_untied scgi_local scgi_port schedule schedule.if_absent schedule.remove
  schedule2 schedule_remove2 scheduler.max_active scheduler.simple.added scheduler.simple.removed
  scheduler.simple.update session session.name session.on_completion session.path
  session.path.realpath.or_empty session.path.realpath.or_throw session.path.set session.save
  session.use_lock session.use_lock.set start_tied stop_untied string.contains string.contains_i
  string.ends_with string.equals string.join string.length string.lpad string.lstrip string.map
  string.replace string.rpad string.rstrip string.split string.starts_with string.strip
  string.substr strings.choke_heuristics strings.choke_heuristics.download
  strings.choke_heuristics.upload strings.connection_type strings.encryption
  strings.encryption.handshake strings.encryption.stream strings.ip_filter strings.ip_tos
  strings.log_group strings.tracker_event strings.tracker_mode system.api_version
  system.client_version system.cwd system.cwd.set system.daemon system.env system.file.allocate
  system.file.max_size system.file.split_size system.file.split_suffix
  system.file_status_cache.prune system.file_status_cache.size system.files.advise_random
  system.files.advise_random.hashing system.files.advise_random.hashing.set
  system.files.advise_random.set system.files.closed_counter system.files.failed_counter
  system.files.opened_counter system.files.session.fdatasync system.files.session.fdatasync.set
  system.hostname system.library_version system.listMethods system.pid system.shutdown
  system.shutdown.normal system.shutdown.quick system.sockets.adjust_alloc
  system.sockets.available_alloc system.sockets.max_size system.sockets.max_size.set
  system.sockets.reserved_alloc system.sockets.size system.time system.time_seconds
  system.time_usec system.umask.set t.activity_time_last t.activity_time_next t.can_scrape
  t.disable t.enable t.failed_counter t.failed_time_last t.failed_time_next t.group t.id t.is_busy
  t.is_enabled t.is_enabled.set t.is_extra_tracker t.is_open t.is_scrapable t.is_usable
  t.latest_event t.latest_new_peers t.latest_sum_peers t.min_interval t.multicall
  t.normal_interval t.scrape_complete t.scrape_counter t.scrape_downloaded t.scrape_incomplete
  t.scrape_time_last t.success_counter t.success_time_last t.success_time_next t.type t.url
  throttle.down throttle.down.max throttle.down.rate throttle.global_down.max_rate
  throttle.global_down.max_rate.set throttle.global_down.max_rate.set_kb throttle.global_down.rate
  throttle.global_down.total throttle.global_up.max_rate throttle.global_up.max_rate.set
  throttle.global_up.max_rate.set_kb throttle.global_up.rate throttle.global_up.total throttle.ip
  throttle.max_downloads throttle.max_downloads.div throttle.max_downloads.div._val
  throttle.max_downloads.div.set throttle.max_downloads.global throttle.max_downloads.global._val
  throttle.max_downloads.global.set throttle.max_peers.normal throttle.max_peers.seed
  throttle.max_unchoked_downloads throttle.max_unchoked_uploads throttle.max_uploads
  throttle.max_uploads.div throttle.max_uploads.div._val throttle.max_uploads.div.set
  throttle.max_uploads.global throttle.max_uploads.global._val throttle.max_uploads.global.set
  throttle.min_downloads throttle.min_peers.normal throttle.min_peers.seed throttle.min_uploads
  throttle.unchoked_downloads throttle.unchoked_uploads throttle.up throttle.up.max
  throttle.up.rate to_date to_elapsed_time to_gm_date to_gm_time to_kb to_mb to_throttle to_time
  to_xb torrent_list_layout trackers.delay_scrape trackers.disable trackers.enable
  trackers.numwant trackers.use_udp trackers.use_udp.set try try_import ui.current_view
  ui.current_view.set ui.focus.page_size ui.input.history.clear ui.input.history.size
  ui.input.history.size.set ui.keymap.style ui.keymap.style.set ui.status.throttle.down.set
  ui.status.throttle.up.set ui.throttle.global.step.large ui.throttle.global.step.medium
  ui.throttle.global.step.small ui.torrent_list.layout ui.unfocus_download upload_rate value
  view.add view.event_added view.event_removed view.filter view.filter.temp
  view.filter.temp.excluded view.filter.temp.log view.filter_all view.filter_download
  view.filter_on view.list view.persistent view.set view.set_not_visible view.set_visible
  view.size view.size_not_visible view.sort view.sort_current view.sort_new
`);

export const FROM_0_9_8_LISTMETHODS: readonly string[] = words(`
  d.custom1.set d.custom2.set d.custom3.set d.custom4.set d.custom5.set d.ignore_commands.set
  d.tied_to_file.set directory.default.set event.download.closed event.download.erased
  event.download.finished event.download.hash_done event.download.hash_failed
  event.download.hash_final_failed event.download.hash_queued event.download.hash_removed
  event.download.inserted event.download.inserted_new event.download.inserted_session
  event.download.opened event.download.paused event.download.resumed event.system.shutdown
  event.system.startup_done event.view.hide event.view.show file.prioritize_toc.first.push_back
  file.prioritize_toc.first.set file.prioritize_toc.last.push_back file.prioritize_toc.last.set
  file.prioritize_toc.set group.insert_persistent_view group.seeding.ratio.command
  group.seeding.ratio.disable group.seeding.ratio.enable group.seeding.ratio.max
  group.seeding.ratio.max.set group.seeding.ratio.min group.seeding.ratio.min.set
  group.seeding.ratio.upload group.seeding.ratio.upload.set group.seeding.view
  group.seeding.view.set group2.seeding.ratio.max group2.seeding.ratio.max.set
  group2.seeding.ratio.min group2.seeding.ratio.min.set group2.seeding.ratio.upload
  group2.seeding.ratio.upload.set group2.seeding.view group2.seeding.view.set keys.layout.set
  method.use_deprecated.set method.use_intermediate.set network.scgi.dont_route.set
  pieces.hash.on_completion.set protocol.choke_heuristics.down.leech.set
  protocol.choke_heuristics.down.seed.set protocol.choke_heuristics.up.leech.set
  protocol.choke_heuristics.up.seed.set protocol.connection.leech.set protocol.connection.seed.set
  scheduler.max_active.set session.name.set session.on_completion.set system.capabilities
  system.daemon.set system.file.allocate.set system.file.max_size.set system.file.split_size.set
  system.file.split_suffix.set system.getCapabilities system.methodExist system.methodHelp
  system.methodSignature system.multicall throttle.max_downloads.div._val.set
  throttle.max_downloads.global._val.set throttle.max_downloads.set throttle.max_peers.normal.set
  throttle.max_peers.seed.set throttle.max_uploads.div._val.set
  throttle.max_uploads.global._val.set throttle.max_uploads.set throttle.min_downloads.set
  throttle.min_peers.normal.set throttle.min_peers.seed.set throttle.min_uploads.set
  trackers.numwant.set ui.throttle.global.step.large.set ui.throttle.global.step.medium.set
  ui.throttle.global.step.small.set ui.torrent_list.layout.set view.filter.temp.excluded.set
  view.filter.temp.log.set
`);

export const FROM_MASTER_MACROS: readonly string[] = words(`
  d.complete.set d.connection_leech.set d.connection_seed.set d.down.choke_heuristics.leech.set
  d.down.choke_heuristics.seed.set d.hashing.set d.loaded_file.set d.mode.set d.state.set
  d.state_changed.set d.state_counter.set d.timestamp.finished.elapsed
  d.timestamp.finished.or_zero d.timestamp.finished.set d.timestamp.finished.set_if_z
  d.timestamp.started.elapsed d.timestamp.started.or_zero d.timestamp.started.set
  d.timestamp.started.set_if_z d.up.choke_heuristics.leech.set d.up.choke_heuristics.seed.set
  f.frozen_path.base64_as_binary system.sockets.files.max_alloc
  system.sockets.files.max_alloc.limit system.sockets.files.max_alloc.set
  system.sockets.files.max_size system.sockets.files.min_alloc
  system.sockets.files.min_alloc.limit system.sockets.files.min_alloc.set
  system.sockets.files.size system.sockets.generic.max_size system.sockets.generic.min_alloc
  system.sockets.generic.size system.sockets.http.max_alloc system.sockets.http.max_alloc.limit
  system.sockets.http.max_alloc.set system.sockets.http.max_size system.sockets.http.min_alloc
  system.sockets.http.min_alloc.limit system.sockets.http.min_alloc.set system.sockets.http.size
  system.sockets.internal.max_alloc system.sockets.internal.max_alloc.limit
  system.sockets.internal.max_alloc.set system.sockets.internal.max_size
  system.sockets.internal.min_alloc system.sockets.internal.min_alloc.limit
  system.sockets.internal.min_alloc.set system.sockets.internal.size system.sockets.rpc.max_alloc
  system.sockets.rpc.max_alloc.limit system.sockets.rpc.max_alloc.set system.sockets.rpc.max_size
  system.sockets.rpc.min_alloc system.sockets.rpc.min_alloc.limit system.sockets.rpc.min_alloc.set
  system.sockets.rpc.size trackers.delay_scrape.set ui.focus.page_size.set
`);

export const FROM_JESEC: readonly string[] = words(`
  d.down.sequential d.down.sequential.set d.timestamp.last_active load.throw load.start_throw
  fs.mkdir fs.mkdir.nothrow fs.mkdir.recursive fs.mkdir.recursive.nothrow fs.homedir fs.homedir.nothrow
`);

export const FROM_0_16_20_LISTMETHODS: readonly string[] = words(`
  ui.color.alarm ui.color.alarm.set ui.color.complete ui.color.complete.set ui.color.even
  ui.color.even.set ui.color.focus ui.color.focus.set ui.color.footer ui.color.footer.set
  ui.color.incomplete ui.color.incomplete.set ui.color.info ui.color.info.set ui.color.label
  ui.color.label.set ui.color.leeching ui.color.leeching.set ui.color.odd ui.color.odd.set
  ui.color.queued ui.color.queued.set ui.color.seeding ui.color.seeding.set ui.color.stopped
  ui.color.stopped.set ui.color.title ui.color.title.set
`);
