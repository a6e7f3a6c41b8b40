import { closeSync, openSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { QUIET_OUTCOMES } from '../request-log-line.js';
import type { RequestSummary } from '../request-summary.js';

/**
 * Refusals that say someone tried something: a policy denial, a call that would cost rtorrent more
 * than allowed, a user without access, a web page, too many wrong passwords.
 */
const AUDITED_REFUSALS: ReadonlySet<string> = new Set(['denied', 'too_costly', 'forbidden', 'cross_site', 'throttled']);
const FULL = 'full';

/**
 * Policies that can run anything: `full` and every custom policy built on it. Their users can run
 * shell commands as rtorrent's user, so each of their calls belongs in the audit trail.
 */
export function fullPolicyNames(policies: GatewayConfig['policies']): Set<string> {
  const names = new Set([FULL]);
  for (const start of Object.keys(policies)) {
    const seen = new Set<string>();
    let name: string | undefined = start;
    while (name !== undefined && !seen.has(name)) {
      if (name === FULL) {
        names.add(start);
        break;
      }
      seen.add(name);
      name = policies[name]?.extends;
    }
  }
  return names;
}

/** An append-only JSON-lines file, reopened on SIGHUP so logrotate can move it away. */
export class AuditFile {
  readonly path: string;
  readonly #destination: ReturnType<typeof pino.destination>;
  readonly #logger: Logger;

  /** `onError`: a write that fails later (disk full, file removed without SIGHUP) is reported, not fatal. */
  constructor(path: string, onError: (error: Error) => void) {
    this.path = path;
    try {
      // Opened here first so a bad path fails the start or the reload, not a request later on.
      closeSync(openSync(path, 'a'));
    } catch (error) {
      throw new ConfigError(`audit.file: cannot open ${path} for appending: ${(error as Error).message}`, { cause: error });
    }
    // Synchronous writes: a record is on disk before the response it describes is logged as done.
    this.#destination = pino.destination({ dest: path, sync: true, mkdir: false, append: true });
    this.#destination.on('error', onError);
    this.#logger = pino({ base: { name: 'rtorrent-gateway-audit' }, timestamp: pino.stdTimeFunctions.isoTime }, this.#destination);
  }

  write(record: Record<string, unknown>): void {
    this.#logger.info(record, 'audit');
  }

  reopen(): void {
    this.#destination.reopen();
  }

  close(): void {
    this.#destination.end();
  }
}

/**
 * Which requests are audit records, and where they go besides the main log. One instance per
 * configuration; the file is shared with the next configuration when its path stays the same.
 */
export class AuditLog {
  readonly #full: ReadonlySet<string>;
  readonly file: AuditFile | undefined;

  constructor(config: GatewayConfig, file: AuditFile | undefined) {
    this.#full = fullPolicyNames(config.policies);
    this.file = file;
  }

  /** Opens the configured file, reusing `previous` (reopened) when the path is unchanged. */
  static open(config: GatewayConfig, previous: AuditFile | undefined, onError: (error: Error) => void): AuditLog {
    const path = config.audit.file;
    if (path === undefined) return new AuditLog(config, undefined);
    if (previous?.path === path) {
      previous.reopen();
      return new AuditLog(config, previous);
    }
    return new AuditLog(config, new AuditFile(path, onError));
  }

  readonly covers = (summary: RequestSummary): boolean => {
    if (AUDITED_REFUSALS.has(summary.outcome)) return true;
    // A wrong password for a named user; the anonymous first request of every client is not news.
    if (summary.outcome === 'unauthenticated' && summary.user !== undefined) return true;
    return summary.authenticated && summary.policy !== undefined && this.#full.has(summary.policy) && !QUIET_OUTCOMES.has(summary.outcome);
  };

  readonly record = (summary: RequestSummary): void => {
    if (this.file === undefined || !this.covers(summary)) return;
    this.file.write({
      user: summary.user,
      policy: summary.policy,
      remote: summary.remote,
      path: summary.path,
      methods: summary.methods,
      outcome: summary.outcome,
      status: summary.status,
      ...(summary.denial === undefined ? {} : { denial: summary.denial }),
    });
  };
}
