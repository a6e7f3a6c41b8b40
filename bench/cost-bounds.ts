/**
 * `npm run bench:cost`: what the worst call a user below full may send costs rtorrent, at the
 * default limits. For each rtorrent release present (0.9.8, and 0.16.20 when built; COST_VERSION
 * picks one), with COST_TORRENTS (10 000) torrents: for each candidate column, the widest d.multicall2 whose
 * estimate the readonly policy still forwards, timed straight on rtorrent's socket (best and worst
 * of three), with its answer size; then ruTorrent's own list for comparison. See bench/README.md.
 */
import { compilePolicies } from '../src/policy/index.js';
import type { FanOutSizes } from '../src/policy/cost-estimate.js';
import { Upstream } from '../src/upstream/upstream.js';
import { parseUpstreamAddress } from '../src/config/address.js';
import { RUTORRENT_LIST } from '../test/helpers/client-calls.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rtorrentBuilds, startRtorrent, type RtorrentInstance } from '../test/helpers/rtorrent.js';
import { xmlCall } from '../test/helpers/scgi-direct.js';
import { generateTorrents } from '../test/helpers/torrents.js';

const TORRENTS = Number(process.env.COST_TORRENTS ?? 10_000);
const readonly = compilePolicies({}).get('readonly')!;
const limit = readonly.limits.maxAnswerCells!.value;

/** Columns whose values are the slowest or largest per estimated cell. */
const CANDIDATES = [
  'd.hash=',
  'd.name=',
  'd.tied_to_file=',
  'd.directory=',
  'd.free_diskspace=',
  'd.size_bytes=',
  `cat=${'x'.repeat(31)}`,
  'cat=$d.hash=,$d.hash=',
  'cat="$t.multicall=d.hash=,t.url="',
];

function columnsWithin(column: string, sizes: FanOutSizes): number {
  let low = 1;
  let high = 2;
  const fits = (count: number): boolean => {
    const verdict = readonly.check({ methodName: 'd.multicall2', params: ['', 'main', ...Array(count).fill(column)].map((value) => ({ kind: 'string' as const, value })) });
    return verdict.allowed && (verdict.cost?.cells(sizes) ?? 0) <= limit;
  };
  if (!fits(1)) return 0;
  while (fits(high)) high *= 2;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (fits(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/**
 * Loads `count` stopped torrents with generous timeouts: 0.16.20 keeps its main loop busy for tens of
 * seconds after thousands of loads (the SCGI helper's 10 s would give up).
 */
async function loadMany(rt: RtorrentInstance, count: number): Promise<void> {
  const torrents = await generateTorrents(join(rt.dir, 'torrents'), count, { seed: 'cost' });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < torrents.length) {
        const torrent = torrents[next++]!;
        await rt.call('load.normal', ['', torrent.path], { timeoutMs: 300_000 });
      }
    }),
  );
  while (Number(await rt.call('view.size', ['', 'main'], { timeoutMs: 300_000 })) < count) await sleep(200);
}

function row(cells: readonly (string | number)[]): string {
  return cells.map((cell, index) => (index === 0 ? String(cell).padEnd(40) : String(cell).padStart(12))).join(' ');
}

// COST_VERSION=0.9.8 measures one release only.
for (const build of rtorrentBuilds().filter((candidate) => process.env.COST_VERSION === undefined || candidate.version === process.env.COST_VERSION)) {
  process.stderr.write(`rtorrent ${build.version}: loading ${TORRENTS} torrents…\n`);
  const rt = await startRtorrent({ build, name: `cost-${build.version}` });
  try {
    await loadMany(rt, TORRENTS);
    const upstream = new Upstream(parseUpstreamAddress(`unix:${rt.socketPath}`)!, { timeoutMs: 120_000, maxConnections: 4, maxQueue: 8 });
    const sizes = await upstream.shape.current();
    // What learning the sizes costs rtorrent: the probe walks every torrent four times.
    const probes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await upstream.shape.refresh();
      probes.push(performance.now() - started);
    }
    console.log(`\nrtorrent ${build.version}, ${sizes.torrents} torrents, limits.max_answer_cells = ${limit} (readonly)`);
    console.log(`the shape probe: ${probes.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    console.log(row(['column', 'columns', 'est. cells', 'answer MB', 'best ms', 'worst ms']));
    const time = async (body: string): Promise<{ best: number; worst: number; bytes: number }> => {
      let best = Infinity;
      let worst = 0;
      let bytes = 0;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const answer = await rt.raw(body, { timeoutMs: 120_000 });
        const ms = performance.now() - started;
        best = Math.min(best, ms);
        worst = Math.max(worst, ms);
        bytes = answer.body.length;
        if (answer.body.includes('<fault>')) throw new Error(`fault: ${answer.body.toString().slice(0, 300)}`);
      }
      return { best, worst, bytes };
    };
    for (const column of CANDIDATES) {
      const count = columnsWithin(column, sizes);
      const body = xmlCall('d.multicall2', ['', 'main', ...Array(count).fill(column)]);
      const verdict = readonly.check({ methodName: 'd.multicall2', params: ['', 'main', ...Array(count).fill(column)].map((value) => ({ kind: 'string' as const, value })) });
      const cells = verdict.allowed ? (verdict.cost?.cells(sizes) ?? 0) : 0;
      const { best, worst, bytes } = await time(body);
      console.log(row([column.length > 40 ? `${column.slice(0, 39)}…` : column, count, cells, (bytes / 1e6).toFixed(1), best.toFixed(0), worst.toFixed(0)]));
    }
    const rutorrent = readonly.check({ methodName: 'd.multicall2', params: ['', 'main', ...RUTORRENT_LIST].map((value) => ({ kind: 'string' as const, value })) });
    const { best, worst, bytes } = await time(xmlCall('d.multicall2', ['', 'main', ...RUTORRENT_LIST]));
    console.log(row(["ruTorrent's list", RUTORRENT_LIST.length, rutorrent.allowed ? (rutorrent.cost?.cells(sizes) ?? 0) : 0, (bytes / 1e6).toFixed(1), best.toFixed(0), worst.toFixed(0)]));
  } finally {
    await rt.stop();
  }
}
