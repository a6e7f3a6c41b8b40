import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ENV_PREFIX } from '../config/keys.js';
import { overridesFromEnv } from '../config/overrides.js';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';

/** What every subcommand does with its command line and with the gateway's configuration, the same way. */

/** A mistake on the command line, named with where to read how it is used; every subcommand exits 2 on it. */
export class UsageError extends ConfigError {
  constructor(subcommand: string, message: string) {
    super(`${message}; see rtorrent-gateway ${subcommand} --help`);
  }
}

export const EXIT_USAGE = 2;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict options and positionals; an unknown option or a missing value is a UsageError. */
export function subcommandArguments<T extends Options>(subcommand: string, argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(subcommand, (error as Error).message);
  }
}

/** The configuration file as the gateway finds it: --config, else RTORRENT_GATEWAY_CONFIG (empty: none). */
export function configFileFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return (flag ?? env[`${ENV_PREFIX}CONFIG`]) || undefined;
}

/** The configuration the gateway would run with: the file, with the RTORRENT_GATEWAY_* variables over it. */
export function gatewayConfig(file: string | undefined, env: NodeJS.ProcessEnv): GatewayConfig {
  return loadConfig({ file, overrides: overridesFromEnv(env) });
}
