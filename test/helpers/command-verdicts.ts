/*
 * Which built-in policies allow each rtorrent command: a checked-in decision, not a copy of builtin.ts.
 *
 * It covers every name rtorrent 0.9.8 (Debian) or 0.16.20 answers to system.listMethods, and every
 * name a built-in policy allows. A name under [] is refused by every built-in policy but full, on
 * purpose; a known name that is not here at all must be refused by them too.
 * test/unit/policy-coverage.test.ts compares these groups with what the compiled policies decide, in
 * both directions, and test/integration/command-coverage.test.ts checks that every name a live
 * rtorrent lists is here. Allowing or refusing a command in builtin.ts therefore means moving its name
 * between groups, so the decision shows in review and cannot happen by accident.
 *
 * "Allows" means a user of the policy can reach the command: at the top level, or inside a command
 * string for the private setters clients send that way. Its arguments are still checked: load.*
 * sources, d.directory.set roots (which the built-ins lack, so only a policy extending one with
 * download_roots moves data), d.tied_to_file.set, the size limit.
 */
import { LOAD_METHODS } from '../../src/policy/evaluators.js';
import { compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

/** The built-in policies whose decisions are recorded here: all but full, which runs anything. */
export const CLASSIFIED_POLICIES = ['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'monitoring', 'arr', 'autobrr'] as const;
export type ClassifiedPolicy = (typeof CLASSIFIED_POLICIES)[number];

const H = '0123456789ABCDEF0123456789ABCDEF01234567';
const PROBE_ROOT = '/srv/probe';
const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const call = (methodName: string, ...params: string[]): MethodCall => ({ methodName, params: params.map(str) });
const inRow = (command: string): MethodCall => call('d.multicall2', '', 'main', command);

/**
 * Calls that pass when the policy has `name` on its list: at the top level, and as a d.multicall2
 * column for names only command strings may call (private setters such as d.connection_seed.set).
 * The few commands with argument rules get arguments those rules take.
 */
function probes(name: string): MethodCall[] {
  if (LOAD_METHODS.has(name)) return [call(name, '', `magnet:?xt=urn:btih:${H}`)];
  switch (name) {
    case 'system.multicall':
      return [{ methodName: name, params: [{ kind: 'array', items: [] }] }];
    case 'd.directory.set':
    case 'd.directory_base.set':
      return [call(name, H, `${PROBE_ROOT}/x`), inRow(`${name}=${PROBE_ROOT}/x`)];
    case 'd.tied_to_file.set':
      return [call(name, H, ''), inRow(`${name}=""`)];
    case 'network.xmlrpc.size_limit.set':
      return [call(name, '', '524288')];
    // Keyed: a policy kept to its own torrents refuses them without a key, or with the owner tag's.
    case 'd.custom':
    case 'd.custom_throw':
    case 'd.custom.if_z':
      return [call(name, H, 'probe'), inRow(`${name}=probe`)];
    case 'd.custom.set':
      return [call(name, H, 'probe', 'value'), inRow(`${name}=probe,value`)];
    default:
      return [call(name), inRow(`${name}=`)];
  }
}

/**
 * Whether each built-in policy lets a user reach a command at all. The built-ins are compiled with a
 * download root added, since without one no directory passes and d.directory.set could not be told
 * from a name the policy lacks.
 */
export function builtinVerdicts(): (policy: ClassifiedPolicy, name: string) => boolean {
  const probing = compilePolicies(
    Object.fromEntries(CLASSIFIED_POLICIES.map((policy) => [`probe-${policy}`, { extends: policy, download_roots: [PROBE_ROOT] }])),
  );
  return (policy, name) => probes(name).some((probe) => probing.get(`probe-${policy}`)!.check(probe).allowed);
}

/**
 * Commands no built-in but full may reach: they run programs or Lua, read or write files of the
 * user's choosing, store code that runs later, open or reconfigure RPC listeners, redirect traffic
 * through a proxy, or stop rtorrent. Each pattern is anchored; the reasons are in docs/policies.md.
 */
export const DANGEROUS: ReadonlyArray<readonly [pattern: RegExp, why: string]> = [
  [/^(execute|execute2|execute_\w+|execute\..+)$/, 'runs a program'],
  [/^lua\./, 'runs Lua, which has os.execute and io.*'],
  [/^(import|try_import)$/, 'runs a file as rtorrent.rc'],
  [/^log\./, 'opens, writes or truncates a file of the caller\'s choosing'],
  [/^(file\.append|fs\..+)$/, 'writes a file or makes directories'],
  [/^d\.(create_link|delete_link)$/, 'makes or removes a symlink at a chosen path'],
  [/^(f\.set_create_queued|f\.set_resize_queued|ipv4_filter\.load)$/, 'creates, resizes or reads files'],
  [/^method\./, 'defines, replaces or reveals stored code'],
  [/^(schedule|schedule2|schedule\..+|schedule_remove2?)$/, 'stores code that runs on a timer, or removes the admin\'s'],
  [/^directory\.watch\./, 'calls a command with each new file in a directory'],
  [
    /^(view\.(filter.*|sort_.+|event_.+)|group\.insert.*|on_ratio|ratio\.(enable|disable)|group\.seeding\.ratio\.(command|enable|disable))$/,
    'stores code that runs later',
  ],
  [/^event\./, 'runs the admin\'s handlers with a download of the caller\'s choosing'],
  [/^(try|catch|p\.call_target)$/, 'evaluators nobody needs'],
  [
    /^(network\.scgi\.open_.+|scgi_local|scgi_port|network\.scgi\..+\.set|network\.rpc\..+\.set|network\.xmlrpc\.dialect\.set)$/,
    'opens or reconfigures an RPC listener',
  ],
  [
    /^(network\.proxy\..+\.set|(network\.|network\.http\.)?proxy_address\.set|proxy_address|network\.http\.(cacert|capath|ssl_verify_host|ssl_verify_peer)\.set)$/,
    'sends rtorrent\'s traffic through a proxy, or accepts any certificate',
  ],
  [/^(session\.path\.set|session|session\.save|directory\.default\.set|directory|magnet\.path\.set)$/, 'moves where rtorrent writes its files'],
  [/^system\.(umask\.set|cwd\.set|cwd|env|daemon\.set|shutdown.*|file\..+\.set)$/, 'changes the process, its files, or reveals its environment'],
];

/** Why no built-in but full may reach the name, or undefined. */
export const dangerWhy = (name: string): string | undefined => DANGEROUS.find(([pattern]) => pattern.test(name))?.[1];

const words = (text: string): readonly string[] => text.split(/\s+/).filter((word) => word !== '');

/** Each group: the built-ins that allow its names. Names are sorted; groups run from most to least open. */
export const VERDICT_GROUPS: ReadonlyArray<readonly [allowedBy: readonly ClassifiedPolicy[], names: readonly string[]]> = [
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'monitoring', 'arr', 'autobrr'], words(`
    d.complete d.completed_bytes d.creation_date d.custom1 d.down.rate d.hash d.is_active d.multicall
    d.multicall2 d.name d.ratio d.size_bytes d.timestamp.finished d.timestamp.started d.up.rate
    system.api_version system.client_version system.multicall
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'arr', 'autobrr'], words(`
    d.base_path d.directory
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'monitoring', 'arr'], words(`
    d.accepting_seeders d.bitfield d.bytes_done d.chunk_size d.chunks_hashed d.chunks_seen
    d.completed_chunks d.connection_current d.connection_leech d.connection_seed d.custom d.custom.if_z
    d.custom.items d.custom.keys d.custom2 d.custom3 d.custom4 d.custom5 d.custom_throw
    d.down.choke_heuristics d.down.choke_heuristics.leech d.down.choke_heuristics.seed d.down.sequential
    d.down.total d.downloads_max d.downloads_min d.free_diskspace d.group d.group.name d.hashing
    d.hashing_failed d.ignore_commands d.incomplete d.is_hash_checked d.is_hash_checking d.is_meta
    d.is_multi_file d.is_not_partially_done d.is_open d.is_partially_done d.is_pex_active d.is_private
    d.left_bytes d.load_date d.local_id d.local_id_html d.max_file_size d.max_size_pex d.message d.mode
    d.name.as_binary d.name.base64 d.name.base64_as_binary d.name.hex d.name.or_as_binary d.name.or_base64
    d.peer_exchange d.peers_accounted d.peers_complete d.peers_connected d.peers_max d.peers_min
    d.peers_not_connected d.priority d.priority_str d.size_chunks d.size_files d.size_pex d.skip.rate
    d.skip.total d.state d.state_changed d.state_counter d.throttle_name d.timestamp.finished.elapsed
    d.timestamp.finished.or_zero d.timestamp.last_active d.timestamp.started.elapsed
    d.timestamp.started.or_zero d.tracker.has_active d.tracker.has_active_not_scrape d.tracker.has_usable
    d.tracker_focus d.tracker_numwant d.tracker_size d.up.choke_heuristics d.up.choke_heuristics.leech
    d.up.choke_heuristics.seed d.up.total d.uploads_max d.uploads_min d.views d.views.has d.wanted_chunks
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'monitoring', 'autobrr'], words(`
    system.hostname throttle.global_down.rate throttle.global_down.total throttle.global_up.rate
    throttle.global_up.total
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'mobile', 'arr', 'autobrr'], words(`
    load.normal load.raw load.raw_start load.start
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'arr'], words(`
    d.base_filename d.directory_base
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'autobrr'], words(`
    f.multicall f.path f.size_bytes network.bind_address
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile', 'monitoring'], words(`
    and branch cat choke_group.down.heuristics choke_group.down.max choke_group.down.max.unlimited
    choke_group.down.queued choke_group.down.rate choke_group.down.total choke_group.down.unchoked
    choke_group.general.size choke_group.index_of choke_group.list choke_group.size choke_group.tracker.mode
    choke_group.up.heuristics choke_group.up.max choke_group.up.max.unlimited choke_group.up.queued
    choke_group.up.rate choke_group.up.total choke_group.up.unchoked convert.date convert.elapsed_time
    convert.gm_date convert.gm_time convert.kb convert.mb convert.throttle convert.time convert.xb
    d.multicall.filtered dht.override_port dht.port dht.statistics dht.throttle.name download_list
    elapsed.greater elapsed.less equal false greater group.seeding.ratio.max group.seeding.ratio.min
    group.seeding.ratio.upload group.seeding.view if less math.add math.avg math.cnt math.div math.max
    math.med math.min math.mod math.mul math.sub network.block.ipv4 network.block.ipv4in6 network.block.ipv6
    network.block.outgoing network.http.current_open network.http.dns_cache_timeout
    network.http.max_cache_connections network.http.max_host_connections network.http.max_open
    network.http.max_total_connections network.http.ssl_verify_host network.http.ssl_verify_peer
    network.listen.backlog network.listen.port network.listen.port.random network.listen.port.range
    network.local_port network.local_port.ipv4 network.local_port.ipv6 network.max_open_files
    network.max_open_sockets network.open_files network.open_sockets network.port_open network.port_random
    network.port_range network.prefer.ipv6 network.receive_buffer.size network.rpc.use_jsonrpc
    network.rpc.use_xmlrpc network.scgi.dont_route network.scgi.gzip.min_size network.scgi.use_gzip
    network.send_buffer.size network.total_handshakes network.xmlrpc.size_limit not or
    pieces.hash.on_completion pieces.hash.queue_size pieces.memory.block_count pieces.memory.current
    pieces.memory.max pieces.memory.sync_queue pieces.preload.min_rate pieces.preload.min_size
    pieces.preload.type pieces.stats.total_size pieces.stats_not_preloaded pieces.stats_preloaded
    pieces.sync.always_safe pieces.sync.queue_size pieces.sync.safe_free_diskspace pieces.sync.timeout
    pieces.sync.timeout_safe protocol.choke_heuristics.down.leech protocol.choke_heuristics.down.seed
    protocol.choke_heuristics.up.leech protocol.choke_heuristics.up.seed protocol.connection.leech
    protocol.connection.seed protocol.encryption protocol.encryption.handshake protocol.encryption.stream
    protocol.pex ratio.max ratio.min ratio.upload session.name session.on_completion session.use_lock
    string.contains string.contains_i string.ends_with string.equals string.join string.length string.lpad
    string.lstrip string.map string.rpad string.rstrip string.split string.starts_with string.strip
    string.substr strings.choke_heuristics strings.choke_heuristics.download strings.choke_heuristics.upload
    strings.connection_type strings.encryption strings.encryption.handshake strings.encryption.stream
    strings.ip_filter strings.ip_tos strings.log_group strings.tracker_event strings.tracker_mode
    system.capabilities system.daemon system.file.allocate system.file.max_size system.file.split_size
    system.file.split_suffix system.files.advise_random system.files.advise_random.hashing
    system.files.closed_counter system.files.failed_counter system.files.opened_counter
    system.files.session.fdatasync system.getCapabilities system.library_version system.listMethods
    system.methodExist system.methodHelp system.methodSignature system.sockets.available_alloc
    system.sockets.files.max_alloc system.sockets.files.max_alloc.limit system.sockets.files.max_size
    system.sockets.files.min_alloc system.sockets.files.min_alloc.limit system.sockets.files.size
    system.sockets.generic.max_size system.sockets.generic.min_alloc system.sockets.generic.size
    system.sockets.http.max_alloc system.sockets.http.max_alloc.limit system.sockets.http.max_size
    system.sockets.http.min_alloc system.sockets.http.min_alloc.limit system.sockets.http.size
    system.sockets.internal.max_alloc system.sockets.internal.max_alloc.limit
    system.sockets.internal.max_size system.sockets.internal.min_alloc
    system.sockets.internal.min_alloc.limit system.sockets.internal.size system.sockets.max_size
    system.sockets.reserved_alloc system.sockets.rpc.max_alloc system.sockets.rpc.max_alloc.limit
    system.sockets.rpc.max_size system.sockets.rpc.min_alloc system.sockets.rpc.min_alloc.limit
    system.sockets.rpc.size system.sockets.size system.time system.time_seconds system.time_usec
    t.activity_time_last t.activity_time_next t.can_scrape t.failed_counter t.failed_time_last
    t.failed_time_next t.group t.id t.is_busy t.is_enabled t.is_extra_tracker t.is_open t.is_scrapable
    t.is_usable t.latest_event t.latest_new_peers t.latest_sum_peers t.min_interval t.multicall
    t.normal_interval t.scrape_complete t.scrape_counter t.scrape_downloaded t.scrape_incomplete
    t.scrape_time_last t.success_counter t.success_time_last t.success_time_next t.type t.url
    throttle.down.max throttle.down.rate throttle.global_down.max_rate throttle.global_up.max_rate
    throttle.max_downloads throttle.max_downloads.div throttle.max_downloads.global
    throttle.max_peers.normal throttle.max_peers.seed throttle.max_unchoked_downloads
    throttle.max_unchoked_uploads throttle.max_uploads throttle.max_uploads.div throttle.max_uploads.global
    throttle.min_downloads throttle.min_peers.normal throttle.min_peers.seed throttle.min_uploads
    throttle.unchoked_downloads throttle.unchoked_uploads throttle.up.max throttle.up.rate
    trackers.delay_scrape trackers.numwant trackers.use_udp value view.list view.size view.size_not_visible
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'mobile', 'arr'], words(`
    d.custom1.set d.erase d.views.push_back_unique
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'readonly', 'mobile'], words(`
    d.base_filename.as_binary d.base_filename.base64 d.base_filename.base64_as_binary d.base_filename.hex
    d.base_filename.or_as_binary d.base_filename.or_base64 d.base_path.as_binary d.base_path.base64
    d.base_path.base64_as_binary d.base_path.hex d.base_path.or_as_binary d.base_path.or_base64
    d.base_path.realpath.or_empty d.base_path.realpath.or_throw d.directory.realpath.or_empty
    d.directory.realpath.or_throw d.loaded_file d.loaded_file.realpath.or_empty
    d.loaded_file.realpath.or_throw d.tied_to_file d.tied_to_file.realpath.or_empty
    d.tied_to_file.realpath.or_throw directory.default directory.default.realpath.or_empty
    directory.default.realpath.or_throw f.completed_chunks f.frozen_path f.frozen_path.as_binary
    f.frozen_path.base64 f.frozen_path.hex f.frozen_path.or_as_binary f.frozen_path.or_base64
    f.frozen_path.realpath.or_empty f.frozen_path.realpath.or_throw f.is_create_queued f.is_created
    f.is_open f.is_resize_queued f.last_touched f.match_depth_next f.match_depth_prev f.offset
    f.path_components f.path_components.as_binary f.path_components.base64
    f.path_components.base64_as_binary f.path_components.hex f.path_components.or_as_binary
    f.path_components.or_base64 f.path_depth f.prioritize_first f.prioritize_last f.priority f.range_first
    f.range_second f.size_chunks fi.filename_last fi.is_file magnet.path network.bind_address.ipv4
    network.bind_address.ipv6 network.http.cacert network.http.capath network.http.proxy_address
    network.local_address network.local_address.ipv4 network.local_address.ipv6 network.proxy.global
    network.proxy.http network.proxy_address p.address p.banned p.client_version p.completed_percent
    p.down_rate p.down_total p.id p.id_html p.is_encrypted p.is_incoming p.is_obfuscated p.is_preferred
    p.is_snubbed p.is_unwanted p.multicall p.options_str p.peer_rate p.peer_total p.port p.snubbed p.up_rate
    p.up_total session.path session.path.realpath.or_empty session.path.realpath.or_throw system.pid
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant', 'mobile'], words(`
    d.check_hash d.close d.custom5.set d.delete_tied d.open d.start d.stop f.priority.set
    network.xmlrpc.size_limit.set
  `)],
  [['standard', 'flood', 'rutorrent', 'mobile'], words(`
    throttle.global_down.max_rate.set throttle.global_up.max_rate.set
  `)],
  [['standard', 'flood', 'rutorrent', 'tenant'], words(`
    d.accepting_seeders.disable d.accepting_seeders.enable d.close.directly d.connection_current.set
    d.connection_seed.set d.custom.set d.custom2.set d.custom3.set d.custom4.set d.directory.set
    d.directory_base.set d.disconnect.seeders d.down.choke_heuristics.set d.down.sequential.set
    d.downloads_max.set d.downloads_min.set d.group.set d.hashing_failed.set d.max_file_size.set
    d.message.set d.pause d.peer_exchange.set d.peers_max.set d.peers_min.set d.priority.set d.resume
    d.save_full_session d.save_resume d.throttle_name.set d.tied_to_file.set d.tracker.insert
    d.tracker.send_scrape d.tracker_announce d.tracker_announce.force d.tracker_numwant.set d.try_close
    d.try_start d.try_stop d.up.choke_heuristics.set d.update_priorities d.uploads_max.set
    d.uploads_min.set d.views.push_back d.views.remove f.prioritize_first.disable
    f.prioritize_first.enable f.prioritize_last.disable f.prioritize_last.enable load.raw_start_verbose
    load.raw_verbose load.start_throw load.start_verbose load.throw load.verbose p.banned.set
    p.disconnect p.disconnect_delayed p.snubbed.set t.disable t.enable t.is_enabled.set
    view.set_not_visible view.set_visible
  `)],
  [['standard', 'flood', 'rutorrent'], words(`
    pieces.hash.on_completion.set throttle.global_down.max_rate.set_kb
    throttle.global_up.max_rate.set_kb throttle.max_downloads.div.set throttle.max_downloads.global.set
    throttle.max_downloads.set throttle.max_peers.normal.set throttle.max_peers.seed.set
    throttle.max_uploads.div.set throttle.max_uploads.global.set throttle.max_uploads.set
    throttle.min_downloads.set throttle.min_peers.normal.set throttle.min_peers.seed.set
    throttle.min_uploads.set trackers.numwant.set
  `)],
  [[], words(`
    add_peer argument.0 argument.1 argument.2 argument.3 bind catch check_hash
    choke_group.all.down.update_balance choke_group.all.up.update_balance choke_group.down.heuristics.set
    choke_group.down.max.set choke_group.insert choke_group.tracker.mode.set choke_group.up.heuristics.set
    choke_group.up.max.set close_low_diskspace close_low_diskspace.normal close_untied compare
    connection_leech connection_seed d.complete.set d.connection_leech.set d.create_link d.delete_link
    d.down.choke_heuristics.leech.set d.down.choke_heuristics.seed.set d.hashing.set d.ignore_commands.set
    d.loaded_file.set d.mode.set d.state.set d.state_changed.set d.state_counter.set
    d.timestamp.finished.set d.timestamp.finished.set_if_z d.timestamp.started.set
    d.timestamp.started.set_if_z d.up.choke_heuristics.leech.set d.up.choke_heuristics.seed.set dht
    dht.add_node dht.mode.set dht.override_port.set dht.port.set dht.throttle.name.set dht_port directory
    directory.default.set directory.watch.added directory.watch.ready download_rate encoding.add
    encoding_list encryption enum.log_group event.download.closed event.download.erased
    event.download.finished event.download.hash_done event.download.hash_failed
    event.download.hash_final_failed event.download.hash_queued event.download.hash_removed
    event.download.inserted event.download.inserted_new event.download.inserted_session
    event.download.opened event.download.paused event.download.resumed event.system.shutdown
    event.system.startup_done event.view.hide event.view.show execute execute.capture
    execute.capture_nothrow execute.nothrow execute.nothrow.bg execute.raw execute.raw.bg
    execute.raw_nothrow execute.raw_nothrow.bg execute.throw execute.throw.bg execute2 f.set_create_queued
    f.set_resize_queued f.unset_create_queued f.unset_resize_queued file.append file.prioritize_toc
    file.prioritize_toc.first file.prioritize_toc.first.push_back file.prioritize_toc.first.set
    file.prioritize_toc.last file.prioritize_toc.last.push_back file.prioritize_toc.last.set
    file.prioritize_toc.set group.insert group.insert_persistent_view group.seeding.ratio.command
    group.seeding.ratio.disable group.seeding.ratio.enable group.seeding.ratio.max.set
    group.seeding.ratio.min.set group.seeding.ratio.upload.set group.seeding.view.set
    group2.seeding.ratio.max group2.seeding.ratio.max.set group2.seeding.ratio.min
    group2.seeding.ratio.min.set group2.seeding.ratio.upload group2.seeding.ratio.upload.set
    group2.seeding.view group2.seeding.view.set import ip ip_tables.add_address ip_tables.get
    ip_tables.insert_table ip_tables.size_data ipv4_filter.add_address ipv4_filter.dump ipv4_filter.get
    ipv4_filter.load ipv4_filter.size_data key_layout keys.layout keys.layout.set log.add_output
    log.append_file log.append_file.flush log.append_gz_file log.close log.execute log.open_file
    log.open_file.flush log.open_file_pid log.open_gz_file log.open_gz_file_pid log.print log.rpc
    log.vmmap.dump log.xmlrpc magnet.path.set match max_downloads max_downloads_div max_downloads_global
    max_memory_usage max_peers max_peers_seed max_uploads max_uploads_div max_uploads_global method.const
    method.const.enable method.erase method.get method.has_key method.insert method.insert.bool
    method.insert.c_simple method.insert.list method.insert.s_c_simple method.insert.simple
    method.insert.string method.insert.value method.list_keys method.redirect method.rlookup
    method.rlookup.clear method.set method.set_key method.use_deprecated method.use_deprecated.set
    method.use_intermediate method.use_intermediate.set min_downloads min_peers min_peers_seed min_uploads
    network.bind_address.ipv4.set network.bind_address.ipv6.set network.bind_address.set
    network.block.ipv4.set network.block.ipv4in6.set network.block.ipv6.set network.block.outgoing.set
    network.http.cacert.set network.http.capath.set network.http.dns_cache_timeout.set
    network.http.max_cache_connections.set network.http.max_host_connections.set network.http.max_open.set
    network.http.max_total_connections.set network.http.proxy_address.set network.http.ssl_verify_host.set
    network.http.ssl_verify_peer.set network.listen.backlog.set network.listen.port.random.set
    network.listen.port.range.set network.listen.port.set network.local_address.ipv4.set
    network.local_address.ipv6.set network.local_address.set network.max_open_files.set
    network.max_open_sockets.set network.port_open.set network.port_random.set network.port_range.set
    network.prefer.ipv6.set network.proxy.global.set network.proxy.http.set network.proxy_address.set
    network.receive_buffer.size.set network.rpc.use_jsonrpc.set network.rpc.use_xmlrpc.set
    network.scgi.dont_route.set network.scgi.gzip.min_size.set network.scgi.open_local
    network.scgi.open_port network.scgi.open_systemd network.scgi.use_gzip.set network.send_buffer.size.set
    network.tos.set network.xmlrpc.dialect.set on_ratio p.call_target pieces.memory.max.set
    pieces.preload.min_rate.set pieces.preload.min_size.set pieces.preload.type.set
    pieces.sync.always_safe.set pieces.sync.timeout.set pieces.sync.timeout_safe.set port_random port_range
    print protocol.choke_heuristics.down.leech.set protocol.choke_heuristics.down.seed.set
    protocol.choke_heuristics.up.leech.set protocol.choke_heuristics.up.seed.set
    protocol.connection.leech.set protocol.connection.seed.set protocol.encryption.set protocol.pex.set
    proxy_address ratio.disable ratio.enable ratio.max.set ratio.min.set ratio.upload.set remove_untied
    scgi_local scgi_port schedule schedule.remove schedule2 schedule_remove schedule_remove2
    scheduler.max_active scheduler.max_active.set scheduler.simple.added scheduler.simple.removed
    scheduler.simple.update session session.name.set session.on_completion.set session.path.set session.save
    session.use_lock.set start_tied stop_untied system.cwd system.cwd.set system.daemon.set system.env
    system.file.allocate.set system.file.max_size.set system.file.split_size.set
    system.file.split_suffix.set system.file_status_cache.prune system.file_status_cache.size
    system.files.advise_random.hashing.set system.files.advise_random.set system.files.session.fdatasync.set
    system.shutdown system.shutdown.normal system.shutdown.quick system.sockets.adjust_alloc
    system.sockets.files.max_alloc.set system.sockets.files.min_alloc.set system.sockets.http.max_alloc.set
    system.sockets.http.min_alloc.set system.sockets.internal.max_alloc.set
    system.sockets.internal.min_alloc.set system.sockets.max_size.set system.sockets.rpc.max_alloc.set
    system.sockets.rpc.min_alloc.set system.umask.set throttle.down throttle.ip
    throttle.max_downloads.div._val throttle.max_downloads.div._val.set throttle.max_downloads.global._val
    throttle.max_downloads.global._val.set throttle.max_uploads.div._val throttle.max_uploads.div._val.set
    throttle.max_uploads.global._val throttle.max_uploads.global._val.set throttle.up to_date
    to_elapsed_time to_gm_date to_gm_time to_kb to_mb to_throttle to_time to_xb torrent_list_layout
    trackers.delay_scrape.set trackers.disable trackers.enable trackers.use_udp.set try try_import
    ui.color.alarm ui.color.alarm.set ui.color.complete ui.color.complete.set ui.color.even
    ui.color.even.set ui.color.focus ui.color.focus.set ui.color.footer ui.color.footer.set
    ui.color.incomplete ui.color.incomplete.set ui.color.info ui.color.info.set ui.color.label
    ui.color.label.set ui.color.leeching ui.color.leeching.set ui.color.odd ui.color.odd.set ui.color.queued
    ui.color.queued.set ui.color.seeding ui.color.seeding.set ui.color.stopped ui.color.stopped.set
    ui.color.title ui.color.title.set ui.current_view ui.current_view.set ui.focus.page_size
    ui.focus.page_size.set ui.input.history.clear ui.input.history.size ui.input.history.size.set
    ui.keymap.style ui.keymap.style.set ui.status.throttle.down.set ui.status.throttle.up.set
    ui.throttle.global.step.large ui.throttle.global.step.large.set ui.throttle.global.step.medium
    ui.throttle.global.step.medium.set ui.throttle.global.step.small ui.throttle.global.step.small.set
    ui.torrent_list.layout ui.torrent_list.layout.set ui.unfocus_download upload_rate view.add
    view.event_added view.event_removed view.filter view.filter.temp view.filter.temp.excluded
    view.filter.temp.excluded.set view.filter.temp.log view.filter.temp.log.set view.filter_all
    view.filter_download view.filter_on view.persistent view.set view.sort view.sort_current view.sort_new
  `)],
];

/** Each classified name with the policies that allow it. */
export const ALLOWED_BY: ReadonlyMap<string, ReadonlySet<ClassifiedPolicy>> = new Map(
  VERDICT_GROUPS.flatMap(([allowedBy, names]) => names.map((name) => [name, new Set(allowedBy)] as const)),
);
