/*
 * rtorrent's private command names: registered without CommandMap::flag_public_rpc, so XML-RPC
 * answers "not defined" at the top level, while JSON-RPC on 0.15.2 to 0.16.20 runs them anyway
 * (src/rpc/jsonrpc.cc jsonrpc_call_command looks the name up without checking the flag; master
 * 3ae91b65, after 0.16.20, added the check). Project data; regenerate it from the tag's sources
 * rather than editing by hand.
 *
 * Derived from rakshasa/rtorrent v0.16.20 (the vendored release sources) by collecting the first
 * argument of every registration that leaves the flag out:
 *  - CMD_ANY_P / CMD2_ANY_P, CMD2_DL_VALUE_P, CMD2_DL_STRING_P (CMD2_A_FUNCTION_PRIVATE,
 *    src/command_helpers.h:37-39): argument.0-3 (src/command_local.cc:339-342);
 *  - CMD_REDIRECT_NO_EXPORT and CMD2_REDIRECT_STR_NO_EXPORT (create_redirect without the flag, which
 *    a redirect never inherits from its target, src/rpc/command_map.cc:68): system.shutdown
 *    (src/command_local.cc:237), port_range, scgi_port, scgi_local (src/main.cc:347-349);
 *  - the setters CMD2_DL_VAR_VALUE and CMD2_DL_VAR_STRING add as "<key>.set", and CMD2_DL_TIMESTAMP
 *    as "<key>.set" and "<key>.set_if_z" (src/command_download.cc:604-639, used at 749-798); their
 *    *_PUBLIC variants (d.custom1-5, d.tied_to_file, d.ignore_commands) are public.
 * Left out: methods a configuration declares with method.insert "private" (their names are the
 * operator's, src/command_dynamic.cc:153-154).
 *
 * Other releases, by the same extraction over their tags:
 *  - 0.16.2 to 0.16.18 have 22 of these 25: port_range, scgi_port and scgi_local were public
 *    redirects there, so XML-RPC reached them too.
 *  - 0.9.8 (no JSON-RPC yet) to 0.16.1 have the same argument.*, d.*.set and system.shutdown names.
 *    Under a non-default method.use_intermediate they also hide redirects: 0.9.8 to 0.15.3 execute,
 *    schedule and schedule_remove (0.9.8 src/main.cc:436-443; public commands in 0.16.20), and the
 *    ones group.insert makes for each ratio group, group.<name>.* up to 0.16.0, group2.<name>.* in
 *    0.16.1.
 */

const words = (text: string): readonly string[] => text.split(/\s+/).filter((word) => word !== '');

export const PRIVATE_IN_0_16_20: readonly string[] = words(`
  argument.0 argument.1 argument.2 argument.3
  d.complete.set d.connection_leech.set d.connection_seed.set d.down.choke_heuristics.leech.set
  d.down.choke_heuristics.seed.set d.hashing.set d.loaded_file.set d.mode.set d.state.set
  d.state_changed.set d.state_counter.set d.timestamp.finished.set d.timestamp.finished.set_if_z
  d.timestamp.started.set d.timestamp.started.set_if_z d.up.choke_heuristics.leech.set
  d.up.choke_heuristics.seed.set
  port_range scgi_local scgi_port system.shutdown
`);
