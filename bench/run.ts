/**
 * `npm run bench`: nginx (the seed's scgi_pass), the gateway (auth + policy, bcrypt htpasswd) and
 * rtorrent's socket directly, each driven in turn with the same load, interleaved round by round,
 * and reported as ratios to nginx and to direct SCGI. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { makeTempDir, removeTempDir } from '../test/helpers/processes.js';
import { loadBenchConfig, USAGE, type BenchConfig } from './lib/config.js';
import { measureRun, preflight, TARGETS, type PreflightResult, type RunRecord } from './lib/measure.js';
import { rssBytes } from './lib/proc.js';
import { checks, formatReport, summariseScenario } from './lib/report.js';
import { measureLevels, type LevelResult } from './lib/compression-levels.js';
import { checkBinaries, ensureBuilt, ROOT, startOwnStack, startStack, type Stack } from './lib/setup.js';
import { runProfile } from './profile.js';
import { createScenarios, type Scenario } from './scenarios.js';

const MiB = 1024 * 1024;

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Round r starts with a different target, so no target always runs first (or right after rtorrent idled). */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function selectScenarios(all: readonly Scenario[], names: readonly string[] | undefined): Scenario[] {
  if (names === undefined) return all.filter((s) => !s.optIn);
  const unknown = names.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  return names.map((n) => all.find((s) => s.name === n) as Scenario);
}

function versionOf(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: 'utf8' });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

async function benchmark(config: BenchConfig): Promise<void> {
  const startedAt = new Date();
  log(`starting rtorrent with ${config.torrents} torrents, nginx and the gateway`);
  const stack: Stack = await startStack(config.torrents, config.gatewayArgs, config.gatewayCli ? resolve(config.gatewayCli) : undefined);
  const gatewayRssIdle = rssBytes(stack.gateway.pid) ?? 0;
  const workDir = makeTempDir('rtg-bench-bodies');
  const ownStacks: Stack[] = [];
  try {
    const scenarios = selectScenarios(createScenarios({ rt: stack.rt, workDir, torrents: config.torrents, log }), config.scenarios);
    const perScenario = TARGETS.length * (config.warmupS + config.rounds * config.durationS + (config.rounds + 1) * 0.6);
    log(
      `${scenarios.length} scenarios × ${config.rounds} rounds × ${TARGETS.length} targets × ${config.durationS} s ` +
        `(+${config.warmupS} s warm-up each): about ${Math.ceil((scenarios.length * perScenario) / 60)} min`,
    );

    const prepared: Array<{ scenario: Scenario; files: string[]; pre: PreflightResult; stack: Stack; levels: LevelResult[] | undefined }> = [];
    for (const scenario of scenarios) {
      let own = stack;
      if (scenario.ownStack) {
        log(`${scenario.name}: starting an nginx and a gateway of its own`);
        own = await startOwnStack(stack, scenario.ownStack, config.gatewayArgs, config.gatewayCli ? resolve(config.gatewayCli) : undefined);
        ownStacks.push(own);
      }
      const files = await scenario.prepare();
      const pre = await preflight(own, scenario, files, config.timeoutS);
      const levels = scenario.acceptEncoding !== undefined && pre.identity !== undefined ? measureLevels(pre.identity) : undefined;
      prepared.push({ scenario, files, pre, stack: own, levels });
      const same = pre.identical === null ? '' : pre.identical ? ', identical answers' : ', ANSWERS DIFFER';
      const wire = scenario.acceptEncoding === undefined ? '' : `; on the wire: nginx ${pre.wireBytes.nginx} (${pre.encodings.nginx ?? 'identity'}), gateway ${pre.wireBytes.gateway} (${pre.encodings.gateway ?? 'identity'})`;
      log(`preflight ${scenario.name}: answer ${pre.answerBytes.nginx} bytes${same}${wire}${pre.problems.length ? `; PROBLEMS: ${pre.problems.join(' | ')}` : ''}`);
    }
    if (prepared.some((p) => p.pre.problems.length > 0)) {
      log('WARNING: preflight problems above; figures for those scenarios do not measure successful calls');
    }

    const gatewayRssStart = rssBytes(stack.gateway.pid) ?? 0;
    const records: RunRecord[] = [];
    const spec = { timeoutS: config.timeoutS };
    for (const { scenario, files, stack: own } of prepared) {
      log(`${scenario.name}: ${scenario.description}`);
      for (const target of TARGETS) {
        records.push(await measureRun(own, scenario, files, target, -1, { ...spec, durationS: config.warmupS }));
      }
      for (let round = 0; round < config.rounds; round++) {
        const parts: string[] = [];
        for (const target of rotate(TARGETS, round)) {
          const record = await measureRun(own, scenario, files, target, round, { ...spec, durationS: config.durationS });
          records.push(record);
          const errors = record.load.errors.total + record.problems.length;
          const setup = record.setupMs > 1500 ? ` (setup ${(record.setupMs / 1000).toFixed(1)} s)` : '';
          parts.push(`${target} ${record.load.rps.toFixed(0)}/s p99 ${record.load.p99Ms.toFixed(2)} ms${errors ? ` ${errors} ERR` : ''}${setup}`);
        }
        log(`  round ${round + 1}/${config.rounds}: ${parts.join(', ')}`);
      }
    }
    const gatewayRssEnd = rssBytes(stack.gateway.pid) ?? 0;

    const summaries = prepared.map((p) => summariseScenario(p.scenario, p.pre, records, p.levels));
    const memory = { idleMiB: gatewayRssIdle / MiB, startMiB: gatewayRssStart / MiB, endMiB: gatewayRssEnd / MiB };
    const checkList = checks(summaries, memory);
    const finishedAt = new Date();
    const header =
      `rtorrent-gateway bench, ${startedAt.toISOString()}: ${config.torrents} torrents, ` +
      `${config.rounds} rounds × ${config.durationS} s per target, interleaved; ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`;
    process.stdout.write(`\n${formatReport(header, summaries, checkList)}\n`);

    if (!config.noJson) {
      const dir = join(ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
      const machine = {
        node: process.version,
        kernel: release(),
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? '',
        loadavgAtEnd: loadavg(),
        wrk: versionOf('wrk', ['-v']),
        nginx: versionOf('nginx', ['-v']),
        rtorrent: String(await stack.rt.call('system.client_version').catch(() => '')),
      };
      writeFileSync(
        file,
        `${JSON.stringify(
          {
            startedAt: startedAt.toISOString(),
            finishedAt: finishedAt.toISOString(),
            elapsedS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
            config,
            machine,
            gatewayRssMiB: memory,
            checks: checkList,
            scenarios: summaries,
            runs: records,
          },
          null,
          2,
        )}\n`,
      );
      process.stdout.write(`\nJSON: ${relative(process.cwd(), file) || file}\n`);
    }
    log(`done in ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(ownStacks.map((own) => own.stop()));
    await stack.stop();
    await removeTempDir(workDir);
  }
}

async function main(): Promise<void> {
  const config = loadBenchConfig(process.argv.slice(2), process.env);
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  // Another build's cli.js is the caller's to build; ours is only needed when it is the one measured.
  if (config.gatewayCli === undefined) ensureBuilt(config.build, log);
  checkBinaries();
  if (config.profile) await runProfile(config, log);
  else await benchmark(config);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
