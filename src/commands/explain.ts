import { readFile } from 'node:fs/promises';
import { costRefusal, decideCall, decideJsonRpcCall, needsSizes, type CallDecision, type Caller, type DecideOptions } from '../call-decision.js';
import { ENV_PREFIX } from '../config/keys.js';
import { configFileFrom, gatewayConfig, subcommandArguments, UsageError } from './arguments.js';
import type { GatewayConfig } from '../config/schema.js';
import { CostLimitError, GatewayError, PolicyDeniedError } from '../errors.js';
import { parseJsonRpcRequest } from '../jsonrpc/parse.js';
import { ARGUMENT_RULE_COMMANDS, describeRuleArguments } from '../policy/arguments.js';
import { resolvePolicies, type ResolvedPolicy } from '../policy/compile.js';
import { describePolicy, evaluatedArguments, type PolicyDescription } from '../policy/describe.js';
import { LOAD_METHODS } from '../policy/evaluators.js';
import type { CompiledPolicy } from '../policy/index.js';
import { type CallTrace, type ReachedCommand, traceCall } from '../policy/trace.js';
import { clip } from '../text-snippet.js';
import { parseMethodCall } from '../xmlrpc/parse.js';
import type { MethodCall } from '../xmlrpc/types.js';
import type { Subcommand } from './index.js';
import { compileAccessPolicies } from '../ops/runtime.js';

export const EXPLAIN_USAGE = `Usage: rtorrent-gateway explain --config FILE --user USER [--json] [CALL | -]

Judges one call body as the gateway would for USER, without contacting rtorrent: the same parser,
the same policy and the same decision. CALL is a file holding an XML-RPC methodCall or a JSON-RPC
request or batch (a body that starts with { or [ is JSON-RPC); without CALL, or with -, the body
is read from standard input.

Prints the verdict; every command the call would run and where it sits (top level, system.multicall
call N, a command string in argument K of d.multicall2, a command run after a load.* source, a
JSON-RPC batch entry); for a refusal, the policy's reason; for an allowed call, why each command
passes, what the call may cost and whether it changes anything.

  --config FILE   the gateway's TOML config (default: ${ENV_PREFIX}CONFIG, with ${ENV_PREFIX}*
                  variables applied as the gateway applies them)
  --user USER     a user of [access.users], whose policy judges the call
  --json          one JSON object on standard output instead of text
  --help

Exit status: 0 allowed, 1 refused, 2 unusable input (a body that does not parse, an unknown user,
a configuration the gateway would not start with, wrong usage).
`;

const EXIT_ALLOWED = 0;
const EXIT_REFUSED = 1;
const EXIT_UNUSABLE = 2;


interface ExplainRequest {
  readonly configFile: string | undefined;
  readonly user: string;
  /** a file name, or undefined for standard input */
  readonly input: string | undefined;
  readonly json: boolean;
}

function parseRequest(argv: readonly string[], env: NodeJS.ProcessEnv): ExplainRequest | 'help' {
  const { values, positionals } = subcommandArguments('explain', argv, {
    config: { type: 'string' },
    user: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help === true) return 'help';
  if (values.user === undefined || values.user === '') throw new UsageError('explain', 'name the caller with --user USER');
  if (positionals.length > 1) throw new UsageError('explain', `one call at a time, got ${positionals.length} files`);
  const configFile = configFileFrom(values.config, env);
  if (configFile === undefined) throw new UsageError('explain', `name the gateway's config with --config FILE (or ${ENV_PREFIX}CONFIG)`);
  const input = positionals[0] === '-' ? undefined : positionals[0];
  return { configFile, user: values.user, input, json: values.json === true };
}

/** The whole body; refused as the gateway refuses it before parsing when empty (400) or over server.body_limit (413). */
async function readBody(input: string | undefined, bodyLimit: number): Promise<Buffer> {
  const from = input ?? 'standard input';
  const tooLarge = (): GatewayError =>
    new GatewayError('GW_BODY_TOO_LARGE', `the body in ${from} is over server.body_limit (${bodyLimit} bytes); the gateway answers 413`);
  let body: Buffer;
  if (input !== undefined) {
    try {
      body = await readFile(input);
    } catch (error) {
      throw new UsageError('explain', `cannot read ${input}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (body.length > bodyLimit) throw tooLarge();
  } else {
    if (process.stdin.isTTY) throw new UsageError('explain', 'give the call as a file, or pipe it into standard input');
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of process.stdin) {
      length += (chunk as Buffer).length;
      if (length > bodyLimit) throw tooLarge();
      chunks.push(chunk as Buffer);
    }
    body = Buffer.concat(chunks);
  }
  if (body.length === 0) throw new GatewayError('GW_BAD_REQUEST', `the body in ${from} is empty; the gateway answers 400`);
  return body;
}

/** The gateway takes JSON-RPC by Content-Type; a file has none, and no XML-RPC body starts with { or [. */
function looksLikeJson(body: Buffer): boolean {
  const first = /[^ \t\r\n]/.exec(body.subarray(0, 256).toString('latin1'))?.[0];
  return first === '{' || first === '[';
}

interface Judged {
  readonly decision: CallDecision;
  /** The cost refusal the gateway makes after the decision, when the estimate needs no list sizes. */
  readonly tooCostly: GatewayError | undefined;
  /** Each call of the body (one, or a JSON-RPC batch's) with its trace. */
  readonly traces: readonly CallTrace[];
  /** A JSON-RPC batch: every entry is checked, and one refused entry refuses them all. */
  readonly batch: boolean;
}

function judge(body: Buffer, json: boolean, caller: Caller, config: GatewayConfig, options: DecideOptions): Judged {
  const decision = (json ? decideJsonRpcCall : decideCall)(body, caller, options);
  if (decision.kind === 'refuse' && decision.outcome === 'invalid') return { decision, tooCostly: undefined, traces: [], batch: false };
  // The decision parsed the body already and kept nothing but bytes; read it again, the same way, for the trace.
  const request = json ? parseJsonRpcRequest(body, { ...config.limits.xml, maxBatchSize: config.limits.xml.maxMulticallCalls }) : undefined;
  const calls: MethodCall[] = request?.calls.map((entry) => entry.call) ?? [parseMethodCall(body, config.limits.xml)];
  const tooCostly = decision.kind === 'forward' && !needsSizes(decision, caller) ? costRefusal(decision, caller, undefined) : undefined;
  return { decision, tooCostly, traces: calls.map((call) => traceCall(caller.policy, call)), batch: request?.batch ?? false };
}

// ---------------------------------------------------------------------------------------------
// What each command is and why it passes

function place(entry: ReachedCommand, batchEntry: number | undefined): string {
  const parts: string[] = [];
  const { place: at } = entry;
  if (at.kind === 'top level') parts.push(entry.call === undefined ? 'top level' : `system.multicall call ${entry.call}`);
  else {
    const text = JSON.stringify(clip(at.text, 60));
    const how = at.how === 'name' ? `called by name in ${text}` : `${at.how} in ${text}`;
    const argument = at.kind === 'after load' ? `run on the new download, ${at.method} argument ${at.argument}` : `${at.method} argument ${at.argument}`;
    parts.push(how, argument);
    if (entry.call !== undefined) parts.push(`system.multicall call ${entry.call}`);
  }
  if (batchEntry !== undefined) parts.push(`JSON-RPC batch entry ${batchEntry}`);
  return parts.join(', ');
}

function listedBy(command: string, about: PolicyDescription): string {
  if (!about.inspected) return `policy "${about.name}" forwards every call that parses, without looking further`;
  if (about.allowsAll) return `policy "${about.name}" is built on full and does not deny it`;
  const from = about.allowedFrom.find((group) => group.commands.includes(command))?.policy;
  if (from === undefined) return `policy "${about.name}" allows it here`;
  return from === about.name ? `in the allow list of policy "${from}"` : `in the allow list of policy "${from}", which "${about.name}" is built on`;
}

/** Why an allowed command passes, as far as the policy can tell. */
function reasons(entry: ReachedCommand, about: PolicyDescription): string[] {
  const { command } = entry;
  if (entry.place.kind === 'after load') {
    const why = [`on the fixed list of commands that may follow a load source in policy "${about.name}"`];
    const rule = describeRuleArguments(command, about.downloadRoots);
    if (rule !== null) why.push(`argument: ${rule}`);
    return why;
  }
  const why = [listedBy(command, about)];
  if (!about.inspected) return why;
  if (ARGUMENT_RULE_COMMANDS.has(command)) why.push(`argument: ${describeRuleArguments(command, about.downloadRoots) ?? ''}`);
  if (LOAD_METHODS.has(command) && entry.place.kind === 'top level') {
    why.push(`source: ${about.loadSources ?? 'nothing'}`, 'arguments 2 on are commands run on the new download; each must be on the list that may follow a load');
  } else {
    const evaluated = evaluatedArguments(command);
    if (evaluated !== undefined) why.push(`${evaluated}; every command in them is checked too`);
  }
  return why;
}

interface CommandReport {
  readonly command: string;
  readonly where: string;
  readonly place: ReachedCommand['place'];
  readonly call?: number;
  readonly batchEntry?: number;
  readonly verdict: 'allowed' | 'refused';
  readonly why: readonly string[];
}

function commandReports(judged: Judged, about: PolicyDescription): CommandReport[] {
  const { batch } = judged;
  return judged.traces.flatMap((trace, index) => {
    const refused = trace.verdict.allowed ? undefined : trace.verdict;
    return trace.reached.map((entry, position): CommandReport => {
      const batchEntry = batch ? index + 1 : undefined;
      // The check stops at what it refuses, so a refused command is the last one reached.
      const isRefused = refused !== undefined && !refused.costly && position === trace.reached.length - 1 && (entry.command === refused.method || !entry.listed);
      return {
        command: entry.command,
        where: place(entry, batchEntry),
        place: entry.place,
        ...(entry.call !== undefined ? { call: entry.call } : {}),
        ...(batchEntry !== undefined ? { batchEntry } : {}),
        verdict: isRefused ? 'refused' : 'allowed',
        why: isRefused ? [refused.reason] : reasons(entry, about),
      };
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The report

interface Report {
  readonly verdict: 'allowed' | 'refused';
  readonly user: string;
  readonly policy: string;
  readonly protocol: 'xml-rpc' | 'json-rpc';
  readonly batch: boolean;
  readonly refusal?: { readonly code: string; readonly faultCode: number; readonly method: string | undefined; readonly reason: string; readonly message: string };
  readonly commands: readonly CommandReport[];
  /** false: the policy forwards whatever parses, so only the top-level names are known. */
  readonly inspected: boolean;
  readonly readOnly?: boolean;
  readonly cost?: { readonly estimate: string; readonly limit: number | undefined; readonly limitKey: string | undefined; readonly needsTorrentCounts: boolean };
  readonly untrusted?: { readonly from: string; readonly to?: string };
  readonly notes: readonly string[];
}

function refusalOf(error: GatewayError): NonNullable<Report['refusal']> {
  const refused = error instanceof PolicyDeniedError || error instanceof CostLimitError ? error : undefined;
  return { code: error.code, faultCode: error.faultCode, method: refused?.method, reason: refused?.reason ?? error.message, message: error.message };
}

function buildReport(judged: Judged, caller: Caller, about: PolicyDescription, json: boolean, notes: string[]): Report {
  const { decision } = judged;
  const base = {
    user: caller.user,
    policy: caller.policy.name,
    protocol: json ? ('json-rpc' as const) : ('xml-rpc' as const),
    batch: judged.batch,
    commands: commandReports(judged, about),
    inspected: about.inspected,
    notes,
  };
  if (decision.kind === 'refuse') return { ...base, verdict: 'refused', refusal: refusalOf(decision.error) };
  const limit = caller.policy.limits.maxAnswerCells;
  const cost =
    decision.cost === undefined
      ? undefined
      : { estimate: decision.cost.describe(), limit: limit?.value, limitKey: limit?.key, needsTorrentCounts: decision.cost.needsSizes };
  const shared = { ...base, readOnly: decision.readOnly, ...(cost !== undefined ? { cost } : {}), ...(decision.untrusted !== undefined ? { untrusted: decision.untrusted } : {}) };
  if (judged.tooCostly !== undefined) return { ...shared, verdict: 'refused', refusal: refusalOf(judged.tooCostly) };
  return { ...shared, verdict: 'allowed' };
}

function heading(report: Report): string {
  if (!report.inspected) return 'commands (the policy forwards the call as parsed; command strings are not inspected):';
  if (report.refusal?.code !== 'GW_POLICY_DENIED') return 'commands that would run:';
  // Every entry of a batch is checked; within one call, the check stops at what it refuses.
  return report.batch ? 'commands checked:' : 'commands checked, in order, up to the refusal:';
}

function text(report: Report): string {
  const who = `user "${report.user}" (policy "${report.policy}")`;
  const lines: string[] = [];
  if (report.refusal === undefined) lines.push(`allowed for ${who}`);
  else {
    const { method, reason, faultCode, message } = report.refusal;
    lines.push(`refused for ${who}${method === undefined ? '' : `: ${method}`}`, `  reason: ${reason}`, `  the gateway answers fault ${faultCode}: ${message}`);
  }
  lines.push('', heading(report));
  report.commands.forEach((command, index) => {
    lines.push(`  ${index + 1}. ${command.command} (${command.where})`);
    // The first reason decides; the others say what is checked beyond the name.
    command.why.forEach((why, line) => lines.push(line === 0 ? `     ${command.verdict}: ${why}` : `     ${why}`));
  });
  if (report.commands.length === 0) lines.push('  (none)');
  if (report.readOnly !== undefined) {
    lines.push('', report.readOnly ? 'changes nothing: the readonly policy allows it too' : 'may change state: the readonly policy would refuse it');
  }
  if (report.cost !== undefined) {
    const limit = report.cost.limit === undefined ? 'no limit' : `limit ${report.cost.limit} (${report.cost.limitKey})`;
    const sizes = report.cost.needsTorrentCounts ? "; the list sizes are rtorrent's, weighed when the call is made" : '';
    lines.push(`estimated answer, in cells of 32 bytes: ${report.cost.estimate}; ${limit}${sizes}`);
  }
  if (report.untrusted !== undefined) {
    const releases = report.untrusted.to === undefined ? `${report.untrusted.from} and later` : `${report.untrusted.from} to ${report.untrusted.to}`;
    lines.push(`rtorrent ${releases} gets it marked UNTRUSTED_CONNECTION=1 (unless upstream.untrusted = "never") and checks it against its own safe list too`);
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

interface Setup {
  readonly config: GatewayConfig;
  readonly caller: Caller;
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  readonly resolved: ReadonlyMap<string, ResolvedPolicy>;
}

/** The config, the user's policy as the gateway builds it, and every policy's definition. */
function setUp(request: ExplainRequest, env: NodeJS.ProcessEnv): Setup {
  const config = gatewayConfig(request.configFile, env);
  const options = { bodyLimit: config.server.bodyLimit, limits: config.limits.policies };
  const policies = compileAccessPolicies(config);
  const access = config.access.users.get(request.user);
  if (access === undefined) {
    throw new GatewayError(
      'GW_FORBIDDEN_USER',
      `user "${request.user}" is not in [access.users] (known: ${[...config.access.users.keys()].join(', ') || 'none'}); the gateway answers such a user with 403`,
    );
  }
  const policy = policies.get(access.policy)!;
  return { config, policies, resolved: resolvePolicies(config.policies, options), caller: { user: request.user, policy: policy.forUser(request.user) } };
}

/** What the gateway would do differently from the policy's verdict, for this body. */
function transportNotes(json: boolean, request: ExplainRequest, config: GatewayConfig): string[] {
  if (!json) return [];
  const bound = config.access.users.get(request.user)?.upstream;
  const reachable = config.upstreams.filter((upstream) => bound === undefined || upstream.name === bound);
  if (reachable.some((upstream) => upstream.jsonrpc)) return [];
  return ['JSON-RPC is not enabled for the rtorrent this user reaches (upstream.jsonrpc), so the gateway answers such a body with 415'];
}

async function explain(request: ExplainRequest, env: NodeJS.ProcessEnv): Promise<number> {
  const { config, caller, policies, resolved } = setUp(request, env);
  const body = await readBody(request.input, config.server.bodyLimit);
  const json = looksLikeJson(body);
  const judged = judge(body, json, caller, config, { limits: config.limits.xml, readOnlyPolicy: policies.get('readonly') });
  if (judged.decision.kind === 'refuse' && judged.decision.outcome === 'invalid') {
    const { error } = judged.decision;
    throw new GatewayError(error.code, `the body is not a call the gateway takes: ${error.message}`);
  }
  const report = buildReport(judged, caller, describePolicy(caller.policy, resolved), json, transportNotes(json, request, config));
  process.stdout.write(request.json ? `${JSON.stringify(report, null, 2)}\n` : text(report));
  return report.verdict === 'allowed' ? EXIT_ALLOWED : EXIT_REFUSED;
}

export async function runExplain(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let json = false;
  try {
    const request = parseRequest(argv, env);
    if (request === 'help') {
      process.stdout.write(EXPLAIN_USAGE);
      return EXIT_ALLOWED;
    }
    json = request.json;
    return await explain(request, env);
  } catch (error) {
    // Exit 1 means "refused" to a script, so nothing else may end with it, not even a bug.
    const known = error instanceof GatewayError;
    const message = known ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`rtorrent-gateway explain: ${message}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ verdict: 'unusable', error: { code: known ? error.code : null, message } }, null, 2)}\n`);
    return EXIT_UNUSABLE;
  }
}

export const explainCommand: Subcommand = {
  run: runExplain,
};
