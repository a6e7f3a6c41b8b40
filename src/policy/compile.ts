import { ConfigError } from '../errors.js';
import type { MethodCall } from '../xmlrpc/types.js';
import {
  ARGUMENT_RULE_COMMANDS,
  type ArgumentLimits,
  checkRuleArguments,
  DEFAULT_BODY_LIMIT,
  DEFAULT_LOAD_SOURCES,
  LOAD_SOURCES,
  type LoadSource,
  normaliseRoot,
} from './arguments.js';
import { BUILTIN_DEFINITIONS, FULL_POLICY, LOAD_TRAILING_COMMANDS } from './builtin.js';
import { checkCall, type PolicyRules } from './check.js';
import { clampForUpstream } from './clamp.js';
import { isKnownCommand, XMLRPC_BUILTINS } from './command-names.js';
import { rememberingParser } from './command-string.js';
import { ROW_MULTICALL_NAMES, type CostRules } from './cost.js';
import { LOAD_METHODS } from './evaluators.js';
import { KEYED_CUSTOM_COMMANDS } from './owner-tag.js';
import type { ScanRules } from './scan.js';
import { SCOPED_NESTED_REFUSED, scopeCall, type ScopedCall, type ScopeRefusal } from './scope.js';
import {
  type CompiledPolicy,
  DEFAULT_POLICY_LIMITS,
  type Limit,
  type PolicyDefinition,
  type PolicyLimitDefaults,
  type PolicyLimits,
  type PolicyScope,
  type PolicyVerdict,
} from './types.js';

/** Stands for the user's name in download_roots, e.g. /srv/torrents/{user}. */
export const USER_PLACEHOLDER = '{user}';

export const BUILTIN_POLICY_NAMES: readonly string[] = Object.freeze([FULL_POLICY, ...BUILTIN_DEFINITIONS.keys()]);

/**
 * Checked only as top-level calls: xmlrpc-c's own methods do not exist inside command strings, and
 * load.* and the size limit have argument rules that need the real parameters.
 */
const TOP_LEVEL_ONLY: ReadonlySet<string> = new Set([...XMLRPC_BUILTINS, ...LOAD_METHODS, 'network.xmlrpc.size_limit.set']);
const LOAD_TRAILING: ReadonlySet<string> = new Set(LOAD_TRAILING_COMMANDS);
/** Per-policy limits: the definition's key, and the [limits] key it overrides. */
const LIMIT_KEYS = {
  max_answer_cells: { limits: 'max_answer_cells', min: 1, integer: true },
  max_answer_bytes: { limits: 'max_answer_bytes', min: 1, integer: true },
  calls_in_flight: { limits: 'calls_in_flight', min: 0, integer: true },
  call_rate: { limits: 'call_rate', min: 0, integer: false },
  call_burst: { limits: 'call_burst', min: 1, integer: true },
} as const;
type LimitKey = keyof typeof LIMIT_KEYS;
/** The estimate's bounds: they apply where the cost model does, so a policy built on full cannot set them. */
const COST_KEYS: readonly LimitKey[] = ['max_answer_cells', 'max_answer_bytes'];
const DEFINITION_KEYS: ReadonlySet<string> = new Set([
  'extends', 'allow', 'deny', 'download_roots', 'load_sources', 'row_multicalls', 'scope', ...Object.keys(LIMIT_KEYS),
]);
const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A definition after `extends` has been followed. */
export interface Resolved {
  readonly allowAll: boolean;
  readonly allow: ReadonlySet<string>;
  readonly deny: ReadonlySet<string>;
  readonly downloadRoots: readonly string[];
  readonly loadSources: readonly LoadSource[] | null;
  readonly rowMulticalls: readonly string[];
  readonly scope: PolicyScope;
  /** Limits set by this policy or the nearest ancestor that sets them, with the key they were set at. */
  readonly limits: Readonly<Partial<Record<LimitKey, Limit>>>;
}

const FULL_RESOLVED: Resolved = { allowAll: true, allow: new Set(), deny: new Set(), downloadRoots: [], loadSources: null, rowMulticalls: [], scope: 'all', limits: {} };

function stringList(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new ConfigError(`${key}: must be a list of strings`);
  }
  return value as string[];
}

function commandNames(value: unknown, key: string): string[] {
  const names = stringList(value, key);
  names.forEach((name, index) => {
    if (!isKnownCommand(name)) throw new ConfigError(`${key}[${index}]: unknown rtorrent command ${JSON.stringify(name)}`);
  });
  return names;
}

function validateDefinition(name: string, definition: unknown): PolicyDefinition {
  const at = `policies.${name}`;
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    throw new ConfigError(`${at}: must be a table with extends, allow, deny, download_roots or load_sources`);
  }
  for (const key of Object.keys(definition)) {
    if (!DEFINITION_KEYS.has(key)) throw new ConfigError(`${at}.${key}: unknown key; expected one of ${[...DEFINITION_KEYS].join(', ')}`);
  }
  const raw = definition as Record<string, unknown>;
  if (raw.extends !== undefined && typeof raw.extends !== 'string') throw new ConfigError(`${at}.extends: must be a policy name`);
  const out: PolicyDefinition = {
    allow: commandNames(raw.allow, `${at}.allow`),
    deny: commandNames(raw.deny, `${at}.deny`),
  };
  if (raw.extends !== undefined) out.extends = raw.extends as string;
  if (raw.download_roots !== undefined) {
    out.download_roots = stringList(raw.download_roots, `${at}.download_roots`).map((root, index) => {
      const normalised = normaliseRoot(root);
      if (root.replaceAll(USER_PLACEHOLDER, '').includes('{')) {
        throw new ConfigError(`${at}.download_roots[${index}]: ${JSON.stringify(root)}: the only placeholder is ${USER_PLACEHOLDER}`);
      }
      if (normalised === null) {
        throw new ConfigError(`${at}.download_roots[${index}]: ${JSON.stringify(root)} must be an absolute directory other than / without ".." segments`);
      }
      return normalised;
    });
  }
  if (raw.scope !== undefined) {
    if (raw.scope !== 'all' && raw.scope !== 'own') throw new ConfigError(`${at}.scope: must be "all" or "own", not ${JSON.stringify(raw.scope)}`);
    out.scope = raw.scope;
  }
  if (raw.row_multicalls !== undefined) {
    const names = stringList(raw.row_multicalls, `${at}.row_multicalls`);
    names.forEach((multicall, index) => {
      if (!ROW_MULTICALL_NAMES.includes(multicall)) {
        throw new ConfigError(`${at}.row_multicalls[${index}]: ${JSON.stringify(multicall)} is not one of ${ROW_MULTICALL_NAMES.join(', ')}`);
      }
    });
    out.row_multicalls = names;
  }
  for (const key of Object.keys(LIMIT_KEYS) as LimitKey[]) {
    const value = raw[key];
    if (value === undefined) continue;
    const rule = LIMIT_KEYS[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < rule.min || (rule.integer && !Number.isSafeInteger(value))) {
      throw new ConfigError(`${at}.${key}: must be ${rule.integer ? 'an integer' : 'a number'} of at least ${rule.min}, not ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  if (raw.load_sources !== undefined) {
    const sources = stringList(raw.load_sources, `${at}.load_sources`);
    sources.forEach((source, index) => {
      if (!(LOAD_SOURCES as readonly string[]).includes(source)) {
        throw new ConfigError(`${at}.load_sources[${index}]: unknown load source ${JSON.stringify(source)}; expected one of ${LOAD_SOURCES.join(', ')}`);
      }
    });
    out.load_sources = sources;
  }
  return out;
}

function resolveAll(definitions: ReadonlyMap<string, PolicyDefinition>): Map<string, Resolved> {
  const resolved = new Map<string, Resolved>([[FULL_POLICY, FULL_RESOLVED]]);
  const resolving: string[] = [];

  const resolve = (name: string): Resolved => {
    const done = resolved.get(name);
    if (done !== undefined) return done;
    const definition = definitions.get(name)!;
    if (resolving.includes(name)) {
      throw new ConfigError(`policies.${resolving[0]}.extends: cycle ${[...resolving.slice(resolving.indexOf(name)), name].join(' -> ')}`);
    }
    resolving.push(name);
    let parent: Resolved = { allowAll: false, allow: new Set(), deny: new Set(), downloadRoots: [], loadSources: null, rowMulticalls: [], scope: 'all', limits: {} };
    if (definition.extends !== undefined) {
      if (definition.extends !== FULL_POLICY && !definitions.has(definition.extends)) {
        throw new ConfigError(`policies.${name}.extends: unknown policy ${JSON.stringify(definition.extends)}`);
      }
      parent = resolve(definition.extends);
    }
    resolving.pop();
    const allow = definition.allow ?? [];
    const deny = new Set([...parent.deny].filter((denied) => !allow.includes(denied)));
    for (const denied of definition.deny ?? []) deny.add(denied);
    const limits: Partial<Record<LimitKey, Limit>> = { ...parent.limits };
    for (const key of Object.keys(LIMIT_KEYS) as LimitKey[]) {
      const value = definition[key];
      if (value === undefined) continue;
      if (parent.allowAll && COST_KEYS.includes(key)) {
        throw new ConfigError(`policies.${name}.${key}: a policy built on full is not cost-checked, so this limit would have no effect`);
      }
      limits[key] = { value, key: `policies.${name}.${key}` };
    }
    const result: Resolved = {
      allowAll: parent.allowAll,
      allow: new Set([...parent.allow, ...allow]),
      deny,
      downloadRoots: definition.download_roots ?? parent.downloadRoots,
      loadSources: (definition.load_sources as LoadSource[] | undefined) ?? parent.loadSources,
      rowMulticalls: definition.row_multicalls ?? parent.rowMulticalls,
      scope: definition.scope ?? parent.scope,
      limits,
    };
    if (result.scope === 'own' && result.allowAll) {
      throw new ConfigError(`policies.${name}.scope: a policy built on full may run anything, so it cannot be kept to the user's own torrents; extend "tenant" or "standard" instead`);
    }
    if (result.loadSources?.includes('file') && result.downloadRoots.length === 0) {
      throw new ConfigError(`policies.${name}.load_sources: "file" needs download_roots to confine the paths`);
    }
    resolved.set(name, result);
    return result;
  };

  for (const name of definitions.keys()) resolve(name);
  return resolved;
}

/**
 * A policy's limit: its own or an ancestor's, else the [limits] default, which policies built on full
 * do not get (0 there means "no limit" too).
 */
function limitOf(policy: Resolved, key: LimitKey, defaults: PolicyLimitDefaults, fallback: keyof PolicyLimitDefaults): Limit | undefined {
  const own = policy.limits[key];
  if (own !== undefined) return own.value === 0 ? undefined : own;
  if (policy.allowAll || defaults[fallback] === 0) return undefined;
  return { value: defaults[fallback], key: `limits.${LIMIT_KEYS[key].limits}` };
}

function resolveLimits(policy: Resolved, defaults: PolicyLimitDefaults): PolicyLimits {
  return {
    maxAnswerCells: limitOf(policy, 'max_answer_cells', defaults, 'maxAnswerCells'),
    maxAnswerBytes: limitOf(policy, 'max_answer_bytes', defaults, 'maxAnswerBytes'),
    budget: {
      callsInFlight: limitOf(policy, 'calls_in_flight', defaults, 'callsInFlight'),
      callRate: limitOf(policy, 'call_rate', defaults, 'callRate'),
      callBurst: policy.limits.call_burst ?? { value: defaults.callBurst, key: 'limits.call_burst' },
    },
  };
}

/** `full` itself, or a policy on it that changes nothing: forwarded after the strict parse, like nginx would. */
function isPassThrough(policy: Resolved): boolean {
  return policy.allowAll && policy.deny.size === 0 && policy.downloadRoots.length === 0 && policy.loadSources === null;
}

/** download_roots as they apply to `user`: {user} filled in (undefined: the template itself, for a policy nobody uses yet). */
function rootsFor(roots: readonly string[], user: string | undefined): readonly string[] {
  return user === undefined ? roots : roots.map((root) => root.replaceAll(USER_PLACEHOLDER, user));
}

function buildRules(name: string, policy: Resolved, defaults: PolicyLimitDefaults, user?: string): PolicyRules {
  const { allowAll, allow, deny } = policy;
  const scoped = policy.scope === 'own';
  const isAllowed = allowAll ? (command: string) => !deny.has(command) : (command: string) => allow.has(command) && !deny.has(command);
  const limits: ArgumentLimits = {
    policy: name,
    downloadRoots: rootsFor(policy.downloadRoots, user),
    loadSources: new Set(policy.loadSources ?? DEFAULT_LOAD_SOURCES),
    scoped,
  };
  const parse = rememberingParser();
  const argumentRules = {
    hasArgumentRule: scoped
      ? (command: string) => ARGUMENT_RULE_COMMANDS.has(command) || KEYED_CUSTOM_COMMANDS.has(command)
      : (command: string) => ARGUMENT_RULE_COMMANDS.has(command),
    checkArguments: (command: string, args: readonly string[]) => checkRuleArguments(command, args, limits),
    parse,
  };
  const nested: ScanRules = {
    policy: name,
    // A list inside a command string would walk every torrent, past the scope's filter.
    isAllowed: (command) => isAllowed(command) && !TOP_LEVEL_ONLY.has(command) && !(scoped && SCOPED_NESTED_REFUSED.has(command)),
    literalOnly: false,
    ...argumentRules,
  };
  // A policy built on `full` keeps full's freedom after a load, minus what it denies.
  const loadTrailing: ScanRules = allowAll
    ? nested
    : { policy: name, isAllowed: (command) => LOAD_TRAILING.has(command) && !deny.has(command), literalOnly: true, ...argumentRules };
  const passThrough = isPassThrough(policy);
  // Policies built on full keep full's freedom of cost as of commands; every other one is bounded.
  const cost: CostRules | undefined = allowAll
    ? undefined
    : {
        policy: name,
        rowMulticalls: new Set(policy.rowMulticalls),
        rowMulticallsKey: BUILTIN_DEFINITIONS.has(name) ? `row_multicalls in a policy that extends "${name}"` : `policies.${name}.row_multicalls`,
        maxPatternLength: defaults.maxPatternLength,
        maxPatternWildcards: defaults.maxPatternWildcards,
        maxStoredValueBytes: defaults.maxStoredValueBytes,
        parse,
      };
  return { name, passThrough, isAllowed, limits, nested, loadTrailing, cost };
}

class Policy implements CompiledPolicy {
  /** One specialisation per user, for download_roots that name {user}. */
  readonly #perUser = new Map<string, Policy>();
  readonly #namesUser: boolean;

  constructor(
    private readonly rules: PolicyRules,
    private readonly bodyLimit: number,
    readonly limits: PolicyLimits,
    private readonly resolved: Resolved,
    private readonly defaults: PolicyLimitDefaults,
    private readonly user?: string,
  ) {
    this.#namesUser = resolved.downloadRoots.some((root) => root.includes(USER_PLACEHOLDER));
  }
  get name(): string {
    return this.rules.name;
  }
  get scope(): PolicyScope {
    return this.resolved.scope;
  }
  forUser(user: string): CompiledPolicy {
    if (this.user !== undefined || !this.#namesUser) return this;
    let policy = this.#perUser.get(user);
    if (policy === undefined) {
      policy = new Policy(buildRules(this.rules.name, this.resolved, this.defaults, user), this.bodyLimit, this.limits, this.resolved, this.defaults, user);
      this.#perUser.set(user, policy);
    }
    return policy;
  }
  scopeCall(call: MethodCall, user: string): ScopedCall | ScopeRefusal | undefined {
    if (this.resolved.scope !== 'own') return undefined;
    return scopeCall(call, { user, directory: this.rules.limits.downloadRoots[0] });
  }
  check(call: MethodCall): PolicyVerdict {
    return checkCall(this.rules, call);
  }
  /** A policy's compiled rules, for explaining it (trace.ts, describe.ts). */
  static rulesOf(policy: CompiledPolicy): PolicyRules | undefined {
    return policy instanceof Policy ? policy.rules : undefined;
  }
  prepare(call: MethodCall, upstreamBodyLimit = Infinity): MethodCall {
    return this.rules.passThrough ? call : clampForUpstream(call, Math.min(this.bodyLimit, upstreamBodyLimit));
  }
}

/**
 * The rules a compiled policy checks calls with, for explaining it offline (trace.ts, describe.ts).
 * Kept off CompiledPolicy: the request path never needs them.
 */
export function compiledRules(policy: CompiledPolicy): PolicyRules {
  const rules = Policy.rulesOf(policy);
  if (rules === undefined) throw new TypeError(`policy "${policy.name}" was not built by compilePolicies`);
  return rules;
}

/** A policy as written and as `extends` made it: what compiling and describing it start from. */
export interface ResolvedPolicy {
  /** the validated definition; empty for full */
  readonly definition: PolicyDefinition;
  readonly resolved: Resolved;
  readonly limits: PolicyLimits;
  readonly passThrough: boolean;
}

interface PolicyOptions {
  bodyLimit?: number;
  limits?: PolicyLimitDefaults;
}

/**
 * Validates the built-in policies and the configured ones and follows every `extends`. Throws
 * ConfigError naming the policy and the key for anything it cannot use.
 */
export function resolvePolicies(custom: Record<string, PolicyDefinition>, opts: PolicyOptions = {}): Map<string, ResolvedPolicy> {
  const { definitions, defaults } = validatePolicies(custom, opts);
  const out = new Map<string, ResolvedPolicy>();
  for (const [name, resolved] of resolveAll(definitions)) {
    out.set(name, { definition: definitions.get(name) ?? {}, resolved, limits: resolveLimits(resolved, defaults), passThrough: isPassThrough(resolved) });
  }
  return out;
}

/**
 * Compiles the built-in policies and the configured ones into lookup tables, once, at start-up or
 * reload. Throws ConfigError naming the policy and the key for anything it cannot use.
 */
export function compilePolicies(custom: Record<string, PolicyDefinition>, opts: PolicyOptions = {}): Map<string, CompiledPolicy> {
  const { bodyLimit, defaults, definitions } = validatePolicies(custom, opts);
  const compiled = new Map<string, CompiledPolicy>();
  for (const [name, policy] of resolveAll(definitions)) {
    compiled.set(name, new Policy(buildRules(name, policy, defaults), bodyLimit, resolveLimits(policy, defaults), policy, defaults));
  }
  return compiled;
}

function validatePolicies(
  custom: Record<string, PolicyDefinition>,
  opts: PolicyOptions,
): { bodyLimit: number; defaults: PolicyLimitDefaults; definitions: Map<string, PolicyDefinition> } {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const defaults = opts.limits ?? DEFAULT_POLICY_LIMITS;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit <= 0) throw new ConfigError(`bodyLimit: must be a positive number of bytes, not ${String(bodyLimit)}`);
  if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) throw new ConfigError('policies: must be a table of policy definitions');

  const definitions = new Map<string, PolicyDefinition>();
  for (const [name, definition] of BUILTIN_DEFINITIONS) definitions.set(name, validateDefinition(name, definition));
  for (const [name, definition] of Object.entries(custom)) {
    if (BUILTIN_POLICY_NAMES.includes(name)) {
      throw new ConfigError(`policies.${name}: "${name}" is a built-in policy; give yours another name and use extends = "${name}"`);
    }
    if (!POLICY_NAME.test(name)) throw new ConfigError(`policies.${name}: a policy name uses letters, digits, '_', '.' and '-' (at most 64)`);
    definitions.set(name, validateDefinition(name, definition));
  }
  return { bodyLimit, defaults, definitions };
}
