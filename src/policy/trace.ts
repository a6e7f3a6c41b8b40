/**
 * A verdict with the commands behind it, for explaining a decision offline (`rtorrent-gateway
 * explain`). The check itself runs unchanged: the same rules, given hooks that note each command
 * where the check reaches it. The gateway's own calls never set the hooks.
 */
import type { MethodCall } from '../xmlrpc/types.js';
import { type CallTracer, checkCall, type PolicyRules } from './check.js';
import { compiledRules } from './compile.js';
import type { Origin, Reach, ScanRules } from './scan.js';
import type { CompiledPolicy, PolicyVerdict } from './types.js';

/** Where a reached command sits in the call. */
export type CommandPlace =
  | { readonly kind: 'top level' }
  | {
      /** 'after load': a command that follows a load.* source, which runs with rtorrent's own trust later. */
      readonly kind: 'command string' | 'after load';
      /** the top-level method whose argument holds the command string */
      readonly method: string;
      /** 1-based position after the target, as users count arguments */
      readonly argument: number;
      /** the command string (or the $… or evaluated string) the command was found in */
      readonly text: string;
      readonly how: Reach;
    };

export interface ReachedCommand {
  readonly command: string;
  /** The 1-based system.multicall call the command belongs to, if any. */
  readonly call: number | undefined;
  readonly place: CommandPlace;
  /**
   * Whether the policy's list for this place holds the name. Arguments, shape and cost are checked
   * apart: a listed command may still be the one refused.
   */
  readonly listed: boolean;
}

export interface CallTrace {
  /** The same verdict check() gives. */
  readonly verdict: PolicyVerdict;
  /** Every command the check reached, in the order it reached them; a refused call's end with the refused one. */
  readonly reached: readonly ReachedCommand[];
  /** false for a policy that forwards whatever parses (full): only the top-level names are listed. */
  readonly inspected: boolean;
}

const MULTICALL = 'system.multicall';

class Tracer implements CallTracer {
  readonly reached: ReachedCommand[] = [];
  readonly #seen = new Set<string>();
  #call: number | undefined;

  constructor(private readonly rules: PolicyRules) {}

  topLevel(command: string): void {
    this.#add({ command, call: this.#call, place: { kind: 'top level' }, listed: this.rules.isAllowed(command) });
  }

  enterCall(index: number): void {
    this.#call = index;
  }

  /** The hook for one set of command-string rules. */
  scanning(rules: ScanRules, kind: 'command string' | 'after load'): ScanRules {
    const reached = (command: string, how: Reach, origin: Origin, text: string): void =>
      this.#add({ command, call: this.#call, place: { kind, method: origin.method, argument: origin.argument, text, how }, listed: rules.isAllowed(command) });
    return { ...rules, reached };
  }

  // The check reads parameters several ways (as sent, as xmlrpc-c reshapes them); one place is listed once.
  #add(entry: ReachedCommand): void {
    const { place } = entry;
    const key = JSON.stringify([entry.command, entry.call, place.kind, ...(place.kind === 'top level' ? [] : [place.argument, place.text, place.how])]);
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.reached.push(entry);
  }
}

/** The top-level names of a call that is not inspected: the method, and each system.multicall call's. */
function topLevelNames(call: MethodCall): ReachedCommand[] {
  const top: ReachedCommand = { command: call.methodName, call: undefined, place: { kind: 'top level' }, listed: true };
  const calls = call.methodName === MULTICALL ? call.params[0] : undefined;
  if (calls?.kind !== 'array') return [top];
  const members = calls.items.map((item, index): ReachedCommand | undefined => {
    const name = item.kind === 'struct' ? item.members.get('methodName') : undefined;
    return name?.kind === 'string' ? { command: name.value, call: index + 1, place: { kind: 'top level' }, listed: true } : undefined;
  });
  return [top, ...members.filter((member) => member !== undefined)];
}

/** The verdict of `policy` on `call`, with every command the check reached and where. */
export function traceCall(policy: CompiledPolicy, call: MethodCall): CallTrace {
  const rules = compiledRules(policy);
  if (rules.passThrough) return { verdict: checkCall(rules, call), reached: topLevelNames(call), inspected: false };
  const tracer = new Tracer(rules);
  const traced: PolicyRules = {
    ...rules,
    trace: tracer,
    nested: tracer.scanning(rules.nested, 'command string'),
    loadTrailing: tracer.scanning(rules.loadTrailing, 'after load'),
  };
  return { verdict: checkCall(traced, call), reached: tracer.reached, inspected: true };
}
