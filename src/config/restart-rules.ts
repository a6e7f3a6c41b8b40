import { z } from 'zod';

/**
 * Keys a reload cannot apply: read once, when the server is created or starts listening. The
 * schema marks them where it declares them (restartOnly()), so the keys that need a restart are
 * never a second list to keep in step.
 */
export interface RestartRule {
  /**
   * What of the configuration decides whether a restart is needed, when it is not the key's value as
   * written: switching TLS on or off needs one, new files at the same paths do not; an
   * [upstreams.NAME] key left out and the same value written out are one setting. `config` is the
   * normalised configuration (GatewayConfig), with every default and inherited value filled in.
   */
  readonly compare?: (value: unknown, config: unknown) => unknown;
}

export const RESTART_ONLY = z.registry<RestartRule>();

export function restartOnly<T extends z.ZodType>(schema: T, rule: RestartRule = {}): T {
  RESTART_ONLY.add(schema, rule);
  return schema;
}
