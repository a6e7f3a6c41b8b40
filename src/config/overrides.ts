import { ConfigError } from '../errors.js';

/**
 * Every config key can also come from a flag or an environment variable, so a container or a
 * systemd drop-in can change one setting without a file. The table below is the single list of
 * overridable keys; flag and variable names are derived from it.
 */
type LeafKind = 'string' | 'integer' | 'list' | 'boolean' | 'users';

interface Leaf {
  readonly path: readonly string[];
  readonly kind: LeafKind;
  /** Short flag kept for the common keys (`--listen`, `--upstream`, `--htpasswd`). */
  readonly flag?: string;
}

export const OVERRIDABLE_KEYS: readonly Leaf[] = [
  { path: ['server', 'listen'], kind: 'string', flag: 'listen' },
  { path: ['server', 'paths'], kind: 'list', flag: 'paths' },
  { path: ['server', 'body_limit'], kind: 'string', flag: 'body-limit' },
  { path: ['server', 'hosts'], kind: 'list', flag: 'hosts' },
  { path: ['server', 'allowed_origins'], kind: 'list', flag: 'allowed-origins' },
  { path: ['server', 'socket_mode'], kind: 'string', flag: 'socket-mode' },
  { path: ['server', 'socket_group'], kind: 'string', flag: 'socket-group' },
  { path: ['server', 'tls', 'cert'], kind: 'string', flag: 'tls-cert' },
  { path: ['server', 'tls', 'key'], kind: 'string', flag: 'tls-key' },
  { path: ['server', 'shutdown_timeout'], kind: 'string' },
  { path: ['server', 'trust_proxy'], kind: 'boolean' },
  { path: ['server', 'compress'], kind: 'boolean' },
  { path: ['server', 'compress_min_bytes'], kind: 'string' },
  { path: ['upstream', 'scgi'], kind: 'string', flag: 'upstream' },
  { path: ['upstream', 'timeout'], kind: 'string', flag: 'timeout' },
  { path: ['upstream', 'max_connections'], kind: 'integer', flag: 'max-connections' },
  { path: ['upstream', 'max_queue'], kind: 'integer', flag: 'max-queue' },
  { path: ['upstream', 'read_cache_ttl'], kind: 'string' },
  { path: ['upstream', 'read_cache_max_bytes'], kind: 'string' },
  { path: ['auth', 'htpasswd'], kind: 'string', flag: 'htpasswd' },
  { path: ['auth', 'realm'], kind: 'string', flag: 'realm' },
  { path: ['access', 'users'], kind: 'users', flag: 'user' },
  { path: ['log', 'level'], kind: 'string', flag: 'log-level' },
  { path: ['log', 'format'], kind: 'string', flag: 'log-format' },
  { path: ['log', 'pretty'], kind: 'boolean', flag: 'pretty' },
  { path: ['metrics', 'enabled'], kind: 'boolean' },
  { path: ['metrics', 'path'], kind: 'string' },
  { path: ['metrics', 'public'], kind: 'boolean' },
  { path: ['metrics', 'users'], kind: 'list' },
  { path: ['audit', 'file'], kind: 'string', flag: 'audit-file' },
];

export const ENV_PREFIX = 'RTORRENT_GATEWAY_';
/** Variables with this prefix that are not config keys. */
const ENV_NOT_KEYS = new Set([`${ENV_PREFIX}CONFIG`]);

export function envName(leaf: Leaf): string {
  return ENV_PREFIX + leaf.path.join('_').toUpperCase();
}

export interface Override {
  readonly leaf: Leaf;
  readonly raw: string | boolean | readonly string[];
  /** "flag --listen" or "environment RTORRENT_GATEWAY_SERVER_LISTEN", for error messages. */
  readonly source: string;
}

function coerce(leaf: Leaf, raw: string | boolean | readonly string[], source: string): unknown {
  switch (leaf.kind) {
    case 'string':
      return Array.isArray(raw) ? raw[raw.length - 1] : String(raw);
    case 'integer': {
      const text = String(Array.isArray(raw) ? raw[raw.length - 1] : raw).trim();
      if (!/^\d+$/.test(text)) throw new ConfigError(`${source}: ${JSON.stringify(text)} is not a whole number`);
      return Number(text);
    }
    case 'list':
      return (Array.isArray(raw) ? raw : String(raw).split(','))
        .flatMap((item: string) => item.split(','))
        .map((item: string) => item.trim())
        .filter((item: string) => item !== '');
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const text = String(raw).toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(text)) return true;
      if (['0', 'false', 'no', 'off'].includes(text)) return false;
      throw new ConfigError(`${source}: ${JSON.stringify(raw)} is not true or false`);
    }
    case 'users': {
      const users: Record<string, string> = {};
      const items = (Array.isArray(raw) ? raw : [String(raw)]).flatMap((item: string) => item.split(','));
      for (const item of items.map((entry) => entry.trim()).filter(Boolean)) {
        const match = /^([^=\s]+)=([^=\s]+)$/.exec(item);
        if (!match) throw new ConfigError(`${source}: "${item}" is not USER=POLICY`);
        users[match[1] as string] = match[2] as string;
      }
      return users;
    }
  }
}

/** Collects overrides from the environment; unknown RTORRENT_GATEWAY_* names are errors, since a typo would otherwise be silently ignored. */
export function overridesFromEnv(env: NodeJS.ProcessEnv): Override[] {
  const byName = new Map(OVERRIDABLE_KEYS.map((leaf) => [envName(leaf), leaf]));
  const found: Override[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || ENV_NOT_KEYS.has(name) || value === undefined) continue;
    const leaf = byName.get(name);
    if (!leaf) {
      throw new ConfigError(
        `environment ${name}: not a setting; known: ${[...byName.keys(), ...ENV_NOT_KEYS].join(', ')}`,
      );
    }
    found.push({ leaf, raw: value, source: `environment ${name}` });
  }
  return found;
}

/** Writes overrides into the raw (pre-validation) config object; flags win over the environment, both over the file. */
export function applyOverrides(raw: Record<string, unknown>, overrides: readonly Override[]): Map<string, string> {
  const sources = new Map<string, string>();
  for (const override of overrides) {
    const value = coerce(override.leaf, override.raw, override.source);
    let node = raw;
    const parents = override.leaf.path.slice(0, -1);
    for (const key of parents) {
      const child = node[key];
      if (child === undefined || child === null || typeof child !== 'object' || Array.isArray(child)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = override.leaf.path[override.leaf.path.length - 1] as string;
    if (override.leaf.kind === 'users' && typeof node[last] === 'object' && node[last] !== null) {
      node[last] = { ...(node[last] as object), ...(value as object) };
    } else {
      node[last] = value;
    }
    sources.set(override.leaf.path.join('.'), override.source);
  }
  return sources;
}
