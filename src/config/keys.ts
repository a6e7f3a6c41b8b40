import type { z } from 'zod';
import { RESTART_ONLY, type RestartRule } from './restart-rules.js';
import { configFileSchema } from './schema.js';
import { defOf, unwrap, type Schema } from './schema-walk.js';

/**
 * Every key of the configuration, read off the schema: what a flag or an environment variable may
 * set and how its text becomes the value, and which keys a reload cannot apply. Nothing else lists
 * keys; the README's table and gateway.example.toml are checked against this one.
 */
export type KeyKind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'users';

export interface ConfigKey {
  readonly path: readonly string[];
  /** As the file and the long flag spell it: "upstream.timeout". */
  readonly dotted: string;
  /**
   * How a flag's or variable's text becomes the value; undefined for tables that only the file can
   * hold ([upstreams.NAME], [policies.NAME], [[scgi.listeners]]).
   */
  readonly kind: KeyKind | undefined;
  /** A short flag kept for the keys set most often (`--listen`), besides `--server.listen`. */
  readonly flag: string | undefined;
  /** Set when a reload cannot apply the key. */
  readonly restart: RestartRule | undefined;
}

export const ENV_PREFIX = 'RTORRENT_GATEWAY_';

const SHORT_FLAGS: Readonly<Record<string, string>> = {
  'server.listen': 'listen',
  'server.paths': 'paths',
  'server.body_limit': 'body-limit',
  'server.hosts': 'hosts',
  'server.allowed_origins': 'allowed-origins',
  'server.socket_mode': 'socket-mode',
  'server.socket_group': 'socket-group',
  'server.tls.cert': 'tls-cert',
  'server.tls.key': 'tls-key',
  'upstream.scgi': 'upstream',
  'upstream.timeout': 'timeout',
  'upstream.max_connections': 'max-connections',
  'upstream.max_queue': 'max-queue',
  'auth.htpasswd': 'htpasswd',
  'auth.realm': 'realm',
  'access.users': 'user',
  'log.level': 'log-level',
  'log.format': 'log-format',
  'log.pretty': 'pretty',
  'audit.file': 'audit-file',
};

function isInteger(schema: Schema): boolean {
  return (schema as unknown as z.ZodNumber).isInt === true;
}

/** A value the text of a flag or variable can give: a scalar, a list of strings, or USER=POLICY pairs. */
function kindOf(schema: Schema): KeyKind | undefined {
  const inner = unwrap(schema);
  const def = defOf(inner);
  switch (def.type) {
    case 'string':
    case 'enum':
      return 'string';
    case 'number':
      return isInteger(inner) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'union':
      // Durations, sizes and modes are written as text ("10s", "16MiB", "0660") or plain numbers.
      return (def as z.core.$ZodUnionDef).options.some((option) => kindOf(option) === 'string') ? 'string' : undefined;
    case 'array':
      return kindOf((def as z.core.$ZodArrayDef).element) === 'string' ? 'list' : undefined;
    case 'record':
      // [access.users]: a policy name per user, which "alice=full" pairs can give.
      return kindOf((def as z.core.$ZodRecordDef).valueType) === 'string' ? 'users' : undefined;
    default:
      return undefined;
  }
}

function collect(schema: Schema, prefix: readonly string[]): ConfigKey[] {
  const def = defOf(unwrap(schema));
  if (def.type !== 'object') return [];
  return Object.entries((def as z.core.$ZodObjectDef).shape).flatMap(([name, child]) => {
    const path = [...prefix, name];
    const dotted = path.join('.');
    const table = defOf(unwrap(child)).type === 'object';
    const key: ConfigKey = { path, dotted, kind: table ? undefined : kindOf(child), flag: SHORT_FLAGS[dotted], restart: RESTART_ONLY.get(child as z.ZodType) };
    // A table ([server.tls]) is a key of its own only when something is said of it as a whole.
    return table ? [...(key.restart === undefined ? [] : [key]), ...collect(child, path)] : [key];
  });
}

export const CONFIG_KEYS: readonly ConfigKey[] = collect(configFileSchema, []);

/** The keys a flag or a variable may set. */
export const OVERRIDABLE_KEYS: readonly ConfigKey[] = CONFIG_KEYS.filter((key) => key.kind !== undefined);

export function envName(key: Pick<ConfigKey, 'path'>): string {
  return ENV_PREFIX + key.path.join('_').toUpperCase();
}
