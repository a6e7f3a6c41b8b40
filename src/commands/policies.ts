import { ENV_PREFIX } from '../config/keys.js';
import { configFileFrom, EXIT_USAGE, gatewayConfig, subcommandArguments, UsageError } from './arguments.js';
import { ConfigError, GatewayError } from '../errors.js';
import { KNOWN_COMMANDS } from '../policy/command-names.js';
import { describePolicies, type PolicyDescription } from '../policy/describe.js';
import type { Limit } from '../policy/types.js';
import type { Subcommand } from './index.js';
import { compileAccessPolicies } from '../ops/runtime.js';

export const POLICIES_USAGE = `Usage: rtorrent-gateway policies [NAME] [--config FILE] [--json]

Without NAME, lists the built-in policies and, with a config, its own, one line each. With NAME,
shows what that policy allows (as calls, in command strings, after a load), what it refuses, how it
confines arguments (download_roots, load sources), its cost and rate limits, and what it is built
on. Everything is read off the policies as the gateway compiles them.

  --config FILE   the gateway's TOML config (default: ${ENV_PREFIX}CONFIG if set, with ${ENV_PREFIX}*
                  variables applied as the gateway applies them)
  --json          JSON on standard output instead of text
  --help

Exit status: 0 shown, 2 an unknown NAME, a configuration the gateway would not start with, or wrong usage.
`;

const EXIT_OK = 0;

interface PoliciesRequest {
  readonly name: string | undefined;
  readonly configFile: string | undefined;
  readonly json: boolean;
}

function parseRequest(argv: readonly string[], env: NodeJS.ProcessEnv): PoliciesRequest | 'help' {
  const { values, positionals } = subcommandArguments('policies', argv, { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help === true) return 'help';
  if (positionals.length > 1) throw new UsageError('policies', `one policy at a time, got ${positionals.join(' ')}`);
  return { name: positionals[0], configFile: configFileFrom(values.config, env), json: values.json === true };
}

interface Described {
  readonly policies: ReadonlyMap<string, PolicyDescription>;
  /** Users of each policy, from [access.users]; empty without a config. */
  readonly users: ReadonlyMap<string, readonly string[]>;
}

function describeFrom(request: PoliciesRequest, env: NodeJS.ProcessEnv): Described {
  if (request.configFile === undefined) return { policies: describePolicies({}), users: new Map() };
  const config = gatewayConfig(request.configFile, env);
  // The configurations the gateway refuses (a user of an unknown policy…) are refused here too.
  compileAccessPolicies(config);
  const policies = describePolicies(config.policies, { bodyLimit: config.server.bodyLimit, limits: config.limits.policies });
  const users = new Map<string, string[]>();
  for (const [user, access] of config.access.users) users.set(access.policy, [...(users.get(access.policy) ?? []), user]);
  return { policies, users };
}

// ---------------------------------------------------------------------------------------------
// The listing

/** Command names the readonly policy does not take: what a policy may do beyond reading. */
function beyondReading(about: PolicyDescription, readonly: PolicyDescription | undefined): number {
  const reads = new Set(readonly?.topLevel ?? []);
  return about.topLevel.filter((name) => !reads.has(name)).length;
}

function summary(about: PolicyDescription, readonly: PolicyDescription | undefined): string {
  const parts: string[] = [];
  if (about.basedOn.length > 0) parts.push(`based on ${about.basedOn[0]}`);
  if (!about.inspected) parts.push('any command, forwarded as parsed without inspection');
  else if (about.allowsAll) parts.push(`any command but ${about.deny.length} denied (${about.deny.join(', ')})`);
  else {
    const beyond = beyondReading(about, readonly);
    parts.push(`${about.topLevel.length} commands, ${beyond === 0 ? 'reads only' : `${beyond} beyond what readonly allows`}`);
    parts.push(about.loadSources === undefined ? 'adds no torrents' : `adds torrents from ${about.loadSources}`);
  }
  if (about.downloadRoots.length > 0) parts.push(`download_roots ${about.downloadRoots.join(', ')}`);
  if (about.scope === 'own') parts.push('own torrents only');
  return parts.join('; ');
}

function listing(described: Described): string {
  const all = [...described.policies.values()];
  const readonly = described.policies.get('readonly');
  const width = Math.max(...all.map((about) => about.name.length));
  const line = (about: PolicyDescription): string => {
    const users = described.users.get(about.name);
    return `  ${about.name.padEnd(width)}  ${summary(about, readonly)}${users === undefined ? '' : ` (users: ${users.join(', ')})`}`;
  };
  const builtin = all.filter((about) => about.builtin);
  const own = all.filter((about) => !about.builtin);
  const lines = ['built-in policies:', ...builtin.map(line)];
  if (own.length > 0) lines.push('', 'policies of the config:', ...own.map(line));
  lines.push('', 'rtorrent-gateway policies NAME shows one in full.');
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// One policy

/** Lines of text in the details are wrapped at this width. */
const WIDTH = 100;

/** `first`, then the names separated by commas, wrapped with `indent` before each further line. */
function wrap(first: string, names: readonly string[], indent: string): string[] {
  const lines: string[] = [];
  let current = first;
  names.forEach((name, index) => {
    const word = index < names.length - 1 ? `${name},` : name;
    if (current.length + 1 + word.length > WIDTH && current.trim() !== '') {
      lines.push(current);
      current = indent.slice(0, -1);
    }
    current += ` ${word}`;
  });
  lines.push(current);
  return lines;
}

/** Names grouped by their first segment (d.*, f.*, throttle.*), wrapped. */
function grouped(names: readonly string[], indent: string): string[] {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const dot = name.indexOf('.');
    const key = dot < 0 ? 'without a prefix' : `${name.slice(0, dot)}.*`;
    groups.set(key, [...(groups.get(key) ?? []), name]);
  }
  return [...groups].flatMap(([key, members]) => wrap(`${indent}${key} (${members.length}):`, members, `${indent}    `));
}

function limitText(limit: Limit | undefined, unit: string): string {
  return limit === undefined ? `no limit on ${unit}` : `${limit.value} ${unit} (${limit.key})`;
}

function details(about: PolicyDescription, described: Described): string {
  const lines = [`policy ${about.name}${about.builtin ? ' (built-in)' : ''}`];
  const users = described.users.get(about.name);
  if (users !== undefined) lines.push(`users: ${users.join(', ')}`);
  lines.push(`based on: ${about.basedOn.length === 0 ? 'no other policy' : about.basedOn.join(' <- ')}`);
  if (!about.inspected) {
    lines.push('allows: any command; the call is parsed strictly and forwarded without inspection (no limits on cost)');
    return `${lines.join('\n')}\n`;
  }
  const known = KNOWN_COMMANDS.size;
  if (about.allowsAll) {
    lines.push(`allows: any command but the denied ones, at the top level and in command strings`, `denied everywhere: ${about.deny.join(', ')}`);
  } else {
    lines.push(`allows as a call (top level or system.multicall call), ${about.topLevel.length} commands:`, ...grouped(about.topLevel, '  '));
    const from = about.allowedFrom.map((group) => `"${group.policy}" (${group.commands.length} names)`);
    lines.push(`  from the allow list${from.length === 1 ? '' : 's'} of ${from.join(', ')}`);
    const top = new Set(about.topLevel);
    const nested = new Set(about.commandStrings);
    const notNested = about.topLevel.filter((name) => !nested.has(name));
    const onlyNested = about.commandStrings.filter((name) => !top.has(name));
    const strings = 'command strings (d.multicall2 rows, branch, …) may reach the same commands';
    lines.push(...(notNested.length === 0 ? [strings] : wrap(`${strings} but`, notNested, '    ')));
    if (onlyNested.length > 0) lines.push(...wrap('  and, only in command strings:', onlyNested, '    '));
    lines.push(`refuses: every other command, ${about.refused.length} of the ${known} names rtorrent knows (--json lists them)`);
    if (about.deny.length > 0) lines.push(`denied everywhere: ${about.deny.join(', ')}`);
  }
  if (about.loadSources === undefined) lines.push('loads: none');
  else lines.push(`loads: sources ${about.loadSources}`, ...wrap('  followed only by', about.afterLoad, '    '));
  lines.push(`download_roots: ${about.downloadRoots.length === 0 ? 'none' : about.downloadRoots.join(', ')}`);
  if (about.scope === 'own') {
    lines.push(
      'scope: own — lists show the torrents the user added only; other torrents answer as unknown hashes;',
      '  view.size_not_visible, d.custom.keys/items and the owner tag are refused (docs/tenants.md)',
    );
  }
  if (about.argumentRules.length > 0) {
    lines.push('arguments:');
    for (const { command, rule } of about.argumentRules) lines.push(`  ${command}: ${rule}`);
  }
  const { limits } = about;
  lines.push(`answers: ${limitText(limits.maxAnswerCells, 'cells')}, ${limitText(limits.maxAnswerBytes, 'bytes')}`);
  if (about.rowMulticalls !== undefined) lines.push(`d.multicall rows may nest: ${about.rowMulticalls.join(', ') || 'no multicall'}`);
  if (about.valueLimits !== undefined) {
    const { maxPatternLength, maxPatternWildcards, maxStoredValueBytes } = about.valueLimits;
    lines.push(
      `file patterns: up to ${maxPatternLength} characters with ${maxPatternWildcards} '*' (limits.max_pattern_length, limits.max_pattern_wildcards)`,
      `stored labels, messages, tracker URLs: up to ${maxStoredValueBytes} bytes (limits.max_stored_value_bytes)`,
    );
  }
  const { budget } = limits;
  lines.push(
    `each user: ${limitText(budget.callsInFlight, 'calls in flight')}, ${limitText(budget.callRate, 'calls a second')}, bursts of ${budget.callBurst.value} (${budget.callBurst.key})`,
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

function show(request: PoliciesRequest, env: NodeJS.ProcessEnv): string {
  const described = describeFrom(request, env);
  const readonly = described.policies.get('readonly');
  if (request.name === undefined) {
    if (!request.json) return listing(described);
    const list = [...described.policies.values()].map((about) => ({
      name: about.name,
      builtin: about.builtin,
      basedOn: about.basedOn,
      summary: summary(about, readonly),
      users: described.users.get(about.name) ?? [],
    }));
    return `${JSON.stringify(list, null, 2)}\n`;
  }
  const about = described.policies.get(request.name);
  if (about === undefined) throw new ConfigError(`no policy "${request.name}" (known: ${[...described.policies.keys()].join(', ')})`);
  if (!request.json) return details(about, described);
  return `${JSON.stringify({ ...about, users: described.users.get(about.name) ?? [] }, null, 2)}\n`;
}

export async function runPolicies(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const request = parseRequest(argv, env);
    process.stdout.write(request === 'help' ? POLICIES_USAGE : show(request, env));
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    process.stderr.write(`rtorrent-gateway policies: ${error.message}\n`);
    return EXIT_USAGE;
  }
}

export const policiesCommand: Subcommand = {
  run: runPolicies,
};
