/**
 * What an allowed call may cost rtorrent, estimated before it is forwarded. rtorrent builds a whole
 * answer on its main thread (the one that also moves the torrents) before sending a byte, so the
 * estimate counts the values it would compute: rows × columns, where a multicall's rows are the
 * torrents of a view or the files, trackers or peers of one torrent. The sizes of those lists are
 * not in the request; the estimate keeps them as named factors and call-decision.ts multiplies them
 * out with what rtorrent last reported (src/upstream/shape.ts).
 *
 * A cell is about 32 bytes of answer and about a microsecond of rtorrent's time (measured on 0.9.8,
 * whose time per value follows the value's size): a number is one cell, a hash two, a name or path
 * four. Values that grow with the data (a torrent's bitfield, the torrent list itself, echoed
 * literal text) count as many cells as they are large.
 *
 * Besides the estimate, some shapes are refused outright because their cost multiplies per nesting
 * level or grows exponentially: a multicall inside a multicall row (the answer grows as rows^levels;
 * 0.9.8 exits with "Internal error in XMLRPC" on one such 165 KB call), glob patterns with many
 * wildcards (0.9.8's rak::regex keeps every partial match: 8 '*' took 5.8 s on a 34-character
 * name), std::regex (match) and string.replace (exponential growth on master).
 */
import { type CsObject, parseCommandString, type ParseResult } from './command-string.js';
import { CostEstimate, type FanOut } from './cost-estimate.js';
import { EVALUATORS } from './evaluators.js';

/** Bytes of literal text per cell: a row that echoes a long literal costs in proportion. */
const BYTES_PER_CELL = 32;

/** The multicalls whose rows run once per torrent of a view. */
const TORRENT_MULTICALLS: ReadonlySet<string> = new Set(['d.multicall2', 'd.multicall', 'd.multicall.filtered']);
const TORRENT_ROWS: readonly FanOut[] = ['torrents'];

/** The multicalls whose rows run once per file, tracker or peer of one torrent, and their pattern argument. */
const PER_TORRENT_MULTICALLS: ReadonlyMap<string, FanOut> = new Map([
  ['f.multicall', 'files'],
  ['t.multicall', 'trackers'],
  ['p.multicall', 'peers'],
]);

export const ROW_MULTICALL_NAMES: readonly string[] = [...PER_TORRENT_MULTICALLS.keys()];

/**
 * Values whose size grows with the data rather than with the request, in cells per unit of their
 * fan-out: a bitfield is one hex digit per four pieces (v0.9.8:src/command_download.cc), chunks_seen
 * two per piece, the torrent list one 40-character hash per torrent, a padded string up to 16 KiB
 * (master src/command_string.cc max_string_pad_size), rtorrent's ~700 method names.
 */
const LARGE_VALUES: ReadonlyMap<string, { readonly per?: FanOut; readonly cells: number }> = new Map([
  ['d.bitfield', { per: 'chunks', cells: 1 / 128 }],
  ['d.chunks_seen', { per: 'chunks', cells: 1 / 16 }],
  ['download_list', { per: 'torrents', cells: 2 }],
  ['system.listMethods', { cells: 1000 }],
  ['string.lpad', { cells: 16384 / BYTES_PER_CELL }],
  ['string.rpad', { cells: 16384 / BYTES_PER_CELL }],
]);

/**
 * Setters whose text rtorrent keeps, saves in its session and sends back in every list that reads
 * it: their size is bounded, or one user's labels would make everyone's lists large.
 */
const STORED_TEXT: ReadonlySet<string> = new Set([
  'd.custom.set', 'd.custom1.set', 'd.custom2.set', 'd.custom3.set', 'd.custom4.set', 'd.custom5.set', 'd.message.set', 'd.tracker.insert',
]);

/**
 * Getters whose value is text, in cells: rtorrent's time per value follows its size (on 0.9.8 about
 * 1 µs for a number, 2.3 µs for a 40-character hash, 3 µs for a path), so a column of paths counts
 * as four of numbers. Encoded variants (.hex, .base64…) and realpath variants count alike.
 */
const TEXT_VALUE =
  /^(?:d\.(?:name|base_path|base_filename|directory|directory_base|loaded_file|tied_to_file|custom[1-5]?|custom_throw|custom\.if_z|custom\.items|custom\.keys|message|views|throttle_name)|f\.(?:path|path_components|frozen_path)|fi\.filename_last|t\.url|p\.(?:address|client_version|options_str)|session\.path|directory\.default|system\.hostname)(?:\.(?:hex|base64|as_binary|base64_as_binary|or_as_binary|or_base64|realpath\.or_empty|realpath\.or_throw))?$/;
const HASH_VALUE: ReadonlySet<string> = new Set(['d.hash', 'd.local_id', 'd.local_id_html', 'p.id', 'p.id_html']);

/** Cells for the value of one command: text and hashes count as more than a number. */
function valueCells(name: string): number {
  if (HASH_VALUE.has(name)) return 2;
  return TEXT_VALUE.test(name) ? 4 : 1;
}

/** Commands refused for every policy but full whatever their arguments, and why. */
const UNBOUNDED: ReadonlyMap<string, string> = new Map([
  ['match', 'match compiles its pattern with std::regex, whose matching time can grow exponentially with the pattern'],
  ['string.replace', 'string.replace applies each {old, new} pair to the result of the previous one, so the text can double with every pair'],
]);

export interface CostRules {
  readonly policy: string;
  /** Per-torrent multicalls a d.multicall row may call (Flood's and ruTorrent's tracker columns). */
  readonly rowMulticalls: ReadonlySet<string>;
  /** Where rowMulticalls is set, for the refusal message. */
  readonly rowMulticallsKey: string;
  readonly maxPatternLength: number;
  readonly maxPatternWildcards: number;
  /** Largest text a setter may store (labels, messages, tracker URLs). */
  readonly maxStoredValueBytes: number;
  /** The command-string parser; the policy's memo of it, which the scanner has just filled. */
  readonly parse?: (text: string) => ParseResult;
}

export interface CostRefusal {
  readonly method: string;
  readonly reason: string;
}

class Refused extends Error {
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The argument list a list-taking command sees: a single object is a one-element list. */
function argumentList(args: CsObject): readonly CsObject[] {
  return args.type === 'list' ? args.items : [args];
}

function literalBytes(object: CsObject): number {
  switch (object.type) {
    case 'string':
      return object.value.charCodeAt(0) === 36 /* $ */ ? 0 : Buffer.byteLength(object.value);
    case 'list':
      return object.items.reduce((sum, item) => sum + literalBytes(item), 0);
    case 'function':
      return 0;
  }
}

function countWildcards(pattern: string): number {
  let count = 0;
  for (let i = 0; i < pattern.length; i++) if (pattern.charCodeAt(i) === 42 /* * */) count++;
  return count;
}

class Estimator {
  constructor(
    private readonly rules: CostRules,
    readonly estimate: CostEstimate,
  ) {}

  /** `rows`: the lists the current command string runs once per item of, outermost first. */
  commandString(text: string, rows: readonly FanOut[], owner: string): void {
    const parsed = (this.rules.parse ?? parseCommandString)(text);
    // The policy check has read every string that reaches here; one it could not read never gets this far.
    if (!parsed.ok) throw new Refused(owner, `${owner} runs a command string that cannot be read: ${parsed.error}`);
    for (const command of parsed.commands) this.command(command.name, argumentList(command.args), rows);
  }

  /**
   * One call at the top level (or one system.multicall member). Its arguments are data, not
   * $-expanded, except at the positions the command evaluates.
   */
  call(name: string, args: readonly TopLevelArgument[]): void {
    this.refuseUnbounded(name);
    const rowsAt = this.evaluatedRows(name, args[0] === undefined ? undefined : { texts: flatStrings(args[0]) }, []);
    let data = 0;
    args.forEach((arg, index) => {
      if (rowsAt(index) === undefined) for (const text of flatStrings(arg)) data += Buffer.byteLength(text);
    });
    // Echoed text counts inside command strings only: a top-level argument is the caller's own bytes.
    this.value(name, [], 0, data);
    args.forEach((arg, index) => {
      const rows = rowsAt(index);
      if (rows !== undefined) for (const text of flatStrings(arg)) this.commandString(text, rows, name);
    });
  }

  private command(name: string, args: readonly CsObject[], rows: readonly FanOut[]): void {
    this.refuseUnbounded(name);
    const rowsAt = this.evaluatedRows(name, args[0], rows);
    // Literal text in data positions may come back in the answer (cat echoes it), once per row.
    let literal = 0;
    args.forEach((arg, index) => {
      if (rowsAt(index) === undefined) literal += literalBytes(arg);
    });
    this.value(name, rows, literal, literal);
    args.forEach((arg, index) => this.argument(arg, rows, rowsAt(index)));
  }

  private refuseUnbounded(name: string): void {
    const why = UNBOUNDED.get(name);
    if (why !== undefined) throw new Refused(name, `${why}; only the full policy may call it`);
  }

  /** The value of a command that runs once per item of `rows`, with the text it echoes and the text it stores. */
  private value(name: string, rows: readonly FanOut[], echoed: number, stored: number): void {
    if (STORED_TEXT.has(name)) this.stored(name, stored);
    this.estimate.add(rows, valueCells(name) + Math.ceil(echoed / BYTES_PER_CELL));
    const large = LARGE_VALUES.get(name);
    if (large !== undefined) this.estimate.add(large.per === undefined ? rows : [...rows, large.per], large.cells);
  }

  /**
   * For each argument position of `name`, the rows a command string there runs for, or undefined
   * for data. Refuses multicalls nested where their rows would multiply.
   */
  private evaluatedRows(name: string, first: CsObject | StringList | undefined, rows: readonly FanOut[]): (index: number) => readonly FanOut[] | undefined {
    if (TORRENT_MULTICALLS.has(name)) {
      if (rows.length > 0) throw this.nested(name, rows);
      // 0 = view; then the filter (d.multicall.filtered) and the rows, once per torrent.
      return (index) => (index === 0 ? undefined : TORRENT_ROWS);
    }
    const fanOut = PER_TORRENT_MULTICALLS.get(name);
    if (fanOut !== undefined) {
      const inner = this.perTorrentRows(name, fanOut, rows);
      if (name === 'f.multicall' && first !== undefined) this.estimate.add(inner, this.patterns(name, first));
      return (index) => (index === 0 ? undefined : inner);
    }
    const ranges = EVALUATORS.get(name);
    if (ranges === undefined) return () => undefined;
    return (index) => (ranges.some((range) => range.kind === 'code' && index >= range.from && index <= (range.to ?? Infinity)) ? rows : undefined);
  }

  /**
   * $… strings run while the arguments are parsed, with the command's own rows; plain strings at an
   * evaluated position and function objects run when the command calls them, with its inner rows.
   */
  private argument(arg: CsObject, rows: readonly FanOut[], inner: readonly FanOut[] | undefined): void {
    switch (arg.type) {
      case 'string':
        if (arg.value.charCodeAt(0) === 36 /* $ */) this.commandString(arg.value.slice(1), rows, arg.value);
        else if (inner !== undefined) this.commandString(arg.value, inner, arg.value);
        return;
      case 'list':
        for (const item of arg.items) this.argument(item, rows, inner);
        return;
      case 'function':
        this.command(arg.name, arg.args ?? [], inner ?? rows);
    }
  }

  /** The rows of a per-torrent multicall; inside a d.multicall row only where the policy allows it. */
  private perTorrentRows(name: string, fanOut: FanOut, rows: readonly FanOut[]): readonly FanOut[] {
    if (rows.length > 0) {
      const inTorrentRow = rows.length === 1 && rows[0] === 'torrents';
      if (!inTorrentRow) throw this.nested(name, rows);
      if (!this.rules.rowMulticalls.has(name)) {
        throw new Refused(
          name,
          `${name} inside a d.multicall row multiplies the answer by every torrent's ${fanOut}; policy "${this.rules.policy}" does not allow it there (${this.rules.rowMulticallsKey})`,
        );
      }
    }
    return [...rows, fanOut];
  }

  private stored(name: string, bytes: number): void {
    if (bytes <= this.rules.maxStoredValueBytes) return;
    throw new Refused(
      name,
      `${name} would store ${bytes} bytes, which rtorrent keeps, saves and sends back in every list that reads them; ` +
        `the gateway forwards at most ${this.rules.maxStoredValueBytes} (limits.max_stored_value_bytes)`,
    );
  }

  private nested(name: string, rows: readonly FanOut[]): Refused {
    return new Refused(
      name,
      `${name} inside a multicall row runs once per ${rows.map((row) => row.replace(/s$/, '')).join(' per ')}, so the answer grows with the product of the lists; only the full policy may nest multicalls`,
    );
  }

  /** Checks the pattern argument of f.multicall (a string or a list of them); returns how many patterns each file is matched against. */
  private patterns(owner: string, pattern: CsObject | StringList): number {
    const texts: string[] = [];
    const collect = (object: CsObject | StringList): void => {
      if ('texts' in object) texts.push(...object.texts);
      else if (object.type === 'string') {
        if (object.value.charCodeAt(0) === 36 /* $ */) {
          throw new Refused(owner, `${owner} pattern "${object.value.slice(0, 40)}" is only known at run time, so its cost cannot be checked`);
        }
        texts.push(object.value);
      } else if (object.type === 'list') object.items.forEach(collect);
      else throw new Refused(owner, `${owner} pattern is only known at run time, so its cost cannot be checked`);
    };
    collect(pattern);
    let used = 0;
    for (const text of texts) {
      // An empty pattern selects every file without matching (src/command_download.cc f_multicall).
      if (text === '') continue;
      used++;
      const shown = text.length > 40 ? `${text.slice(0, 39)}…` : text;
      if (text.length > this.rules.maxPatternLength) {
        throw new Refused(
          owner,
          `${owner} pattern "${shown}" is ${text.length} characters long; the gateway forwards patterns of at most ${this.rules.maxPatternLength} (limits.max_pattern_length)`,
        );
      }
      const wildcards = countWildcards(text);
      if (wildcards > this.rules.maxPatternWildcards) {
        throw new Refused(
          owner,
          `${owner} pattern "${shown}" has ${wildcards} '*'; rtorrent's file matcher takes time exponential in them, and the gateway forwards at most ${this.rules.maxPatternWildcards} (limits.max_pattern_wildcards)`,
        );
      }
    }
    return used;
  }
}

/** Plain text arguments, as they arrive at the top level of a call. */
interface StringList {
  readonly texts: readonly string[];
}

/** One top-level call's arguments after the target: strings, or lists of strings; anything else is null. */
export type TopLevelArgument = string | readonly TopLevelArgument[] | null;

function flatStrings(arg: TopLevelArgument): string[] {
  if (arg === null) return [];
  if (typeof arg === 'string') return [arg];
  return arg.flatMap(flatStrings);
}

/**
 * The cells of a call whose arguments cost nothing to look at, or undefined when they must be read:
 * most calls are a getter or a setter, one value and nothing to walk.
 */
export function plainCallCells(name: string): number | undefined {
  const special =
    TORRENT_MULTICALLS.has(name) || PER_TORRENT_MULTICALLS.has(name) || EVALUATORS.has(name) || UNBOUNDED.has(name) || STORED_TEXT.has(name) || LARGE_VALUES.has(name);
  return special ? undefined : valueCells(name);
}

/**
 * The cost of one top-level call (or one system.multicall member), read with the argument list
 * rtorrent's command would see, added to `into`. Throws nothing: a shape that is refused comes back
 * as a refusal.
 */
export function estimateCall(
  rules: CostRules,
  name: string,
  args: readonly TopLevelArgument[],
  into: CostEstimate = new CostEstimate(),
): CostEstimate | CostRefusal {
  const plain = plainCallCells(name);
  if (plain !== undefined) {
    into.add([], plain);
    return into;
  }
  try {
    new Estimator(rules, into).call(name, args);
  } catch (error) {
    if (error instanceof Refused) return { method: error.method, reason: error.reason };
    throw error;
  }
  return into;
}

export function isCostRefusal(result: CostEstimate | CostRefusal): result is CostRefusal {
  return !(result instanceof CostEstimate);
}
