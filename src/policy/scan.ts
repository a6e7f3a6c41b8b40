import { type CsCommand, type CsObject, parseCommandString, type ParseResult } from './command-string.js';
import { EVALUATORS, type EvaluatedRange } from './evaluators.js';

/**
 * Walks the commands of a command string and everything they can reach, and checks each reached
 * command name against a nested allowlist. What "reached" means follows rtorrent, erring on the side of
 * reaching more:
 *  - every command of the string, whatever the separator (parse_command_multiple);
 *  - every string whose decoded value starts with '$', anywhere in the arguments: rtorrent runs the
 *    top-level ones while parsing (parse_commands.cc:41-70) and callees such as branch run the ones in
 *    lists later, so all of them count;
 *  - every function object (…), ((…)), (((…))), at any depth: level 1 runs while parsing, the others
 *    run when a callee calls them (branch, and, or, schedule, method bodies...);
 *  - the evaluated positions of evaluator commands (evaluators.ts), one re-parse level deeper, which
 *    strips one level of escapes exactly as rtorrent does.
 */

export interface ScanRules {
  readonly policy: string;
  /** the allowlist for commands reached from a command string */
  isAllowed(name: string): boolean;
  /** commands whose arguments need checking beyond the name (download roots, tied file...) */
  hasArgumentRule(name: string): boolean;
  /** returns why the literal arguments are refused, or null */
  checkArguments(name: string, args: readonly string[]): string | null;
  /**
   * Load trailing commands: only literal `name=value[,value]` commands, no $…, (…), {…} and no
   * evaluators, because those run later with the admin's trust and must have a fixed shape (§5.4).
   */
  readonly literalOnly: boolean;
  /** The command-string parser; a policy passes its memo of parseCommandString. */
  readonly parse?: (text: string) => ParseResult;
  /**
   * Told of every command name the scan reaches, before it is judged; set only when a verdict is
   * being explained (trace.ts), so checking calls pays nothing for it.
   */
  readonly reached?: (command: string, how: Reach, origin: Origin, text: string) => void;
}

export interface Origin {
  /** the top-level method whose argument is scanned */
  readonly method: string;
  /** 1-based position after the target, as users count arguments */
  readonly argument: number;
}

export interface Finding {
  /** the offending command name (possibly nested) */
  readonly method: string;
  readonly reason: string;
}

/** Each $…, evaluated position or method body is one level; real clients use two at most. */
export const MAX_EVALUATION_DEPTH = 8;
const SNIPPET_LENGTH = 60;

function snippet(text: string): string {
  return text.length > SNIPPET_LENGTH ? `${text.slice(0, SNIPPET_LENGTH - 1)}…` : text;
}

type Where = 'command' | 'inline command' | 'function';
/** How a command string reaches a command: as one of its commands, a $… inline call, a (…) function, or by name. */
export type Reach = Where | 'name';

class Scanner {
  constructor(
    private readonly origin: Origin,
    private readonly rules: ScanRules,
  ) {}

  private refuse(method: string, shown: string, what: string): Finding {
    return {
      method,
      reason: `${this.origin.method} argument ${this.origin.argument} runs "${snippet(shown)}": ${what}`,
    };
  }

  private notAllowed(where: Where, name: string): string {
    return `${where} ${name} is not allowed in policy "${this.rules.policy}"`;
  }

  /** text is a command string; shown is how it appeared to the user (with its '$' when inline) */
  scan(text: string, shown: string, owner: string, inline: boolean, depth: number): Finding | null {
    if (depth > MAX_EVALUATION_DEPTH) {
      return this.refuse(owner, shown, `command strings nest deeper than ${MAX_EVALUATION_DEPTH} levels, which cannot be checked with certainty`);
    }
    const parsed = (this.rules.parse ?? parseCommandString)(text);
    if (!parsed.ok) return this.refuse(owner, shown, `the command string cannot be read with certainty: ${parsed.error}`);
    for (const command of parsed.commands) {
      const found = this.command(command, shown, inline ? 'inline command' : 'command', depth);
      if (found !== null) return found;
    }
    return null;
  }

  private command(command: CsCommand, shown: string, where: Where, depth: number): Finding | null {
    const { name, args } = command;
    this.rules.reached?.(name, where, this.origin, shown);
    if (!this.rules.isAllowed(name)) return this.refuse(name, shown, this.notAllowed(where, name));
    if (this.rules.literalOnly) {
      const literal = literalArguments(args);
      if (literal === null) {
        return this.refuse(name, shown, `${name} must be a plain name=value command here, without $…, (…) or {…}`);
      }
      return this.argumentRule(name, literal, shown);
    }
    if (this.rules.hasArgumentRule(name)) {
      const literal = literalArguments(args);
      if (literal === null) return this.refuse(name, shown, `${name} needs literal arguments so that they can be checked`);
      const found = this.argumentRule(name, literal, shown);
      if (found !== null) return found;
    }
    return this.walk(args, shown, name, depth) ?? this.evaluated(name, argumentList(args), shown, depth);
  }

  private argumentRule(name: string, args: readonly string[], shown: string): Finding | null {
    const why = this.rules.checkArguments(name, args);
    return why === null ? null : this.refuse(name, shown, why);
  }

  /** owner: the command whose arguments these are */
  private walk(object: CsObject, shown: string, owner: string, depth: number): Finding | null {
    switch (object.type) {
      case 'string':
        if (object.value.charCodeAt(0) === 36 /* $ */) {
          return this.scan(object.value.slice(1), object.value, owner, true, depth + 1);
        }
        return null;
      case 'list':
        for (const item of object.items) {
          const found = this.walk(item, shown, owner, depth);
          if (found !== null) return found;
        }
        return null;
      case 'function': {
        this.rules.reached?.(object.name, 'function', this.origin, shown);
        if (!this.rules.isAllowed(object.name)) return this.refuse(object.name, shown, this.notAllowed('function', object.name));
        const args = object.args ?? [];
        if (this.rules.hasArgumentRule(object.name)) {
          const literal = literalArguments({ type: 'list', items: args });
          if (literal === null) return this.refuse(object.name, shown, `${object.name} needs literal arguments so that they can be checked`);
          const found = this.argumentRule(object.name, literal, shown);
          if (found !== null) return found;
        }
        for (const arg of args) {
          const found = this.walk(arg, shown, object.name, depth);
          if (found !== null) return found;
        }
        return this.evaluated(object.name, args, shown, depth);
      }
    }
  }

  private evaluated(name: string, args: readonly CsObject[], shown: string, depth: number): Finding | null {
    const ranges = EVALUATORS.get(name);
    if (ranges === undefined) return null;
    for (const range of ranges) {
      const last = Math.min(range.to ?? args.length - 1, args.length - 1);
      for (let position = range.from; position <= last; position++) {
        const arg = args[position];
        if (arg === undefined) continue;
        const found = this.evaluatedArgument(name, range, arg, shown, depth);
        if (found !== null) return found;
      }
    }
    return null;
  }

  private evaluatedArgument(owner: string, range: EvaluatedRange, arg: CsObject, shown: string, depth: number): Finding | null {
    switch (arg.type) {
      case 'string': {
        if (arg.value.charCodeAt(0) === 36 /* $ */) {
          // parse_command_execute replaces it with a result that the callee then runs or calls: the
          // text that would run is not in the request.
          return this.refuse(owner, shown, `${owner} would run the result of "${snippet(arg.value)}", which is only known at run time`);
        }
        if (range.kind === 'name') {
          this.rules.reached?.(arg.value, 'name', this.origin, shown);
          return this.rules.isAllowed(arg.value)
            ? null
            : this.refuse(arg.value, shown, `${owner} calls ${arg.value}, which is not allowed in policy "${this.rules.policy}"`);
        }
        return this.scan(arg.value, arg.value, owner, false, depth + 1);
      }
      case 'list':
        for (const item of arg.items) {
          const found = this.evaluatedArgument(owner, range, item, shown, depth);
          if (found !== null) return found;
        }
        return null;
      case 'function':
        if (arg.level === 1) {
          return this.refuse(owner, shown, `${owner} would run the result of (${arg.name},…), which is only known at run time`);
        }
        // A quoted function object is called by the callee; walk() has already checked it.
        return range.kind === 'name' ? this.refuse(owner, shown, `${owner} needs a literal command name`) : null;
    }
  }
}

/** The argument list a list-taking command sees: a single object is a one-element list. */
function argumentList(args: CsObject): readonly CsObject[] {
  return args.type === 'list' ? args.items : [args];
}

/** The arguments as plain strings, or null if any is a list, a function or a $… string. */
function literalArguments(args: CsObject): string[] | null {
  const out: string[] = [];
  for (const arg of argumentList(args)) {
    if (arg.type !== 'string' || arg.value.charCodeAt(0) === 36) return null;
    out.push(arg.value);
  }
  return out;
}

/**
 * Scans one command string found at an evaluated position of a top-level call. Returns the first
 * refusal, or null when everything it can reach is allowed. Never throws.
 */
export function scanCommandString(text: string, origin: Origin, rules: ScanRules, owner: string = origin.method): Finding | null {
  return new Scanner(origin, rules).scan(text, text, owner, false, 0);
}
