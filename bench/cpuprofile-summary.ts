/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) as text: where the busy time went by function
 * (self time), by package or gateway source file, and which gateway functions carry the most
 * time including their callees. Enough to see the hot path without opening DevTools.
 *
 *   node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** V8's pseudo-frames: not code anyone can optimise directly, reported on their own line. */
const META = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

function location(frame: CallFrame): string {
  if (frame.url === '') return '';
  let where = frame.url;
  if (where.startsWith('file://')) where = relative(ROOT, fileURLToPath(where));
  return `${where}:${frame.lineNumber + 1}`;
}

/** The bucket a frame's self time is added to: a gateway file, an npm package, or Node itself. */
function bucket(frame: CallFrame): string {
  const url = frame.url;
  if (META.has(frame.functionName) && url === '') return frame.functionName;
  if (url === '') return '(native / V8 builtins)';
  if (url.startsWith('node:')) return 'node: internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return `npm: ${parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? '?'}`;
  }
  if (url.startsWith('file://')) return `gateway: ${relative(ROOT, fileURLToPath(url))}`;
  return url;
}

function key(frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'}\t${location(frame)}`;
}

interface Row {
  readonly name: string;
  readonly where: string;
  ms: number;
}

export function summariseProfile(profile: CpuProfile, top = 25): string {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const self = new Map<string, Row>();
  const buckets = new Map<string, number>();
  const inclusive = new Map<string, Row>();
  let total = 0;
  let idle = 0;

  samples.forEach((id, i) => {
    // timeDeltas[i] is the gap before sample i; charge it to that sample. Clamp the odd negative.
    const ms = Math.max(0, deltas[i] ?? 0) / 1000;
    const node = nodes.get(id);
    if (!node) return;
    total += ms;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idle += ms;
      return;
    }
    const k = key(frame);
    const row = self.get(k) ?? { name: frame.functionName || '(anonymous)', where: location(frame), ms: 0 };
    row.ms += ms;
    self.set(k, row);
    const b = bucket(frame);
    buckets.set(b, (buckets.get(b) ?? 0) + ms);

    // Inclusive time: each distinct function on the stack once, so recursion is not counted twice.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = nodes.get(cur)?.callFrame;
      if (!f || META.has(f.functionName)) continue;
      const fk = key(f);
      if (seen.has(fk)) continue;
      seen.add(fk);
      const r = inclusive.get(fk) ?? { name: f.functionName || '(anonymous)', where: location(f), ms: 0 };
      r.ms += ms;
      inclusive.set(fk, r);
    }
  });

  const busy = total - idle;
  const pct = (ms: number): string => `${((ms / (busy || 1)) * 100).toFixed(1)}%`.padStart(6);
  const msText = (ms: number): string => ms.toFixed(0).padStart(7);
  const lines: string[] = [];
  lines.push(
    `${(total / 1000).toFixed(1)} s sampled (${samples.length} samples); busy ${(busy / 1000).toFixed(1)} s, idle ${(idle / 1000).toFixed(1)} s. ` +
      'Percentages are of busy time.',
  );
  lines.push('', `Top ${top} functions by self time:`, `${'ms'.padStart(7)}  ${'busy'.padStart(6)}  function  (location)`);
  for (const r of [...self.values()].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    lines.push(`${msText(r.ms)}  ${pct(r.ms)}  ${r.name}${r.where ? `  (${r.where})` : ''}`);
  }
  lines.push('', 'Self time by package / gateway file:');
  for (const [b, ms] of [...buckets.entries()].sort((a, c) => c[1] - a[1]).slice(0, top)) {
    lines.push(`${msText(ms)}  ${pct(ms)}  ${b}`);
  }
  const ours = [...inclusive.values()].filter((r) => r.where.startsWith('dist/')).sort((a, b) => b.ms - a.ms);
  if (ours.length > 0) {
    lines.push('', `Top ${Math.min(15, ours.length)} gateway functions by total time (self + callees):`);
    for (const r of ours.slice(0, 15)) lines.push(`${msText(r.ms)}  ${pct(r.ms)}  ${r.name}  (${r.where})`);
  }
  return lines.join('\n');
}

export function summariseProfileFile(path: string, top = 25): string {
  return summariseProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  process.stdout.write(`${summariseProfileFile(file, Number(values.top))}\n`);
}
