import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { describeIssues } from './issue-text.js';
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

export type ConfigValidation =
  | { readonly ok: true; readonly config: GatewayConfig }
  /** One line per problem, each naming where it came from and the key. */
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reads, merges and validates the configuration, collecting every problem the schema finds at once
 * (unknown keys next to a missing one), so one edit can fix them all.
 */
export function validateConfig(sources: ConfigSources): ConfigValidation {
  let raw: Record<string, unknown>;
  let overrideSources: Map<string, string>;
  try {
    raw = sources.file ? readToml(sources.file) : {};
    overrideSources = applyOverrides(raw, sources.overrides ?? []);
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, problems: [error.message] };
    throw error;
  }
  // The input goes into the issues, so a message can show what was written.
  const result = configFileSchema.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, config: normaliseConfig(result.data) };
  const problems = describeIssues(result.error.issues, { schema: configFileSchema, file: sources.file, sources: overrideSources });
  return { ok: false, problems: problems.length > 0 ? problems : ['invalid configuration'] };
}

/** One problem stays one line, as the journal shows it; several get a line each under a count. */
export function configProblemsMessage(problems: readonly string[]): string {
  if (problems.length === 1) return problems[0] as string;
  return [`${problems.length} problems in the configuration:`, ...problems.map((problem) => `  ${problem}`)].join('\n');
}

/** Reads, merges and validates the configuration; throws ConfigError naming every problem, its key and where it came from. */
export function loadConfig(sources: ConfigSources): GatewayConfig {
  const validation = validateConfig(sources);
  if (!validation.ok) throw new ConfigError(configProblemsMessage(validation.problems));
  return validation.config;
}
