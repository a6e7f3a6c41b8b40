import pino from 'pino';
import { validateConfig, type ConfigSources } from '../config/load.js';
import { DEFAULT_UPSTREAM, type GatewayConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { buildGateway } from '../gateway.js';
import { error, ok, warning, type Finding } from '../ops/check-findings.js';
import { checkCredentialFile, htdigestFile, htpasswdFile, type CredentialCheck } from '../ops/credential-check.js';
import { processIdentity, type Identity } from '../ops/path-access.js';
import { probeUpstream, type UpstreamTarget } from '../ops/upstream-probe.js';
import { EXIT_CONFIG } from '../errors.js';

/**
 * `rtorrent-gateway --check`: is the configuration one the gateway starts with, and will it work?
 * Validates every key, builds the gateway as a start would (policies, htpasswd, TLS) without
 * listening, then asks each rtorrent for its version. One line per finding ("ok:", "warning:",
 * "error:") and a summary. Only errors fail the check (exit 78, as the gateway itself exits on
 * them): a reload through ExecReload= must go ahead while rtorrent is down, and the check may run
 * as another user than the service, so what depends on who runs it is a warning.
 */

/** EX_CONFIG, as the gateway exits on a configuration it cannot start with. */

export interface CheckOptions {
  /** Whose access to files and sockets to check; the running process by default. */
  readonly identity?: Identity;
  /** How long each rtorrent has to answer (default 3 s). */
  readonly probeTimeoutMs?: number;
  /** The systemd unit files to read ProtectHome= from; as systemd would find them by default. */
  readonly unitFiles?: readonly string[];
}

export interface CheckReport {
  readonly findings: readonly Finding[];
  /** The last line: the verdict in a few words. */
  readonly summary: string;
  /** 0 when the gateway would start with this configuration, 78 when not, 1 on an unexpected failure. */
  readonly exitCode: number;
}

const DEFAULT_PROBE_TIMEOUT_MS = 3000;
/** Read by the build in place of a credential file already reported, so the rest is still checked. */
const EMPTY_FILE = '/dev/null';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function summarise(findings: readonly Finding[], upstreams: { asked: number; answered: number }): string {
  const errors = findings.filter((finding) => finding.level === 'error').length;
  const warnings = findings.filter((finding) => finding.level === 'warning').length;
  if (errors > 0) {
    return `configuration invalid: ${plural(errors, 'error')}${warnings > 0 ? `, ${plural(warnings, 'warning')}` : ''}; rtorrent-gateway would not start with it`;
  }
  return `configuration OK; ${answering(upstreams)}; ${warnings === 0 ? 'no warnings' : plural(warnings, 'warning')}`;
}

function answering({ asked, answered }: { asked: number; answered: number }): string {
  if (asked === 1) return answered === 1 ? 'rtorrent answers' : 'rtorrent does not answer';
  if (answered === asked) return `all ${asked} rtorrents answer`;
  if (answered === 0) return `none of the ${asked} rtorrents answers`;
  return `${answered} of ${asked} rtorrents ${answered === 1 ? 'answers' : 'answer'}`;
}

/** What the build read besides the keys, so "valid" claims no more than was checked. */
function checkedParts(config: GatewayConfig): string {
  const parts = ['keys', 'policies', ...(config.server.tls === undefined ? [] : ['TLS files']), ...(config.audit.file === undefined ? [] : ['audit file'])];
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] as string}`;
}

function usersFinding(config: GatewayConfig): Finding {
  const users = [...config.access.users];
  if (users.length === 0) {
    return warning('access.users: no users, so every call is refused (403); add one under [access.users], e.g. admin = "full", or give --user admin=full');
  }
  const shown = users.slice(0, 6).map(([name, access]) => `${name}: ${access.policy}`);
  return ok(`access.users: ${plural(users.length, 'user')} (${shown.join(', ')}${users.length > shown.length ? ', …' : ''})`);
}

/** The build's own warnings (a user without a password), as findings; none about the stand-in file. */
function warningCollector(standIn: string): { logger: pino.Logger; findings: Finding[] } {
  const findings: Finding[] = [];
  const stream = {
    write(line: string): void {
      const { msg, level: _level, time: _time, err, ...fields } = JSON.parse(line) as Record<string, unknown>;
      if (Object.values(fields).includes(standIn)) return;
      const details = Object.entries(fields).map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
      if (err !== undefined) details.push(String((err as { message?: unknown }).message ?? err));
      findings.push(warning(`${String(msg)}${details.length > 0 ? ` (${details.join(', ')})` : ''}`));
    },
  };
  return { logger: pino({ level: 'warn', base: null }, stream), findings };
}

function upstreamTargets(config: GatewayConfig): UpstreamTarget[] {
  return config.upstreams.map((upstream) => ({
    key: upstream.name === DEFAULT_UPSTREAM ? 'upstream.scgi' : `upstreams.${upstream.name}.scgi`,
    address: upstream.scgi,
  }));
}

export async function runCheck(sources: ConfigSources, options: CheckOptions = {}): Promise<CheckReport> {
  const validation = validateConfig(sources);
  if (!validation.ok) {
    const findings = validation.problems.map(error);
    return { findings, summary: summarise(findings, { asked: 0, answered: 0 }), exitCode: EXIT_CONFIG };
  }
  const config = validation.config;
  const who = options.identity ?? processIdentity();

  const htpasswd = await checkCredentialFile(htpasswdFile(config.auth.htpasswd), who);
  const htdigest: CredentialCheck | undefined =
    config.auth.htdigest === undefined ? undefined : await checkCredentialFile(htdigestFile(config.auth.htdigest, config.auth.realm), who);

  // A file already reported is read as an empty one, so the TLS files, the policies and the rest
  // are checked all the same.
  const usable = (check: CredentialCheck | undefined): boolean => check === undefined || check.users !== undefined;
  const buildConfig: GatewayConfig = {
    ...config,
    auth: {
      ...config.auth,
      htpasswd: usable(htpasswd) ? config.auth.htpasswd : EMPTY_FILE,
      htdigest: usable(htdigest) ? config.auth.htdigest : EMPTY_FILE,
    },
  };
  const collector = warningCollector(EMPTY_FILE);
  const build: Finding[] = [];
  let unexpected = false;
  try {
    const app = await buildGateway(buildConfig, { logger: collector.logger, processMetrics: false });
    await app.close();
    build.push(ok(`configuration ${sources.file ?? '(flags and environment)'}: ${checkedParts(config)} valid`));
  } catch (failure) {
    if (!(failure instanceof GatewayError)) unexpected = true;
    build.push(error(failure instanceof Error ? failure.message : String(failure)));
  }

  const targets = upstreamTargets(config);
  const probes = await Promise.all(
    targets.map((target) => probeUpstream(target, { identity: who, timeoutMs: options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, unitFiles: options.unitFiles })),
  );
  const findings = [
    ...build,
    ...htpasswd.findings,
    ...(htdigest?.findings ?? []),
    usersFinding(config),
    ...collector.findings,
    ...probes.flatMap((probe) => probe.findings),
  ];
  const answered = probes.filter((probe) => probe.answered).length;
  const errors = findings.some((finding) => finding.level === 'error');
  return {
    findings,
    summary: summarise(findings, { asked: targets.length, answered }),
    exitCode: unexpected ? 1 : errors ? EXIT_CONFIG : 0,
  };
}

/** Findings in order; problems (warnings, errors) on stderr, so `--check >/dev/null` shows only them. */
export function writeCheckReport(report: CheckReport, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  for (const finding of report.findings) (finding.level === 'ok' ? out : err).write(`${finding.level}: ${finding.text}\n`);
  out.write(`${report.summary}\n`);
}
