/**
 * Bench settings: command-line flags first, then BENCH_* environment variables, then defaults
 * sized so that the whole default run takes about five minutes.
 */
import { parseArgs } from 'node:util';

export interface BenchConfig {
  /** Seconds per measured run. */
  readonly durationS: number;
  /** Interleaved rounds per scenario; every round runs each target once. */
  readonly rounds: number;
  /** Seconds of unrecorded load per target before a scenario's rounds. */
  readonly warmupS: number;
  readonly torrents: number;
  /** Per-request timeout for the load clients, seconds. */
  readonly timeoutS: number;
  /** Scenario names; undefined = every scenario not marked optIn. */
  readonly scenarios: readonly string[] | undefined;
  /** Extra gateway command-line arguments (whitespace-separated), e.g. --config FILE. */
  readonly gatewayArgs: readonly string[];
  /** Another build's cli.js, to compare builds against the same nginx baseline; default dist/cli.js. */
  readonly gatewayCli: string | undefined;
  /** Rebuild dist/ when it is missing or older than src/ (default), never, or always. */
  readonly build: 'auto' | 'never' | 'always';
  /** Profile mode: run one scenario against a gateway under --cpu-prof and summarise it. */
  readonly profile: boolean;
  readonly profileScenario: string;
  readonly profileDurationS: number;
  /** Write no JSON file (for quick experiments). */
  readonly noJson: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  --duration S          seconds per measured run            (BENCH_DURATION, default 5)
  --rounds N            interleaved rounds per scenario     (BENCH_ROUNDS, default 3)
  --warmup S            warm-up seconds per target          (BENCH_WARMUP, default 1)
  --torrents N          torrents loaded into rtorrent       (BENCH_TORRENTS, default 2000)
  --timeout S           per-request timeout                 (BENCH_TIMEOUT, default 10)
  --scenarios LIST      comma-separated, e.g. small,big     (BENCH_SCENARIOS, default all but opt-in ones)
  --gateway-args=ARGS   extra gateway flags, e.g. --gateway-args='--upstream.max_connections 8'
                                                            (BENCH_GATEWAY_ARGS)
  --gateway-cli PATH    run this cli.js instead of dist/cli.js (BENCH_GATEWAY_CLI), e.g. an older build
  --build auto|never|always   rebuild dist/ first           (BENCH_BUILD, default auto: when missing or stale)
  --no-json             do not write bench/results/<timestamp>.json
  --profile             CPU-profile the gateway under one scenario instead of benchmarking
  --profile-scenario N  scenario to profile                 (BENCH_PROFILE_SCENARIO, default small)
  --profile-duration S  seconds of profiled load            (BENCH_PROFILE_DURATION, default 10)
`;

function positiveNumber(name: string, text: string | undefined, fallback: number, integer = false): number {
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, not "${text}"`);
  }
  return value;
}

export function loadBenchConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BenchConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      torrents: { type: 'string' },
      timeout: { type: 'string' },
      scenarios: { type: 'string' },
      'gateway-args': { type: 'string' },
      'gateway-cli': { type: 'string' },
      build: { type: 'string' },
      'no-json': { type: 'boolean' },
      profile: { type: 'boolean' },
      'profile-scenario': { type: 'string' },
      'profile-duration': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const pick = (flag: string | undefined, envName: string): string | undefined => flag ?? env[envName];
  const scenarios = pick(values.scenarios, 'BENCH_SCENARIOS');
  const build = pick(values.build, 'BENCH_BUILD') ?? 'auto';
  if (build !== 'auto' && build !== 'never' && build !== 'always') throw new Error(`--build must be auto, never or always, not "${build}"`);
  return {
    durationS: positiveNumber('--duration', pick(values.duration, 'BENCH_DURATION'), 5),
    rounds: positiveNumber('--rounds', pick(values.rounds, 'BENCH_ROUNDS'), 3, true),
    warmupS: positiveNumber('--warmup', pick(values.warmup, 'BENCH_WARMUP'), 1),
    torrents: positiveNumber('--torrents', pick(values.torrents, 'BENCH_TORRENTS'), 2000, true),
    timeoutS: positiveNumber('--timeout', pick(values.timeout, 'BENCH_TIMEOUT'), 10),
    scenarios: scenarios === undefined || scenarios.trim() === '' ? undefined : scenarios.split(',').map((s) => s.trim()).filter(Boolean),
    gatewayArgs: (pick(values['gateway-args'], 'BENCH_GATEWAY_ARGS') ?? '').split(/\s+/).filter(Boolean),
    gatewayCli: pick(values['gateway-cli'], 'BENCH_GATEWAY_CLI'),
    build,
    profile: values.profile === true,
    profileScenario: pick(values['profile-scenario'], 'BENCH_PROFILE_SCENARIO') ?? 'small',
    profileDurationS: positiveNumber('--profile-duration', pick(values['profile-duration'], 'BENCH_PROFILE_DURATION'), 10),
    noJson: values['no-json'] === true,
  };
}
