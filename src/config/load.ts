import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { applyOverrides, type Override } from './overrides.js';
import { configFileSchema, normaliseConfig, type GatewayConfig } from './schema.js';

export interface ConfigSources {
  /** Path of the TOML file, if any. */
  readonly file?: string;
  /** Flag and environment overrides, in increasing priority. */
  readonly overrides?: readonly Override[];
}

function readToml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError(`${file}: cannot read the config file: ${reason}`, { cause: error });
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const firstLine = error.message.split('\n')[0] ?? error.message;
      throw new ConfigError(`${file}:${error.line}:${error.column}: TOML syntax error: ${firstLine}`, { cause: error });
    }
    throw error;
  }
}

/**
 * A value that may be written two ways (a user as "policy" or as a table) fails as a whole; the
 * branch that got furthest says what is wrong, at its own key.
 */
function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first !== undefined && (best === undefined || first.path.length > best.path.length)) best = first;
  }
  if (best === undefined || best.path.length === 0) return issue;
  return innermost({ ...best, path: [...issue.path, ...best.path] } as z.core.$ZodIssue);
}

function describeIssue(found: z.core.$ZodIssue, file: string | undefined, sources: Map<string, string>): string {
  const issue = innermost(found);
  let key = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    key = [...issue.path.map(String), issue.keys[0]].join('.');
    message = 'unknown key';
  } else if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    message = 'required key is missing';
  }
  const source = sources.get(key) ?? sources.get(issue.path.slice(0, 2).map(String).join('.'));
  const where = source ?? file ?? 'configuration (no --config file given)';
  return `${where}: ${key || '(top level)'}: ${message}`;
}

/** Reads, merges and validates the configuration; throws ConfigError with one line naming the key and where it came from. */
export function loadConfig(sources: ConfigSources): GatewayConfig {
  const raw = sources.file ? readToml(sources.file) : {};
  const overrideSources = applyOverrides(raw, sources.overrides ?? []);
  const result = configFileSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ConfigError(first ? describeIssue(first, sources.file, overrideSources) : 'invalid configuration');
  }
  return normaliseConfig(result.data);
}
