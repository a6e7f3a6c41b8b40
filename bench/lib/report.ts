/**
 * Turns run records into the figures the issue asks for. The machine is shared and noisy, so the
 * figures are ratios computed per round (gateway and nginx ran back to back under the same
 * conditions) and then the median over rounds; absolute numbers are printed only as context.
 */
import type { Scenario } from '../scenarios.js';
import type { PreflightResult, RunRecord, TargetName } from './measure.js';
import { TARGETS } from './measure.js';
import type { LevelResult } from './compression-levels.js';
import { median, ratio } from './stats.js';

const MiB = 1024 * 1024;

export interface TargetSummary {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuPer10k: number | null;
  readonly serverCpuUserShare: number | null;
  readonly rtorrentCpuPer10k: number | null;
  /** Largest over the measured rounds. */
  readonly peakRssMiB: number | null;
  /** Smallest RSS at the start of a measured round: the baseline the peak grew from. */
  readonly startRssMiB: number | null;
  /** Summed over warm-up and measured rounds. */
  readonly errors: number;
  readonly requests: number;
  /** Gateway error lines for clients that hung up as wrk stopped (not failed calls). */
  readonly clientAbortLogs: number;
}

export interface ScenarioSummary {
  readonly scenario: string;
  readonly description: string;
  readonly connections: number;
  readonly answerBytes: number;
  readonly identicalAnswers: boolean | null;
  readonly targets: Record<TargetName, TargetSummary>;
  /** Medians over rounds of gateway ÷ nginx. */
  readonly vsNginx: { rps: number; p50: number; p99: number; cpu: number; rss: number };
  /**
   * Medians over rounds of gateway ÷ direct. `serverCpu` is (gateway + rtorrent CPU per call) ÷
   * (rtorrent CPU per call when driven directly): direct has no middle process to compare with.
   */
  readonly vsDirect: { rps: number; p50: number; p99: number; serverCpu: number };
  /** nginx ÷ direct, for scale: what the incumbent itself costs. */
  readonly nginxVsDirect: { rps: number; p50: number; p99: number; serverCpu: number };
  /** Medians over rounds of gateway − nginx, ms. */
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly problems: string[];
  readonly nginxNotes: string[];
  /** For a scenario whose clients ask for a coding (Accept-Encoding). */
  readonly compression?: CompressionSummary;
}

export interface CompressionSummary {
  readonly acceptEncoding: string;
  /** The answer as rtorrent sends it. */
  readonly identityBytes: number;
  /** One answer's body as nginx and the gateway sent it (preflight), and what coding. */
  readonly answerBytes: { readonly nginx: number; readonly gateway: number };
  readonly encodings: { readonly nginx: string | undefined; readonly gateway: string | undefined };
  /** Bytes read per call by the load client over the measured rounds (medians), heads and chunk framing included. */
  readonly wirePerCall: { readonly nginx: number; readonly gateway: number };
  /** Medians of CPU seconds per identity MB (10^6 bytes) relayed: nginx's workers, the gateway. */
  readonly cpuPerMB: { readonly nginx: number | null; readonly gateway: number | null };
  /** In-process zlib and brotli levels on the same answer (lib/compression-levels.ts). */
  readonly levels: readonly LevelResult[];
}

export interface Check {
  readonly name: string;
  readonly pass: boolean | null;
  readonly value: string;
}

/** Adds up the per-run counts of nginx warnings. */
function sumNotes(records: readonly RunRecord[]): string[] {
  const counts = new Map<string, number>();
  for (const r of records) for (const [text, n] of Object.entries(r.notes)) counts.set(text, (counts.get(text) ?? 0) + n);
  return [...counts.entries()].map(([text, n]) => `${text} (×${n})`);
}

function targetSummary(records: readonly RunRecord[], all: readonly RunRecord[]): TargetSummary {
  const rss = records.map((r) => r.peakRssBytes).filter((v): v is number => v !== null);
  const startRss = records.map((r) => r.rssStartBytes).filter((v): v is number => v !== null);
  const cpu = records.map((r) => r.serverCpuPer10k).filter((v): v is number => v !== null);
  const userShare = records.map((r) => r.serverCpuUserShare).filter((v): v is number => v !== null);
  const rtCpu = records.map((r) => r.rtorrentCpuPer10k).filter((v): v is number => v !== null);
  return {
    rps: median(records.map((r) => r.load.rps)),
    p50Ms: median(records.map((r) => r.load.p50Ms)),
    p99Ms: median(records.map((r) => r.load.p99Ms)),
    serverCpuPer10k: cpu.length > 0 ? median(cpu) : null,
    serverCpuUserShare: userShare.length > 0 ? median(userShare) : null,
    rtorrentCpuPer10k: rtCpu.length > 0 ? median(rtCpu) : null,
    peakRssMiB: rss.length > 0 ? Math.max(...rss) / MiB : null,
    startRssMiB: startRss.length > 0 ? Math.min(...startRss) / MiB : null,
    errors: all.reduce((sum, r) => sum + r.load.errors.total, 0),
    requests: all.reduce((sum, r) => sum + r.load.requests, 0),
    clientAbortLogs: all.reduce((sum, r) => sum + r.clientAbortLogs, 0),
  };
}

function compressionSummary(scenario: Scenario, pre: PreflightResult, measured: readonly RunRecord[], levels: readonly LevelResult[]): CompressionSummary {
  const identity = pre.answerBytes.direct;
  const perCall = (target: TargetName): number => median(measured.filter((r) => r.target === target && r.load.requests > 0).map((r) => r.load.bytes / r.load.requests));
  const cpuPerMB = (target: TargetName): number | null => {
    const values = measured.filter((r) => r.target === target && r.serverCpuPer10k !== null).map((r) => (r.serverCpuPer10k as number) / 10_000 / (identity / 1e6));
    return values.length > 0 ? median(values) : null;
  };
  return {
    acceptEncoding: scenario.acceptEncoding ?? '',
    identityBytes: identity,
    answerBytes: { nginx: pre.wireBytes.nginx, gateway: pre.wireBytes.gateway },
    encodings: { nginx: pre.encodings.nginx, gateway: pre.encodings.gateway },
    wirePerCall: { nginx: perCall('nginx'), gateway: perCall('gateway') },
    cpuPerMB: { nginx: cpuPerMB('nginx'), gateway: cpuPerMB('gateway') },
    levels,
  };
}

export function summariseScenario(scenario: Scenario, pre: PreflightResult, records: readonly RunRecord[], levels?: readonly LevelResult[]): ScenarioSummary {
  const mine = records.filter((r) => r.scenario === scenario.name);
  const measured = mine.filter((r) => r.round >= 0);
  const by = (target: TargetName): RunRecord[] => measured.filter((r) => r.target === target);
  const targets = Object.fromEntries(
    TARGETS.map((t) => [t, targetSummary(by(t), mine.filter((r) => r.target === t))]),
  ) as Record<TargetName, TargetSummary>;

  const rounds = [...new Set(measured.map((r) => r.round))];
  const perRound = (f: (g: RunRecord, n: RunRecord, d: RunRecord) => number): number =>
    median(
      rounds.map((round) => {
        const g = measured.find((r) => r.round === round && r.target === 'gateway');
        const n = measured.find((r) => r.round === round && r.target === 'nginx');
        const d = measured.find((r) => r.round === round && r.target === 'direct');
        return g && n && d ? f(g, n, d) : Number.NaN;
      }),
    );
  const serverCost = (r: RunRecord): number => (r.serverCpuPer10k ?? 0) + (r.rtorrentCpuPer10k ?? 0);

  return {
    scenario: scenario.name,
    description: scenario.description,
    connections: scenario.connections,
    answerBytes: pre.answerBytes.nginx,
    identicalAnswers: pre.identical,
    targets,
    vsNginx: {
      rps: perRound((g, n) => ratio(g.load.rps, n.load.rps)),
      p50: perRound((g, n) => ratio(g.load.p50Ms, n.load.p50Ms)),
      p99: perRound((g, n) => ratio(g.load.p99Ms, n.load.p99Ms)),
      cpu: perRound((g, n) => ratio(g.serverCpuPer10k ?? Number.NaN, n.serverCpuPer10k ?? Number.NaN)),
      rss: perRound((g, n) => ratio(g.peakRssBytes ?? Number.NaN, n.peakRssBytes ?? Number.NaN)),
    },
    vsDirect: {
      rps: perRound((g, _n, d) => ratio(g.load.rps, d.load.rps)),
      p50: perRound((g, _n, d) => ratio(g.load.p50Ms, d.load.p50Ms)),
      p99: perRound((g, _n, d) => ratio(g.load.p99Ms, d.load.p99Ms)),
      serverCpu: perRound((g, _n, d) => ratio(serverCost(g), d.rtorrentCpuPer10k ?? Number.NaN)),
    },
    nginxVsDirect: {
      rps: perRound((_g, n, d) => ratio(n.load.rps, d.load.rps)),
      p50: perRound((_g, n, d) => ratio(n.load.p50Ms, d.load.p50Ms)),
      p99: perRound((_g, n, d) => ratio(n.load.p99Ms, d.load.p99Ms)),
      serverCpu: perRound((_g, n, d) => ratio(serverCost(n), d.rtorrentCpuPer10k ?? Number.NaN)),
    },
    addedP50Ms: perRound((g, n) => g.load.p50Ms - n.load.p50Ms),
    addedP99Ms: perRound((g, n) => g.load.p99Ms - n.load.p99Ms),
    problems: [...pre.problems, ...mine.flatMap((r) => r.problems.map((p) => `${r.target} round ${r.round}: ${p}`))],
    nginxNotes: sumNotes(mine),
    ...(scenario.acceptEncoding === undefined ? {} : { compression: compressionSummary(scenario, pre, measured, levels ?? []) }),
  };
}

/** The issue's bar, checked against whichever scenarios ran. */
export interface GatewayMemory {
  /** RSS right after start-up, before any request. */
  readonly idleMiB: number;
  /** RSS after the preflight requests and at the end of the bench. */
  readonly startMiB: number;
  readonly endMiB: number;
}

export function checks(summaries: readonly ScenarioSummary[], memory: GatewayMemory): Check[] {
  const find = (name: string): ScenarioSummary | undefined => summaries.find((s) => s.scenario === name);
  const out: Check[] = [];
  const small = find('small');
  if (small) out.push({ name: 'small calls ≥ 0.5× nginx req/s at the default settings', pass: small.vsNginx.rps >= 0.5, value: `${fmt(small.vsNginx.rps)}×` });
  const big = find('big');
  if (big) out.push({ name: 'big d.multicall2 ≥ 0.95× nginx req/s', pass: big.vsNginx.rps >= 0.95, value: `${fmt(big.vsNginx.rps)}×` });
  const errorCount = (t: TargetName): number => summaries.reduce((sum, s) => sum + s.targets[t].errors, 0);
  const problemCount = summaries.reduce((sum, s) => sum + s.problems.length, 0);
  out.push({
    name: 'zero errors (gateway)',
    pass: errorCount('gateway') === 0 && problemCount === 0,
    value: `gateway ${errorCount('gateway')}, nginx ${errorCount('nginx')}, direct ${errorCount('direct')} load errors; ${problemCount} logged/preflight problems`,
  });
  // The issue's bar holds in every scenario; the big answers' figure is shown on its own for context.
  const streaming = big?.targets.gateway.peakRssMiB;
  if (streaming !== undefined && streaming !== null) {
    out.push({ name: 'gateway peak RSS while streaming big answers', pass: null, value: `${streaming.toFixed(1)} MiB` });
  }
  const peaks = summaries.map((s) => s.targets.gateway.peakRssMiB).filter((v): v is number => v !== null);
  if (peaks.length > 0) {
    const worst = Math.max(...peaks);
    const where = summaries.find((s) => s.targets.gateway.peakRssMiB === worst)?.scenario ?? '';
    out.push({ name: 'gateway peak RSS ≤ 100 MiB in every scenario', pass: worst <= 100, value: `${worst.toFixed(1)} MiB (in ${where})` });
  }
  const gzip = find('gzip');
  if (gzip?.compression) {
    const c = gzip.compression;
    const share = c.answerBytes.gateway / c.identityBytes;
    const busy = c.levels.find((l) => l.answer === 'busy' && l.coding === 'gzip' && l.level === 1);
    out.push({
      name: 'gzip answers ≤ 15 % of the identity bytes',
      pass: c.encodings.gateway === 'gzip' && share <= 0.15 && (busy === undefined || busy.ratio <= 0.15),
      value:
        `${(share * 100).toFixed(1)} % (${c.encodings.gateway ?? 'identity'}; nginx ${((c.answerBytes.nginx / c.identityBytes) * 100).toFixed(1)} %)` +
        (busy === undefined ? '' : `; with busy counters, level 1: ${(busy.ratio * 100).toFixed(1)} %`),
    });
    out.push({
      name: 'gzip: gateway CPU per byte no worse than nginx\'s',
      pass: gzip.vsNginx.cpu <= 1,
      value: `${fmt(gzip.vsNginx.cpu)}× (gateway ${fmt(c.cpuPerMB.gateway, 4)} s, nginx ${fmt(c.cpuPerMB.nginx, 4)} s per identity MB)`,
    });
    const peak = gzip.targets.gateway.peakRssMiB;
    if (peak !== null) out.push({ name: 'gzip: gateway peak RSS ≤ 100 MiB', pass: peak <= 100, value: `${peak.toFixed(1)} MiB` });
  }
  const one = find('latency-1c');
  if (one) {
    out.push({
      name: 'p99 added latency at 1 connection ≤ 1 ms',
      pass: one.addedP99Ms <= 1,
      value: `${one.addedP99Ms >= 0 ? '+' : ''}${one.addedP99Ms.toFixed(3)} ms (gateway ${one.targets.gateway.p99Ms.toFixed(3)} vs nginx ${one.targets.nginx.p99Ms.toFixed(3)})`,
    });
  }
  const growth = memory.endMiB - memory.startMiB;
  out.push({
    name: 'gateway RSS',
    pass: null,
    value: `${memory.idleMiB.toFixed(1)} MiB idle after start, ${memory.startMiB.toFixed(1)} MiB before the first run, ` +
      `${memory.endMiB.toFixed(1)} MiB at the end (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB)`,
  });
  const aborts = summaries.reduce((sum, s) => sum + s.targets.gateway.clientAbortLogs, 0);
  if (aborts > 0) {
    out.push({
      name: 'gateway error-level log lines for clients that hung up mid-call',
      pass: null,
      value: `${aborts} × "unexpected error" ERR_STREAM_PREMATURE_CLOSE as wrk closed its connections at the end of runs (not counted as failed calls)`,
    });
  }
  return out;
}

function fmt(value: number | null, digits = 2): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  return value.toFixed(digits);
}

function size(bytes: number): string {
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function table(rows: readonly (readonly string[])[], rightAlignFrom = 1): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i >= rightAlignFrom ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

export function formatReport(
  header: string,
  summaries: readonly ScenarioSummary[],
  checkList: readonly Check[],
): string {
  const lines: string[] = [header, ''];

  lines.push('Ratios (median over rounds of per-round ratios). ÷ngx = gateway ÷ nginx; ÷dir = gateway ÷ direct SCGI.');
  lines.push('For req/s higher is better; for latency, CPU and RSS lower is better.');
  const ratioRows: string[][] = [
    ['scenario', 'conns', 'answer', 'req/s ÷ngx', '÷dir', 'p50 ÷ngx', '÷dir', 'p99 ÷ngx', '÷dir', 'CPU/call ÷ngx', '÷dir*', 'peak RSS ÷ngx', 'errors gw/ngx/dir'],
  ];
  for (const s of summaries) {
    ratioRows.push([
      s.scenario,
      String(s.connections),
      size(s.answerBytes),
      fmt(s.vsNginx.rps),
      fmt(s.vsDirect.rps),
      fmt(s.vsNginx.p50),
      fmt(s.vsDirect.p50),
      fmt(s.vsNginx.p99),
      fmt(s.vsDirect.p99),
      fmt(s.vsNginx.cpu),
      fmt(s.vsDirect.serverCpu),
      fmt(s.vsNginx.rss, 1),
      `${s.targets.gateway.errors}/${s.targets.nginx.errors}/${s.targets.direct.errors}`,
    ]);
  }
  lines.push(table(ratioRows));
  lines.push('* CPU ÷dir = (gateway + rtorrent CPU per call) ÷ (rtorrent CPU per call when driven directly); nginx\'s own');
  lines.push('  figure on the same basis is in the JSON (nginxVsDirect). Direct SCGI is a different client (Node, no HTTP,');
  lines.push('  no keep-alive): a reference for what rtorrent alone does, not a like-for-like contestant.');
  lines.push('');

  lines.push('Absolute medians (context only: this machine is shared and noisy).');
  const absRows: string[][] = [['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'CPU s/10k calls', 'user', 'rtorrent CPU s/10k', 'RSS start→peak MiB', 'requests']];
  for (const s of summaries) {
    for (const t of ['nginx', 'gateway', 'direct'] as const) {
      const v = s.targets[t];
      absRows.push([
        t === 'nginx' ? s.scenario : '',
        t,
        v.rps.toFixed(0),
        v.p50Ms.toFixed(3),
        v.p99Ms.toFixed(3),
        fmt(v.serverCpuPer10k, 3),
        v.serverCpuUserShare === null ? '' : `${(v.serverCpuUserShare * 100).toFixed(0)}%`,
        fmt(v.rtorrentCpuPer10k, 3),
        v.peakRssMiB === null ? 'n/a' : `${fmt(v.startRssMiB, 1)} → ${fmt(v.peakRssMiB, 1)}`,
        String(v.requests),
      ]);
    }
  }
  lines.push(table(absRows, 2));
  lines.push('  nginx CPU and RSS are its worker process(es); the gateway is its single Node process. "user" is the');
  lines.push('  share of that CPU spent in user space (the rest is kernel time: syscalls, socket wake-ups).');
  const latency = summaries.find((s) => s.scenario === 'latency-1c');
  if (latency) {
    lines.push(
      `  added latency at 1 connection (gateway − nginx): p50 ${latency.addedP50Ms >= 0 ? '+' : ''}${latency.addedP50Ms.toFixed(3)} ms, ` +
        `p99 ${latency.addedP99Ms >= 0 ? '+' : ''}${latency.addedP99Ms.toFixed(3)} ms`,
    );
  }
  lines.push('');

  for (const s of summaries) {
    const c = s.compression;
    if (!c) continue;
    const pct = (bytes: number): string => `${((bytes / c.identityBytes) * 100).toFixed(1)} %`;
    lines.push(`Compression in ${s.scenario} (clients send Accept-Encoding: ${c.acceptEncoding}; identity answer ${size(c.identityBytes)}):`);
    lines.push(
      table([
        ['target', 'coding', 'answer body', 'of identity', 'read per call', 'CPU s per identity MB', 'peak RSS MiB'],
        ...(['nginx', 'gateway'] as const).map((t) => [
          t,
          c.encodings[t] ?? 'identity',
          size(c.answerBytes[t]),
          pct(c.answerBytes[t]),
          size(c.wirePerCall[t]),
          fmt(c.cpuPerMB[t], 4),
          fmt(s.targets[t].peakRssMiB, 1),
        ]),
      ]),
    );
    if (c.levels.length > 0) {
      lines.push('  Levels on the same answer, one-shot in this process (Node\'s zlib and brotli); "busy": the answer with varied');
      lines.push('  counters instead of the idle torrents\' zeros (lib/compression-levels.ts):');
      lines.push(
        table([
          ['  answer', 'coding', 'level', 'of identity', 'ns per byte', 'ms per answer'],
          ...c.levels.map((l) => [
            `  ${l.answer}`,
            l.coding,
            String(l.level),
            l.sampleBytes < c.identityBytes ? `${(l.ratio * 100).toFixed(2)} % (first ${size(l.sampleBytes)})` : `${(l.ratio * 100).toFixed(2)} %`,
            l.nsPerByte.toFixed(2),
            ((l.nsPerByte * c.identityBytes) / 1e6).toFixed(1),
          ]),
        ]),
      );
    }
    lines.push('');
  }

  lines.push('Targets from the issue:');
  for (const c of checkList) lines.push(`  [${c.pass === null ? 'info' : c.pass ? 'PASS' : 'FAIL'}] ${c.name}: ${c.value}`);

  const problems = summaries.flatMap((s) => s.problems.map((p) => `${s.scenario}: ${p}`));
  if (problems.length > 0) {
    lines.push('', `Problems (${problems.length}):`);
    for (const p of problems.slice(0, 30)) lines.push(`  ${p.length > 300 ? `${p.slice(0, 300)}…` : p}`);
    if (problems.length > 30) lines.push(`  … and ${problems.length - 30} more in the JSON`);
  }
  const identicalBad = summaries.filter((s) => s.identicalAnswers === false).map((s) => s.scenario);
  if (identicalBad.length > 0) lines.push('', `Answers differed between targets in: ${identicalBad.join(', ')}`);
  const notes = summaries.flatMap((s) => s.nginxNotes.map((n) => `${s.scenario}: ${n}`));
  if (notes.length > 0) {
    lines.push('', 'nginx warnings (not errors):');
    for (const n of notes.slice(0, 10)) lines.push(`  ${n}`);
  }
  return lines.join('\n');
}
