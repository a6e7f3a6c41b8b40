import { performance } from 'node:perf_hooks';

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

/**
 * Runs `work` and fails if it takes CASE_TIME_LIMIT_MS or longer. A case over the limit is run
 * twice more and its fastest time counts: a slow input is slow every time, while a pause of a busy
 * machine (another test process, a garbage collection) does not repeat three times in a row.
 */
export function assertBoundedTime(work: () => void, describeCase: (elapsedMs: number) => string): void {
  let fastest = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3 && fastest >= CASE_TIME_LIMIT_MS; attempt++) {
    const started = performance.now();
    work();
    fastest = Math.min(fastest, performance.now() - started);
  }
  if (fastest >= CASE_TIME_LIMIT_MS) throw new Error(`${describeCase(fastest)} (limit ${CASE_TIME_LIMIT_MS} ms, fastest of 3 runs)`);
}
