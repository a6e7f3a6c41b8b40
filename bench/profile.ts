/**
 * `npm run bench -- --profile [--profile-scenario small]`: the gateway under one scenario's load
 * with `node --cpu-prof`, then a text summary of where its CPU time went. The profile file stays
 * in bench/results/profiles/ (gitignored) for DevTools.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeTempDir, removeTempDir } from '../test/helpers/processes.js';
import { summariseProfileFile } from './cpuprofile-summary.js';
import type { BenchConfig } from './lib/config.js';
import { cpuSplit } from './lib/proc.js';
import { runWrk } from './lib/drivers.js';
import { AUTHORIZATION, GATEWAY_NODE_ARGS, ROOT, startGatewayForBench, startRtorrentForBench } from './lib/setup.js';
import { createScenarios } from './scenarios.js';

export async function runProfile(config: BenchConfig, log: (line: string) => void): Promise<void> {
  const profileDir = join(ROOT, 'bench', 'results', 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const name = `gateway-${config.profileScenario}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;

  // Small calls do not need a big torrent list; anything that lists torrents does.
  const torrents = config.profileScenario === 'small' || config.profileScenario === 'latency-1c' ? 10 : config.torrents;
  log(`profile: starting rtorrent with ${torrents} torrents and the gateway under --cpu-prof`);
  const rt = await startRtorrentForBench(torrents);
  const workDir = makeTempDir('rtg-bench-bodies');
  try {
    const gateway = await startGatewayForBench(
      rt,
      config.gatewayArgs,
      [...GATEWAY_NODE_ARGS, '--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', name],
      config.gatewayCli ? resolve(config.gatewayCli) : undefined,
    );
    let cpuLine = '';
    try {
      const scenario = createScenarios({ rt, workDir, torrents }).find((s) => s.name === config.profileScenario);
      if (!scenario) throw new Error(`no scenario named "${config.profileScenario}"`);
      const files = await scenario.prepare();
      const spec = { connections: scenario.connections, bodyFiles: files, timeoutS: config.timeoutS };
      await scenario.beforeRun?.();
      await runWrk(gateway.url(), AUTHORIZATION, { ...spec, durationS: config.warmupS });
      await scenario.beforeRun?.();
      log(`profile: ${scenario.name} (${scenario.description}) for ${config.profileDurationS} s`);
      const before = cpuSplit(gateway.pid);
      const result = await runWrk(gateway.url(), AUTHORIZATION, { ...spec, durationS: config.profileDurationS });
      const after = cpuSplit(gateway.pid);
      log(`profile: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors.total} errors (profiling slows the gateway)`);
      if (before && after && result.requests > 0) {
        const perCall = (s: number): string => `${((s / result.requests) * 1e6).toFixed(1)} µs`;
        cpuLine =
          `Gateway CPU during the profiled run: ${perCall(after.user - before.user)} user + ${perCall(after.system - before.system)} kernel per call ` +
          `(${(after.user - before.user).toFixed(2)} s + ${(after.system - before.system).toFixed(2)} s for ${result.requests} calls).`;
      }
    } finally {
      // The profile is written when the process exits; the CLI exits cleanly on SIGTERM.
      await gateway.stop();
    }
    const written = readdirSync(profileDir).includes(name);
    if (!written) throw new Error(`the gateway wrote no profile to ${join(profileDir, name)}`);
    const path = join(profileDir, name);
    process.stdout.write(`CPU profile of the gateway under "${config.profileScenario}": ${path}\n`);
    process.stdout.write('(includes start-up and a warm-up second; dist/ locations map to src/ via the .js.map files)\n');
    if (cpuLine) process.stdout.write(`${cpuLine}\n`);
    // V8's profiler samples the thread at fixed wall-clock intervals, not CPU time: a native frame
    // whose syscall wakes rtorrent can also collect a moment spent waiting for a core afterwards.
    process.stdout.write(
      'Native frames (writev, internalConnect, close) are mostly syscalls on sockets and the wake-ups they cause;\n' +
        'samples are taken by wall clock, so on a busy machine they may include time waiting for a core.\n\n',
    );
    process.stdout.write(`${summariseProfileFile(path)}\n`);
  } finally {
    await rt.stop();
    await removeTempDir(workDir);
  }
}
