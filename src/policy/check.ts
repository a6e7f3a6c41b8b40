import type { MethodCall, XmlRpcValue } from '../xmlrpc/types.js';
import {
  type ArgumentLimits,
  checkLoadSource,
  checkRuleArguments,
  isValidTarget,
} from './arguments.js';
import { takesTarget } from './command-names.js';
import { type CostRules, estimateCall, isCostRefusal, plainCallCells, type TopLevelArgument } from './cost.js';
import { CostEstimate } from './cost-estimate.js';
import { EVALUATORS, LOAD_METHODS } from './evaluators.js';
import { privateCommandReason } from './private-commands.js';
import { type Finding, type ScanRules, scanCommandString } from './scan.js';
import { untrustedWindow } from './untrusted.js';
import type { PolicyVerdict } from './types.js';

/** A policy reduced to what the hot path needs; built once by compile.ts. */
export interface PolicyRules {
  readonly name: string;
  /** `full`: forwarded after the strict parse, like nginx would */
  readonly passThrough: boolean;
  /** may this method be called at the top level (or as a system.multicall member)? */
  isAllowed(name: string): boolean;
  readonly limits: ArgumentLimits;
  /** rules for command strings at evaluated positions */
  readonly nested: ScanRules;
  /** rules for the commands that follow a load.* source */
  readonly loadTrailing: ScanRules;
  /** what a call may cost rtorrent; undefined: not bounded (policies built on full) */
  readonly cost: CostRules | undefined;
  /** Set only when a verdict is being explained (trace.ts): told of every top-level name and multicall call. */
  readonly trace?: CallTracer;
}

export interface CallTracer {
  /** A command checked as a top-level call or system.multicall call. */
  topLevel(command: string): void;
  /** The checks that follow are of system.multicall call `index` (1-based). */
  enterCall(index: number): void;
}

type Denial = { method: string; reason: string };

const MULTICALL = 'system.multicall';

function deny(method: string, reason: string): Denial {
  return { method, reason };
}

/** Top-level method names for logging: system.multicall followed by its members' names. */
function methodNames(call: MethodCall): string[] {
  const names = [call.methodName];
  const calls = call.methodName === MULTICALL ? call.params[0] : undefined;
  if (calls?.kind === 'array') {
    for (const item of calls.items) {
      const member = item.kind === 'struct' ? item.members.get('methodName') : undefined;
      if (member?.kind === 'string') names.push(member.value);
    }
  }
  return names;
}

export function checkCall(rules: PolicyRules, call: MethodCall): PolicyVerdict {
  const methods = methodNames(call);
  // `full` callers keep rtorrent's full trust: they may run anything anyway.
  if (rules.passThrough) return { allowed: true, methods, untrusted: undefined, cost: undefined };
  const reached = new Set<string>();
  const recording = recordingRules(rules, reached);
  const denial = call.methodName === MULTICALL ? checkMulticall(recording, call) : checkOne(recording, call);
  if (denial !== null) return { allowed: false, methods, ...denial };
  let cost: CostEstimate | undefined;
  if (rules.cost !== undefined) {
    const estimate = estimateCost(rules.cost, call);
    if (isCostRefusal(estimate)) return { allowed: false, methods, method: estimate.method, reason: estimate.reason, costly: true };
    cost = estimate;
  }
  return { allowed: true, methods, untrusted: untrustedWindow(reached), cost, reached };
}

/**
 * The cost of an allowed call: a system.multicall costs what its members cost together. Each call is
 * read both as sent and as xmlrpc-c reshapes it, and the larger estimate is kept.
 */
function estimateCost(rules: CostRules, call: MethodCall): CostEstimate | { method: string; reason: string } {
  const total = new CostEstimate();
  total.add([], 1);
  if (call.methodName !== MULTICALL) return addCallCost(rules, call.methodName, call.params, total);
  for (const item of call.params[0]?.kind === 'array' ? call.params[0].items : []) {
    const name = item.kind === 'struct' ? item.members.get('methodName') : undefined;
    const params = item.kind === 'struct' ? item.members.get('params') : undefined;
    if (name?.kind !== 'string' || params?.kind !== 'array') continue;
    const result = addCallCost(rules, name.value, params.items, total);
    if (isCostRefusal(result)) return result;
  }
  return total;
}

function addCallCost(rules: CostRules, name: string, params: readonly XmlRpcValue[], total: CostEstimate): CostEstimate | { method: string; reason: string } {
  const plain = plainCallCells(name);
  if (plain !== undefined) {
    total.add([], plain);
    return total;
  }
  const rest = params.slice(1);
  if (!rest.some((param) => param.kind === 'array')) return estimateCall(rules, name, rest.map(topLevelArgument), total);
  const estimate = new CostEstimate();
  for (const reading of [rest, xmlrpcCArguments(rest)]) {
    const result = estimateCall(rules, name, reading.map(topLevelArgument));
    if (isCostRefusal(result)) return result;
    estimate.raiseTo(result);
  }
  total.addAll(estimate);
  return total;
}

function topLevelArgument(value: XmlRpcValue): TopLevelArgument {
  if (isText(value)) return textOf(value);
  if (value.kind === 'array') return value.items.map(topLevelArgument);
  return null;
}

/**
 * The same rules, noting every command name the check reached, so the caller can tell whether
 * rtorrent's own untrusted mode would accept the whole call as well.
 */
function recordingRules(rules: PolicyRules, reached: Set<string>): PolicyRules {
  const noting =
    (isAllowed: (name: string) => boolean) =>
    (name: string): boolean => {
      reached.add(name);
      return isAllowed(name);
    };
  // compile.ts builds the rules as plain objects, so a spread keeps every other member.
  return {
    ...rules,
    isAllowed: noting(rules.isAllowed),
    nested: { ...rules.nested, isAllowed: noting(rules.nested.isAllowed) },
    loadTrailing: { ...rules.loadTrailing, isAllowed: noting(rules.loadTrailing.isAllowed) },
  };
}

/**
 * xmlrpc-c looks members up by name and tolerates extras and any order; the tinyxml2 backend takes the
 * first member as the method and the second as its parameters whatever their names
 * (src/rpc/xmlrpc_tinyxml2.cc:325-358). Only the one shape both read the same way is accepted.
 */
function checkMulticall(rules: PolicyRules, call: MethodCall): Denial | null {
  rules.trace?.topLevel(MULTICALL);
  if (!rules.isAllowed(MULTICALL)) return notInPolicy(rules, MULTICALL);
  const [calls, ...extra] = call.params;
  if (calls?.kind !== 'array' || extra.length !== 0) {
    return deny(MULTICALL, 'system.multicall takes exactly one parameter, an array of {methodName, params} structs');
  }
  const members: MethodCall[] = [];
  for (const [index, item] of calls.items.entries()) {
    const position = `system.multicall call ${index + 1}`;
    if (item.kind !== 'struct') return deny(MULTICALL, `${position} is not a struct`);
    const keys = [...item.members.keys()];
    const methodName = item.members.get('methodName');
    const params = item.members.get('params');
    if (keys.length !== 2 || keys[0] !== 'methodName' || keys[1] !== 'params') {
      return deny(MULTICALL, `${position} must have exactly the members methodName and params, in that order`);
    }
    if (methodName?.kind !== 'string' || params?.kind !== 'array') {
      return deny(MULTICALL, `${position} needs a string methodName and an array params`);
    }
    // xmlrpc-c refuses recursion (system_method.c:66-74) and tinyxml2 does not know the name; neither
    // is worth forwarding.
    if (methodName.value === MULTICALL) return deny(MULTICALL, `${position} is a nested system.multicall, which is refused`);
    members.push({ methodName: methodName.value, params: params.items });
  }
  for (const [index, member] of members.entries()) {
    rules.trace?.enterCall(index + 1);
    const denial = checkOne(rules, member);
    if (denial !== null) return { method: denial.method, reason: `system.multicall call ${index + 1} (${member.methodName}): ${denial.reason}` };
  }
  return null;
}

function notInPolicy(rules: PolicyRules, name: string): Denial {
  return deny(name, `${name} is not in policy "${rules.name}"`);
}

/** Real clients nest arrays two levels deep at most; the bound also keeps the walks below shallow. */
const MAX_ARRAY_NESTING = 16;

/** Why a parameter cannot be taken, or null: structs anywhere, or arrays nested too deeply. */
function unusableParameter(value: XmlRpcValue, depth = 0): string | null {
  if (value.kind === 'struct') return 'got a struct parameter; structs are only accepted as system.multicall members';
  if (value.kind !== 'array') return null;
  if (depth >= MAX_ARRAY_NESTING) return `got arrays nested deeper than ${MAX_ARRAY_NESTING} levels`;
  for (const item of value.items) {
    const why = unusableParameter(item, depth + 1);
    if (why !== null) return why;
  }
  return null;
}

function checkOne(rules: PolicyRules, call: MethodCall): Denial | null {
  const { methodName: name, params } = call;
  rules.trace?.topLevel(name);
  // Before the allowlist: a policy that lists a private setter for command strings (load.* trailing
  // d.connection_seed.set) must not open it to JSON-RPC's direct calls as well.
  const hidden = privateCommandReason(name);
  if (hidden !== null) return deny(name, hidden);
  if (!rules.isAllowed(name)) return notInPolicy(rules, name);
  // xmlrpc-c refuses structs ("Unsupported type found"); tinyxml2 turns them into maps, which
  // call_object walks and runs (parse_commands.cc:214-220).
  for (const param of params) {
    const why = unusableParameter(param);
    if (why !== null) return deny(name, `${name} ${why}`);
  }

  const hasTarget = takesTarget(name);
  const target = params[0];
  if (hasTarget && target !== undefined && (target.kind !== 'string' || !isValidTarget(target.value))) {
    return deny(name, `${name} target (first parameter) must be "" or an info-hash with an optional :f<n>, :t<n> or :p<peer id> suffix`);
  }

  if (LOAD_METHODS.has(name)) return checkLoad(rules, name, params);
  if (rules.nested.hasArgumentRule(name)) {
    const literal = ruleArgumentValues(params);
    const why = literal === null ? `${name} takes plain string or integer arguments` : checkRuleArguments(name, literal, rules.limits);
    if (why !== null) return deny(name, why);
  }
  if (EVALUATORS.has(name)) return checkEvaluated(rules, name, params, !hasTarget);
  return null;
}

/**
 * load.* as a constructor: a source the policy accepts, then only fixed-shape setters (§5.4 "Treat
 * load.* as a constructor"). The xmlrpc-c reading is the one that matters: autobrr sends
 * ("", [source, cmd…]) and xmlrpc-c flattens it; tinyxml2 and JSON keep the array, and then
 * apply_load's as_string() throws before anything is loaded (src/command_events.cc:149-165).
 */
function checkLoad(rules: PolicyRules, name: string, params: readonly XmlRpcValue[]): Denial | null {
  const args = xmlrpcCArguments(params.slice(1));
  if (!args.every(isText)) return deny(name, `${name} takes only string (or base64) arguments`);
  const [source, ...trailing] = args as readonly Text[];
  if (source === undefined) return deny(name, `${name} needs a source`);
  const why = checkLoadSource(name, textOf(source), rules.limits);
  if (why !== null) return deny(name, why);
  for (const [index, command] of trailing.entries()) {
    const finding = scanCommandString(textOf(command), { method: name, argument: index + 2 }, rules.loadTrailing);
    if (finding !== null) return finding;
  }
  return null;
}

/**
 * Scans every evaluated position under each way rtorrent may read the parameters: as sent (tinyxml2,
 * JSON), as xmlrpc-c reshapes them, and, for 0.9.8's no-target redirects, with the first parameter as
 * an argument. What runs under any reading is checked.
 */
function checkEvaluated(rules: PolicyRules, name: string, params: readonly XmlRpcValue[], noTarget: boolean): Denial | null {
  const ranges = EVALUATORS.get(name) ?? [];
  const readings: (readonly XmlRpcValue[])[] = [params.slice(1)];
  if (params.some((param) => param.kind === 'array')) readings.push(xmlrpcCArguments(params.slice(1)));
  if (noTarget) readings.push(params, xmlrpcCArguments(params));
  const scanned = new Set<string>();
  for (const args of readings) {
    for (const range of ranges) {
      const last = Math.min(range.to ?? args.length - 1, args.length - 1);
      for (let position = range.from; position <= last; position++) {
        const found = checkEvaluatedValue(rules, name, range.kind, args[position]!, position + 1, scanned);
        if (found !== null) return found;
      }
    }
  }
  return null;
}

function checkEvaluatedValue(
  rules: PolicyRules,
  name: string,
  kind: 'code' | 'name',
  value: XmlRpcValue,
  argument: number,
  scanned: Set<string>,
): Finding | null {
  if (value.kind === 'array') {
    for (const item of value.items) {
      const found = checkEvaluatedValue(rules, name, kind, item, argument, scanned);
      if (found !== null) return found;
    }
    return null;
  }
  if (!isText(value)) return null; // integers are conditions or counts, never code
  const text = textOf(value);
  if (kind === 'name') {
    rules.nested.reached?.(text, 'name', { method: name, argument }, text);
    return rules.nested.isAllowed(text)
      ? null
      : deny(text, `${name} argument ${argument} calls ${text}, which is not allowed in policy "${rules.name}"`);
  }
  const key = `${argument}\u0000${text}`;
  if (scanned.has(key)) return null;
  scanned.add(key);
  return scanCommandString(text, { method: name, argument }, rules.nested);
}

type Text = Extract<XmlRpcValue, { kind: 'string' | 'base64' }>;
type Scalar = Extract<XmlRpcValue, { kind: 'string' | 'base64' | 'i4' | 'i8' }>;

function isText(value: XmlRpcValue): value is Text {
  return value.kind === 'string' || value.kind === 'base64';
}

function isScalar(value: XmlRpcValue): value is Scalar {
  return value.kind !== 'array' && value.kind !== 'struct';
}

/** rtorrent hands base64 to commands as a plain string (src/rpc/xmlrpc_c.cc:180-194); bytes stay bytes. */
function textOf(value: Text): string {
  return value.kind === 'string' ? value.value : value.value.toString('latin1');
}

function scalarValue(value: Scalar): string | number {
  if (value.kind === 'i4') return value.value;
  if (value.kind === 'i8') return Number(value.value);
  return textOf(value);
}

const EMPTY: XmlRpcValue = { kind: 'array', items: [] };

/**
 * The arguments after the target as rtorrent's command sees them (xmlrpc-c's conversion below),
 * when all are plain strings or integers; null otherwise. Shared by the check and by clampForUpstream,
 * so a value is adjusted exactly as it was judged.
 */
export function ruleArgumentValues(params: readonly XmlRpcValue[]): Array<string | number> | null {
  const args = xmlrpcCArguments(params.slice(1));
  return args.every(isScalar) ? args.map(scalarValue) : null;
}

/**
 * xmlrpc-c's conversion (src/rpc/xmlrpc_c.cc:196-259): one argument is passed as itself and several as
 * a list; inside, a one-element array is unwrapped and an empty one becomes "none".
 */
export function xmlrpcCArguments(rest: readonly XmlRpcValue[]): readonly XmlRpcValue[] {
  if (rest.length === 1) {
    const only = convert(rest[0]!);
    if (only === null) return [];
    return only.kind === 'array' ? only.items : [only];
  }
  return rest.map((value) => convert(value) ?? EMPTY);
}

function convert(value: XmlRpcValue): XmlRpcValue | null {
  if (value.kind !== 'array') return value;
  if (value.items.length === 0) return null;
  if (value.items.length === 1) return convert(value.items[0]!);
  return { kind: 'array', items: value.items.map((item) => convert(item) ?? EMPTY) };
}
