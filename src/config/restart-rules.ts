import { z } from 'zod';

/**
 * Keys a reload cannot apply: read once, when the server is created or starts listening. The
 * schema marks them where it declares them (restartOnly()), so the keys that need a restart are
 * never a second list to keep in step.
 */
export interface RestartRule {
  /**
   * What of the configuration decides whether a restart is needed, when it is not the key's value
   * alone: switching TLS on or off needs one, new files at the same paths do not.
   */
  readonly compare?: (value: unknown, config: unknown) => unknown;
}

export const RESTART_ONLY = z.registry<RestartRule>();

export function restartOnly<T extends z.ZodType>(schema: T, rule: RestartRule = {}): T {
  RESTART_ONLY.add(schema, rule);
  return schema;
}
