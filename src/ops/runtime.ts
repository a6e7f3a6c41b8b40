import type { onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { DigestAuthenticator, type DigestNonces } from '../auth/digest.js';
import { loadHtdigest } from '../auth/htdigest.js';
import { Authenticator } from '../auth/authenticator.js';
import type { VerifiedCredentialCache } from '../auth/credential-cache.js';
import { loadHtpasswd } from '../auth/htpasswd.js';
import { CONFIG_KEYS, type ConfigKey } from '../config/keys.js';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { AccessTable } from '../auth/access.js';
import { crossSiteGuard } from '../http/cross-site.js';
import type { CompressionSettings } from '../http/compression.js';
import { SCOPED_USER_NAME } from '../policy/owner-tag.js';
import { compilePolicies, type CompiledPolicy } from '../policy/index.js';
import type { CallBudget, Limit } from '../policy/types.js';
import { AuditLog, type AuditFile } from './audit.js';
import { loadTls, type TlsMaterial } from './tls.js';

/**
 * Everything a request looks up that a reload may change. Built whole, then swapped in one
 * assignment: a request sees either the old runtime or the new one, never half of each.
 */
export interface Runtime {
  readonly config: GatewayConfig;
  readonly authenticator: Authenticator;
  /** Offered next to Basic when auth.htdigest is set. */
  readonly digest: DigestAuthenticator | undefined;
  readonly access: AccessTable;
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  readonly crossSite: onRequestHookHandler;
  readonly tls: TlsMaterial | undefined;
  readonly audit: AuditLog;
  /** Who may read /metrics when it is not public; undefined: every user with access. */
  readonly metricsUsers: ReadonlySet<string> | undefined;
  /** server.compress and server.compress_min_bytes, which a reload applies to the next answers. */
  readonly compression: CompressionSettings;
  /** Each user's call budget: their [access.users] entry over their policy's over [limits]. */
  budgetOf(user: string, policy: CompiledPolicy): CallBudget;
}

/** A user's own budget keys win over their policy's; 0 turns a limit off. */
function userBudgets(config: GatewayConfig, policies: ReadonlyMap<string, CompiledPolicy>): Map<string, CallBudget> {
  const budgets = new Map<string, CallBudget>();
  for (const [user, access] of config.access.users) {
    const policy = policies.get(access.policy);
    if (policy === undefined) continue;
    const own = (key: 'calls_in_flight' | 'call_rate' | 'call_burst', inherited: Limit | undefined): Limit | undefined => {
      const value = access[key];
      if (value === undefined) return inherited;
      return value === 0 ? undefined : { value, key: `access.users.${user}.${key}` };
    };
    const inherited = policy.limits.budget;
    budgets.set(user, {
      callsInFlight: own('calls_in_flight', inherited.callsInFlight),
      callRate: own('call_rate', inherited.callRate),
      callBurst: own('call_burst', inherited.callBurst) ?? inherited.callBurst,
    });
  }
  return budgets;
}

export interface RuntimeDeps {
  /** Shared across reloads: its keys include the stored hash, so a changed password is never served from it. */
  readonly cache: VerifiedCredentialCache;
  readonly logger: Logger;
  /** The audit file in use, reused (and reopened) when the path stays the same. */
  readonly auditFile?: AuditFile;
  /** Digest nonces issued before a reload stay valid after it. */
  readonly digestNonces?: DigestNonces;
}

/**
 * The configured policies, compiled, with every user's policy resolved and their name checked for
 * it: a typo is a start-up error, not a 403 at run time. The gateway and the offline subcommands
 * (explain, policies) accept exactly the same configurations.
 */
export function compileAccessPolicies(config: GatewayConfig): Map<string, CompiledPolicy> {
  const policies = compilePolicies(config.policies, { bodyLimit: config.server.bodyLimit, limits: config.limits.policies });
  checkAccess(config, policies);
  return policies;
}

function checkAccess(config: GatewayConfig, policies: ReadonlyMap<string, CompiledPolicy>): void {
  for (const [user, access] of config.access.users) {
    if (!policies.has(access.policy)) {
      throw new ConfigError(
        `access.users.${user}: unknown policy "${access.policy}" (known: ${[...policies.keys()].join(', ')})`,
      );
    }
    // The name goes into rtorrent command strings (the owner tag, the list filter) and paths ({user}).
    const policy = policies.get(access.policy)!;
    if ((policy.scope === 'own' || policy.forUser(user) !== policy) && !SCOPED_USER_NAME.test(user)) {
      throw new ConfigError(
        `access.users.${user}: policy "${access.policy}" keeps torrents or paths per user, so the user name may only use letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)`,
      );
    }
  }
}

/** Reads the htpasswd file, compiles policies, loads TLS files; throws GatewayError without side effects except opening a new audit file, which comes last. */
export async function buildRuntime(config: GatewayConfig, deps: RuntimeDeps): Promise<Runtime> {
  const policies = compileAccessPolicies(config);
  const users = await loadHtpasswd(config.auth.htpasswd);
  const tls = config.server.tls === undefined ? undefined : await loadTls(config.server.tls);
  const digest =
    config.auth.htdigest === undefined
      ? undefined
      : new DigestAuthenticator(await loadHtdigest(config.auth.htdigest, config.auth.realm), {
          realm: config.auth.realm,
          nonces: deps.digestNonces,
        });
  for (const user of config.access.users.keys()) {
    if (!users.has(user)) deps.logger.warn({ user, htpasswd: config.auth.htpasswd }, 'user in [access.users] has no password in the htpasswd file');
  }
  for (const user of config.metrics.users) {
    if (!config.access.users.has(user)) deps.logger.warn({ user }, 'user in metrics.users is not in [access.users], so it cannot log in');
  }
  const userPolicies = config.access.users;
  const budgets = userBudgets(config, policies);
  const audit = AuditLog.open(config, deps.auditFile, (error) => deps.logger.error({ err: error, file: config.audit.file }, 'cannot write to the audit file'));
  return {
    config,
    authenticator: new Authenticator(users, deps.cache),
    digest,
    access: { policyOf: (user) => userPolicies.get(user)?.policy, upstreamOf: (user) => userPolicies.get(user)?.upstream },
    policies,
    crossSite: crossSiteGuard({ hosts: config.server.hosts, allowedOrigins: config.server.allowedOrigins }),
    tls,
    audit,
    metricsUsers: config.metrics.users.length > 0 ? new Set(config.metrics.users) : undefined,
    compression: { enabled: config.server.compress, minBytes: config.server.compressMinBytes },
    // A user looked up by name (an SCGI listener's, say) whose entry is gone gets its policy's budget.
    budgetOf: (user, policy) => budgets.get(user) ?? policy.limits.budget,
  };
}

function valueAt(values: unknown, path: readonly string[]): unknown {
  let node = values;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

/** The keys a reload cannot apply (marked in the schema) whose value differs between the running and the new configuration. */
export function keysNeedingRestart(running: GatewayConfig, next: GatewayConfig): string[] {
  const seen = (config: GatewayConfig, key: ConfigKey): string => {
    const value = valueAt(config.values, key.path);
    return JSON.stringify(key.restart?.compare === undefined ? value : key.restart.compare(value, config)) ?? 'undefined';
  };
  return CONFIG_KEYS.filter((key) => key.restart !== undefined && seen(running, key) !== seen(next, key)).map((key) => key.dotted);
}
