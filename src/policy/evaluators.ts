/**
 * Which argument positions rtorrent evaluates, per command. Positions count after the target, the way
 * the reference (§3) counts them; inside a command string there is no target and the same numbers
 * index the argument list directly.
 *
 *  - 'code': a command string (or a list of them, or a function object) that the command parses and
 *    runs, now or later. Single-mode (parse_command) and multi-mode (call_object) positions are treated
 *    alike, because the scanner always reads strings in multi-mode, which runs a superset.
 *  - 'name': a command name that the command calls directly.
 *
 * Every other position is data: rtorrent hands it to the handler unchanged (src/rpc/xmlrpc_c.cc:374-415).
 */
export type EvaluatedKind = 'code' | 'name';

export interface EvaluatedRange {
  readonly kind: EvaluatedKind;
  readonly from: number;
  /** inclusive; open-ended when absent */
  readonly to?: number;
}

const code = (from: number, to?: number): EvaluatedRange => (to === undefined ? { kind: 'code', from } : { kind: 'code', from, to });
const name = (from: number, to: number): EvaluatedRange => ({ kind: 'name', from, to });

const table: Record<string, readonly EvaluatedRange[]> = {
  // 0 = view (data); 1.. = one command string per download (src/command_events.cc:225-268)
  'd.multicall2': [code(1)],
  'd.multicall': [code(1)],
  // 1 = filter, evaluated per download like the rows (src/command_events.cc:270-314)
  'd.multicall.filtered': [code(1)],
  // 0 = fnmatch pattern or ignored (data); 1.. = rows (src/command_download.cc:331-426)
  'f.multicall': [code(1)],
  't.multicall': [code(1)],
  'p.multicall': [code(1)],
  // 0 = hash, 1 = peer id, 2 = command name, 3.. = its arguments as data (src/command_download.cc:428-465)
  'p.call_target': [name(2, 2)],
  // condition and branches, a branch may be a list of command strings (src/command_ui.cc:475-545)
  branch: [code(0)],
  // each string element is a command string (src/command_ui.cc:191-235)
  and: [code(0)],
  or: [code(0)],
  // first and last argument; every position is scanned because the last one moves with the shape
  // (src/command_ui.cc:237-287)
  less: [code(0)],
  greater: [code(0)],
  equal: [code(0)],
  // 0 = sort order, 1.. = fields (src/command_ui.cc:288-340)
  compare: [code(1)],
  // 0 = text command, 1 = regex (src/command_ui.cc:342-384)
  match: [code(0, 0)],
  // call_object on every argument, walking lists and maps (src/command_ui.cc:142-151,
  // src/command_dynamic.cc:392-400)
  try: [code(0)],
  catch: [code(0)],
  // 0 key, 1 start, 2 interval, 3 = command run on every tick (src/rpc/command_scheduler.cc:53-103)
  schedule: [code(3)],
  schedule2: [code(3)],
  'schedule.if_absent': [code(3)],
  // method bodies (src/command_dynamic.cc:36-96,265-379)
  'method.insert': [code(2)],
  'method.insert.simple': [code(1)],
  'method.insert.c_simple': [code(1)],
  'method.insert.s_c_simple': [code(1)],
  'method.set': [code(1)],
  'method.set_key': [code(2)],
  // 0 = new alias, 1 = the command it points at (src/command_dynamic.cc:319-330); the target is
  // checked first, and the alias must be an allowed name too so that no allowed name is re-pointed
  'method.redirect': [name(1, 1), name(0, 0)],
  // 1 = filter or sort command stored on the view (src/command_ui.cc:44-51,818-829)
  'view.filter': [code(1)],
  'view.filter.temp': [code(1)],
  'view.sort_new': [code(1)],
  'view.sort_current': [code(1)],
  'view.event_added': [code(1)],
  'view.event_removed': [code(1)],
  // 1 = command name called later with every new file's path (src/command_events.cc:316-353)
  'directory.watch.added': [name(1, 1)],
  'directory.watch.ready': [name(1, 1)],
};

/**
 * load.*: 0 = URI, local path or raw data; 1.. = commands run on the new download, for magnets only once
 * the metadata arrives (src/command_events.cc:149-165, src/core/download_factory.cc:206-214,328-329).
 */
export const LOAD_METHODS: ReadonlySet<string> = new Set([
  'load.normal', 'load.start', 'load.verbose', 'load.start_verbose',
  'load.raw', 'load.raw_start', 'load.raw_verbose', 'load.raw_start_verbose',
  'load.throw', 'load.start_throw',
]);

/** The load.* variants whose first argument is the torrent itself rather than a URI or path. */
export const RAW_LOAD_METHODS: ReadonlySet<string> = new Set([
  'load.raw', 'load.raw_start', 'load.raw_verbose', 'load.raw_start_verbose',
]);

for (const load of LOAD_METHODS) table[load] = [code(1)];

export const EVALUATORS: ReadonlyMap<string, readonly EvaluatedRange[]> = new Map(Object.entries(table));
