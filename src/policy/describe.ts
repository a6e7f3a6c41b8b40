/**
 * What a policy allows, refuses and confines, read off the compiled policy itself (its rules asked
 * about every command name rtorrent knows) and off the definitions it was built from, so that what
 * `rtorrent-gateway policies` shows is what the check does.
 */
import { describeLoadSources, describeRuleArguments, ARGUMENT_RULE_COMMANDS } from './arguments.js';
import { KNOWN_COMMANDS } from './command-names.js';
import { BUILTIN_POLICY_NAMES, compiledRules, compilePolicies, resolvePolicies, type ResolvedPolicy } from './compile.js';
import { EVALUATORS, LOAD_METHODS } from './evaluators.js';
import { isPrivateCommand } from './private-commands.js';
import type { CompiledPolicy, PolicyDefinition, PolicyLimitDefaults, PolicyLimits } from './types.js';

/** Commands that one policy of the chain added with its own `allow`. */
export interface AllowedFrom {
  readonly policy: string;
  readonly commands: readonly string[];
}

export interface PolicyDescription {
  readonly name: string;
  readonly builtin: boolean;
  /** The definition as written (validated); empty for full. */
  readonly definition: PolicyDefinition;
  /** The policies it is built on, nearest first: ["standard"] for one that extends standard. */
  readonly basedOn: readonly string[];
  /** Built on full: every command runs unless denied. */
  readonly allowsAll: boolean;
  /** false: forwarded after the strict parse without looking further (full). */
  readonly inspected: boolean;
  /** Known command names it takes as a top-level call or system.multicall call, sorted. */
  readonly topLevel: readonly string[];
  /** Known command names a command string may reach (rows of d.multicall2, branch, …), sorted. */
  readonly commandStrings: readonly string[];
  /** Known command names that may follow a load.* source, sorted. */
  readonly afterLoad: readonly string[];
  /** Known command names refused as a top-level call, sorted. */
  readonly refused: readonly string[];
  /** Names its own or an inherited `deny` refuses everywhere. */
  readonly deny: readonly string[];
  /** Of the allowed names, which policy of the chain listed each (nearest first); empty when it allows all. */
  readonly allowedFrom: readonly AllowedFrom[];
  /** Commands whose arguments are confined, with the rule as it applies under this policy. */
  readonly argumentRules: ReadonlyArray<{ readonly command: string; readonly rule: string }>;
  /** What a load.* source may be, or undefined when the policy allows no load. */
  readonly loadSources: string | undefined;
  readonly downloadRoots: readonly string[];
  /** "own": the user sees and touches only the torrents they added (docs/tenants.md). */
  readonly scope: 'all' | 'own';
  /** Per-torrent multicalls a d.multicall row may nest; undefined when cost is not bounded. */
  readonly rowMulticalls: readonly string[] | undefined;
  readonly limits: PolicyLimits;
  /** Bounds on file patterns and stored text; undefined when cost is not bounded. */
  readonly valueLimits: { readonly maxPatternLength: number; readonly maxPatternWildcards: number; readonly maxStoredValueBytes: number } | undefined;
}

const sorted = (names: Iterable<string>): string[] => [...names].sort();

function chainOf(name: string, resolved: ReadonlyMap<string, ResolvedPolicy>): string[] {
  const chain: string[] = [];
  for (let parent = resolved.get(name)?.definition.extends; parent !== undefined; parent = resolved.get(parent)?.definition.extends) {
    chain.push(parent);
  }
  return chain;
}

function allowedFrom(name: string, chain: readonly string[], topLevel: readonly string[], resolved: ReadonlyMap<string, ResolvedPolicy>): AllowedFrom[] {
  const left = new Set(topLevel);
  const groups: AllowedFrom[] = [];
  for (const policy of [name, ...chain]) {
    const commands = (resolved.get(policy)?.definition.allow ?? []).filter((command) => left.delete(command));
    if (commands.length > 0) groups.push({ policy, commands: sorted(commands) });
  }
  return groups;
}

/**
 * Describes `policy` (a compiled policy, possibly one user's form of it) with the definitions of
 * every policy it may be built on.
 */
export function describePolicy(policy: CompiledPolicy, resolved: ReadonlyMap<string, ResolvedPolicy>): PolicyDescription {
  const rules = compiledRules(policy);
  const own = resolved.get(policy.name);
  if (own === undefined) throw new TypeError(`policy "${policy.name}" is not among the resolved definitions`);
  const allowsAll = own.resolved.allowAll;
  // A private command is refused as a direct call by every policy that is inspected (check.ts).
  const topLevel = sorted([...KNOWN_COMMANDS].filter((name) => rules.isAllowed(name) && (rules.passThrough || !isPrivateCommand(name))));
  const topSet = new Set(topLevel);
  const commandStrings = sorted([...KNOWN_COMMANDS].filter((name) => rules.passThrough || rules.nested.isAllowed(name)));
  const afterLoad = sorted([...KNOWN_COMMANDS].filter((name) => rules.passThrough || rules.loadTrailing.isAllowed(name)));
  const reachable = new Set([...topLevel, ...commandStrings, ...afterLoad]);
  const chain = chainOf(policy.name, resolved);
  const loads = [...LOAD_METHODS].some((name) => topSet.has(name));
  return {
    name: policy.name,
    builtin: BUILTIN_POLICY_NAMES.includes(policy.name),
    definition: own.definition,
    basedOn: chain,
    allowsAll,
    inspected: !rules.passThrough,
    topLevel,
    commandStrings,
    afterLoad,
    refused: sorted([...KNOWN_COMMANDS].filter((name) => !topSet.has(name))),
    deny: sorted(own.resolved.deny),
    allowedFrom: allowsAll ? [] : allowedFrom(policy.name, chain, [...reachable], resolved),
    argumentRules: rules.passThrough
      ? []
      : [...ARGUMENT_RULE_COMMANDS]
          .filter((command) => reachable.has(command))
          .map((command) => ({ command, rule: describeRuleArguments(command, rules.limits.downloadRoots) ?? '' })),
    loadSources: loads && !rules.passThrough ? describeLoadSources(rules.limits.loadSources, rules.limits.downloadRoots) : loads ? 'anything' : undefined,
    downloadRoots: rules.limits.downloadRoots,
    scope: policy.scope,
    rowMulticalls: rules.cost === undefined ? undefined : sorted(rules.cost.rowMulticalls),
    limits: policy.limits,
    valueLimits:
      rules.cost === undefined
        ? undefined
        : {
            maxPatternLength: rules.cost.maxPatternLength,
            maxPatternWildcards: rules.cost.maxPatternWildcards,
            maxStoredValueBytes: rules.cost.maxStoredValueBytes,
          },
  };
}

/** Every policy, built-in and configured, described; throws ConfigError as compilePolicies does. */
export function describePolicies(
  custom: Record<string, PolicyDefinition>,
  opts: { bodyLimit?: number; limits?: PolicyLimitDefaults } = {},
): Map<string, PolicyDescription> {
  const resolved = resolvePolicies(custom, opts);
  const described = new Map<string, PolicyDescription>();
  for (const [name, policy] of compilePolicies(custom, opts)) described.set(name, describePolicy(policy, resolved));
  return described;
}

/** Which arguments of `command` it runs or calls (1-based after the target), in words; undefined when none. */
export function evaluatedArguments(command: string): string | undefined {
  const ranges = EVALUATORS.get(command);
  if (ranges === undefined) return undefined;
  return ranges
    .map((range) => {
      const first = range.from + 1;
      if (range.kind === 'name') return `argument ${first} names a command it calls`;
      if (range.to === undefined) return `arguments ${first} on are command strings it runs`;
      return range.to === range.from ? `argument ${first} is a command string it runs` : `arguments ${first}-${range.to + 1} are command strings it runs`;
    })
    .join('; ');
}
