import { ConfigError } from '../errors.js';
import { ENV_PREFIX, envName, OVERRIDABLE_KEYS, type ConfigKey } from './keys.js';

/**
 * Every key the configuration file takes can also come from a flag or an environment variable, so a
 * container or a systemd drop-in can change one setting without a file. Which keys, and how their
 * text is read, comes from the schema (keys.ts).
 */
/** Variables with this prefix that are not config keys. */
const ENV_NOT_KEYS = new Set([`${ENV_PREFIX}CONFIG`]);

export interface Override {
  readonly leaf: ConfigKey;
  readonly raw: string | boolean | readonly string[];
  /** "flag --listen" or "environment RTORRENT_GATEWAY_SERVER_LISTEN", for error messages. */
  readonly source: string;
}

function coerce(leaf: ConfigKey, raw: string | boolean | readonly string[], source: string): unknown {
  switch (leaf.kind) {
    case 'string':
      return Array.isArray(raw) ? raw[raw.length - 1] : String(raw);
    case 'integer': {
      const text = String(Array.isArray(raw) ? raw[raw.length - 1] : raw).trim();
      if (!/^\d+$/.test(text)) throw new ConfigError(`${source}: ${JSON.stringify(text)} is not a whole number`);
      return Number(text);
    }
    case 'number': {
      const text = String(Array.isArray(raw) ? raw[raw.length - 1] : raw).trim();
      if (!/^\d+(?:\.\d+)?$/.test(text)) throw new ConfigError(`${source}: ${JSON.stringify(text)} is not a number such as 20 or 0.5`);
      return Number(text);
    }
    case undefined:
      throw new ConfigError(`${source}: ${leaf.dotted} is a table; set it in the configuration file`);
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
