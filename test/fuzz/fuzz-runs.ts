/**
 * How many cases each fuzz property runs: a short run inside `npm test`, a long one with
 * `npm run fuzz` (FUZZ_RUNS=300000). The seed is printed on failure by fast-check, and can be
 * pinned with FUZZ_SEED to replay a case.
 */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

export function fuzzParameters(share = 1): { numRuns: number; seed?: number } {
  const numRuns = Math.max(1, Math.round(FUZZ_RUNS * share));
  return FUZZ_SEED === undefined ? { numRuns } : { numRuns, seed: FUZZ_SEED };
}

/** Every single case must finish within this, or the property fails: "no hang, bounded time". */
export const CASE_TIME_LIMIT_MS = 250;
