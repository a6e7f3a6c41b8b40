/**
 * A port of rtorrent's command-string grammar (src/rpc/parse.cc, src/rpc/parse_commands.cc at master
 * 3ae91b65; identical in 0.9.8 and jesec apart from the depth limit). It parses only; it never decides
 * what is allowed. Deciding is scan.ts's job.
 *
 * The port keeps rtorrent's own error points, so a string rtorrent would reject is rejected here too,
 * and it adds a few refusals of its own where rtorrent's behaviour is unsafe or locale-dependent.
 * Whatever this parser cannot read with certainty is an error, and an error means "refuse".
 */

export type CsObject =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'list'; readonly items: readonly CsObject[] }
  | {
      readonly type: 'function';
      readonly name: string;
      /** 1 = called while the arguments are parsed; 2 and 3 = passed on as a function object */
      readonly level: 1 | 2 | 3;
      readonly args: readonly CsObject[] | null;
    };

export interface CsCommand {
  readonly name: string;
  /** what rtorrent's parse_whole_list returns: one object, or a list when there are commas */
  readonly args: CsObject;
}

export type ParseResult =
  | { readonly ok: true; readonly commands: readonly CsCommand[] }
  | { readonly ok: false; readonly error: string };

/** Longer command strings are refused; real clients send a few dozen characters per string. */
export const MAX_COMMAND_STRING_LENGTH = 16384;
/** rtorrent master stops at 1024 (parse.cc:14,155); earlier versions overflow the stack (§6.15). */
export const MAX_OBJECT_NESTING = 32;
/** rtorrent keeps at most 127 characters of a command name (parse_commands.cc:74-85). */
const MAX_NAME_LENGTH = 127;

class CsSyntaxError extends Error {}

const enum Ch {
  Tab = 9,
  Newline = 10,
  VTab = 11,
  FormFeed = 12,
  Return = 13,
  Space = 32,
  Quote = 34,
  Hash = 35,
  ParenOpen = 40,
  ParenClose = 41,
  Comma = 44,
  Semicolon = 59,
  Equals = 61,
  Backslash = 92,
  BraceOpen = 123,
  BraceClose = 125,
  Del = 127,
}

/** Which characters end an unquoted string (parse.h:58-66). */
const enum Delim {
  /** parse_is_delim_command: ',' ';' or isspace */
  Command,
  /** parse_is_delim_block, inside {…}: ',' '}' only, so blanks and ';' belong to the string */
  Block,
  /** parse_is_delim_func, inside (…): ',' ')' only */
  Func,
}

function isDelim(c: number, delim: Delim): boolean {
  if (c === Ch.Comma) return true;
  switch (delim) {
    case Delim.Command:
      // std::isspace in the C locale; bytes above 0x7f never count, see decisions in docs/policies.md
      return c === Ch.Semicolon || c === Ch.Space || (c >= Ch.Tab && c <= Ch.Return);
    case Delim.Block:
      return c === Ch.BraceClose;
    case Delim.Func:
      return c === Ch.ParenClose;
  }
}

/** parse_is_space / command_map_is_space: only space and tab are skipped between tokens. */
function isBlank(c: number): boolean {
  return c === Ch.Space || c === Ch.Tab;
}

/** command_map_is_newline: what ends one command of a multi-command string. */
function isTerminator(c: number): boolean {
  return c === Ch.Newline || c === Ch.Semicolon || c === 0;
}

function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 95 || c === 46;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  private code(at: number): number {
    return this.s.charCodeAt(at);
  }

  private skipBlanks(): void {
    const s = this.s;
    while (this.pos < s.length && isBlank(s.charCodeAt(this.pos))) this.pos++;
  }

  /** parse_string (parse.cc:35-63): a backslash drops itself and keeps the next character literally. */
  private parseString(delim: Delim): string {
    const s = this.s;
    let out = '';
    if (this.pos >= s.length) return out;
    if (this.code(this.pos) === Ch.Quote) {
      this.pos++;
      let start = this.pos;
      while (this.pos < s.length) {
        const c = this.code(this.pos);
        if (c === Ch.Quote) {
          out += s.slice(start, this.pos);
          this.pos++;
          return out;
        }
        if (c === Ch.Backslash) {
          out += s.slice(start, this.pos);
          if (++this.pos === s.length) throw new CsSyntaxError('escape character at end of input');
          start = this.pos;
        }
        this.pos++;
      }
      throw new CsSyntaxError('missing closing quote');
    }
    let start = this.pos;
    while (this.pos < s.length) {
      const c = this.code(this.pos);
      if (isDelim(c, delim)) break;
      if (c === Ch.Backslash) {
        out += s.slice(start, this.pos);
        if (++this.pos === s.length) throw new CsSyntaxError('escape character at end of input');
        start = this.pos;
      }
      this.pos++;
    }
    return out + s.slice(start, this.pos);
  }

  /** parse_object (parse.cc:145-205) */
  private parseObject(delim: Delim, depth: number): CsObject {
    if (++depth > MAX_OBJECT_NESTING) throw new CsSyntaxError(`lists and functions nest deeper than ${MAX_OBJECT_NESTING} levels`);
    const s = this.s;
    const c = this.pos < s.length ? this.code(this.pos) : -1;

    if (c === Ch.BraceOpen) {
      this.pos++;
      const items = this.parseList(Delim.Block, depth);
      this.skipBlanks();
      if (this.pos >= s.length || this.code(this.pos) !== Ch.BraceClose) throw new CsSyntaxError("could not find closing '}'");
      this.pos++;
      return { type: 'list', items };
    }

    if (c === Ch.ParenOpen) {
      let level = 1;
      while (this.pos + 1 < s.length && this.code(this.pos + 1) === Ch.ParenOpen) {
        this.pos++;
        level++;
      }
      if (level > 3) throw new CsSyntaxError('more than 3 parentheses around a function');
      this.pos++;
      // The name is a full string: quotes and escapes are decoded, so ("execute.throw") and
      // (exe\cute.throw) both name execute.throw (§4.3 rule 4).
      const name = this.parseString(Delim.Func);
      this.skipBlanks();
      if (this.pos >= s.length || !isDelim(this.code(this.pos), Delim.Func)) throw new CsSyntaxError("could not find closing ')'");
      let args: CsObject[] | null = null;
      if (this.code(this.pos) === Ch.Comma) {
        this.pos++;
        args = this.parseList(Delim.Func, depth);
        this.skipBlanks();
      }
      let open = level;
      while (open !== 0 && this.pos < s.length && this.code(this.pos) === Ch.ParenClose) {
        this.pos++;
        open--;
      }
      if (open !== 0) throw new CsSyntaxError('parentheses mismatch');
      return { type: 'function', name, level: level as 1 | 2 | 3, args };
    }

    return { type: 'string', value: this.parseString(delim) };
  }

  /** parse_list (parse.cc:207-228) */
  private parseList(delim: Delim, depth: number): CsObject[] {
    const items: CsObject[] = [];
    for (;;) {
      this.skipBlanks();
      items.push(this.parseObject(delim, depth));
      this.skipBlanks();
      if (this.pos >= this.s.length || this.code(this.pos) !== Ch.Comma) return items;
      this.pos++;
    }
  }

  /** parse_whole_list (parse.cc:230-245): a single {…} argument is the argument list itself. */
  private parseWholeList(): CsObject {
    this.skipBlanks();
    const first = this.parseObject(Delim.Command, 0);
    this.skipBlanks();
    if (this.pos < this.s.length && this.code(this.pos) === Ch.Comma) {
      this.pos++;
      return { type: 'list', items: [first, ...this.parseList(Delim.Command, 0)] };
    }
    return first;
  }

  /** parse_command (parse_commands.cc:89-124); returns null at the end of the input. */
  parseCommand(): CsCommand | null {
    const s = this.s;
    this.skipBlanks();
    if (this.pos >= s.length) return null;
    const c = this.code(this.pos);
    // rtorrent returns on '#' without consuming it, and parse_command_multiple then loops forever on
    // the main thread (parse_commands.cc:93-94,130-136; §4.4). Never forward one.
    if (c === Ch.Hash) throw new CsSyntaxError("a command starts with '#', which rtorrent treats as a comment and can loop on");
    if (!isNameStart(c)) throw new CsSyntaxError('invalid start of command name');
    const start = this.pos;
    while (this.pos < s.length && isNameChar(this.code(this.pos))) this.pos++;
    if (this.pos - start > MAX_NAME_LENGTH) throw new CsSyntaxError('command name longer than 127 characters');
    const name = s.slice(start, this.pos);
    this.skipBlanks();
    if (this.pos >= s.length || this.code(this.pos) !== Ch.Equals) throw new CsSyntaxError(`could not find '=' in command '${name}'`);
    this.pos++;
    const args = this.parseWholeList();
    this.skipBlanks();
    if (this.pos < s.length) {
      if (!isTerminator(this.code(this.pos))) throw new CsSyntaxError('junk at end of input');
      this.pos++;
    }
    return { name, args };
  }
}

function unreadableCharacter(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= Ch.Space ? c === Ch.Del : c !== Ch.Tab && c !== Ch.Newline) {
      return `it contains the control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    }
  }
  return null;
}

/**
 * Parses a command string the way parse_command_multiple does: every command separated by ';',
 * newline or NUL. Positions that rtorrent reads in single mode (multicall rows, branch, $…) run only
 * the first command, so reading everything is a superset of what can run. Never throws.
 */
export function parseCommandString(text: string): ParseResult {
  if (text.length > MAX_COMMAND_STRING_LENGTH) {
    return { ok: false, error: `it is longer than ${MAX_COMMAND_STRING_LENGTH} characters` };
  }
  // NUL is a command terminator to rtorrent but some code paths stop at it; CR, VT and FF end unquoted
  // words in some contexts and not in others. No client sends them, so they are refused outright.
  const bad = unreadableCharacter(text);
  if (bad !== null) return { ok: false, error: bad };
  const parser = new Parser(text);
  const commands: CsCommand[] = [];
  try {
    for (;;) {
      const command = parser.parseCommand();
      if (command === null) break;
      commands.push(command);
    }
  } catch (error) {
    if (error instanceof CsSyntaxError) return { ok: false, error: `rtorrent cannot parse it: ${error.message} (at offset ${parser.pos})` };
    throw error;
  }
  return { ok: true, commands };
}

/**
 * A parser that remembers what it read: pollers send the same few command strings every few
 * seconds, and the policy check and the cost estimate read each of them. One per compiled policy;
 * short strings only, and forgotten all at once when full, so it stays small.
 */
export function rememberingParser(maxEntries = 1024, maxLength = 512): (text: string) => ParseResult {
  const known = new Map<string, ParseResult>();
  return (text) => {
    if (text.length > maxLength) return parseCommandString(text);
    let result = known.get(text);
    if (result === undefined) {
      if (known.size >= maxEntries) known.clear();
      result = parseCommandString(text);
      known.set(text, result);
    }
    return result;
  };
}
