import {
  FROM_0_16_20_LISTMETHODS,
  FROM_0_9_8_LISTMETHODS,
  FROM_JESEC,
  FROM_MASTER_MACROS,
  RTORRENT_0_9_8,
  RTORRENT_MASTER,
} from './command-names.data.js';

/**
 * Every command name rtorrent 0.9.8, 0.16.20, master or jesec's fork registers, plus xmlrpc-c's
 * built-in system.* methods. Policy configuration may only name these: a typo such as "d.nmae" must
 * stop the gateway at start-up instead of silently allowing nothing.
 *
 * rtorrent's CommandMap is a std::map with exact, case-sensitive lookup
 * (src/rpc/command_map.cc:95-112), so membership here is exact too.
 */
export const KNOWN_COMMANDS: ReadonlySet<string> = new Set([
  ...RTORRENT_0_9_8,
  ...RTORRENT_MASTER,
  ...FROM_0_9_8_LISTMETHODS,
  ...FROM_0_16_20_LISTMETHODS,
  ...FROM_MASTER_MACROS,
  ...FROM_JESEC,
]);

export function isKnownCommand(name: string): boolean {
  return KNOWN_COMMANDS.has(name);
}

/**
 * Methods that xmlrpc-c itself answers (system_method.c). They take no target parameter and are never
 * reachable from a command string, because they are not in rtorrent's CommandMap.
 */
export const XMLRPC_BUILTINS: ReadonlySet<string> = new Set([
  'system.multicall',
  'system.listMethods',
  'system.methodExist',
  'system.methodHelp',
  'system.methodSignature',
  'system.capabilities',
  'system.getCapabilities',
]);

/**
 * Redirects that rtorrent 0.9.8 registers with flag_no_target (CMD2_REDIRECT_GENERIC,
 * v0.9.8:src/main.cc:363-443): over XML-RPC their first parameter is an argument, not a target
 * (v0.9.8:src/rpc/xmlrpc.cc:483-484). On master the same names take a target, so both readings exist.
 */
export const NO_TARGET_IN_0_9_8: ReadonlySet<string> = new Set([
  'connection_leech', 'connection_seed', 'dht', 'dht_port', 'directory', 'download_rate', 'encoding_list',
  'encryption', 'execute', 'max_memory_usage', 'ratio.disable', 'ratio.enable', 'ratio.max', 'ratio.max.set',
  'ratio.min', 'ratio.min.set', 'ratio.upload', 'ratio.upload.set', 'schedule', 'schedule_remove', 'session',
  'to_date', 'to_elapsed_time', 'to_gm_date', 'to_gm_time', 'to_kb', 'to_mb', 'to_throttle', 'to_time', 'to_xb',
  'upload_rate',
]);

/** Whether a call's first parameter is its target on every release (not an xmlrpc-c method, not a 0.9.8 no-target redirect). */
export function takesTarget(name: string): boolean {
  return !XMLRPC_BUILTINS.has(name) && !NO_TARGET_IN_0_9_8.has(name);
}
