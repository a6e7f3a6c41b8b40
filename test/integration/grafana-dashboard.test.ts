/**
 * contrib/grafana/rtorrent-gateway.json against a real gateway's /metrics: an importable dashboard
 * whose every query names metrics the gateway really exports, and which shows every metric of the
 * gateway's own. A panel on a misspelt or renamed metric would stay empty without anyone noticing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post } from '../helpers/gateway.js';
import { sample } from '../helpers/metrics.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { CLI, listeningAddress, REPO_ROOT, runCli, stopCli, writeHtpasswd, type CliProcess } from './ops-support.js';

const DASHBOARD_FILE = join(REPO_ROOT, 'contrib', 'grafana', 'rtorrent-gateway.json');
const DATASOURCE = '${DS_PROMETHEUS}';
const haveRtorrent = requireBinary('rtorrent') !== undefined;

interface Target {
  readonly expr?: string;
  readonly refId?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

interface Dashboard {
  readonly __inputs?: ReadonlyArray<{ readonly name: string; readonly type: string; readonly pluginId: string }>;
  readonly uid?: string;
  readonly title?: string;
  readonly schemaVersion?: number;
  readonly panels?: readonly Panel[];
  readonly templating?: { readonly list: ReadonlyArray<{ readonly name: string; readonly datasource?: { readonly uid?: string }; readonly definition?: string }> };
  readonly annotations?: { readonly list: ReadonlyArray<{ readonly name: string; readonly expr?: string; readonly datasource?: { readonly uid?: string } }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** Rows may hold their panels (when collapsed) or be followed by them: every panel either way. */
function allPanels(panels: readonly Panel[] = dashboard.panels ?? []): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every PromQL query of the dashboard, with where it is, for messages. */
function queries(): Array<{ where: string; expr: string }> {
  const found: Array<{ where: string; expr: string }> = [];
  for (const panel of allPanels()) {
    for (const target of panel.targets ?? []) if (target.expr !== undefined) found.push({ where: `panel "${panel.title}" ${target.refId ?? ''}`, expr: target.expr });
  }
  for (const annotation of dashboard.annotations?.list ?? []) if (annotation.expr !== undefined) found.push({ where: `annotation "${annotation.name}"`, expr: annotation.expr });
  return found;
}

/** PromQL words that are neither metrics nor functions (a function is followed by its "("). */
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names in a PromQL expression: what is left once strings, label matchers, ranges,
 * label lists (by, on…), functions and Grafana's $variables are taken out.
 */
function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const at = match.index;
    if (text[at - 1] === '$' || /[0-9.]/.test(text[at - 1] ?? '')) continue;
    if (/^\s*\(/.test(text.slice(at + word.length))) continue;
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** The metric of a Grafana variable query, `label_values(metric{…}, label)`. */
function variableMetric(definition: string): string | undefined {
  return /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(definition)?.[1];
}

/** `# TYPE name kind` lines of a scrape: every family the gateway exports, with or without samples yet. */
function families(scrape: string): Map<string, string> {
  return new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1] as string, match[2] as string]));
}

/** A name as a query writes it, resolved to its family: a histogram's _bucket, _sum and _count are the histogram's. */
function familyOf(name: string, exported: ReadonlyMap<string, string>): string | undefined {
  if (exported.has(name)) return name;
  const series = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!series) return undefined;
  const [, base, suffix] = series as unknown as [string, string, string];
  const kind = exported.get(base);
  if (kind === 'histogram' || (kind === 'summary' && suffix !== 'bucket')) return base;
  return undefined;
}

describe('the Grafana dashboard (contrib/grafana/rtorrent-gateway.json)', () => {
  it('is an importable dashboard: title, uid, panels, and a Prometheus data source asked for on import', () => {
    assert.equal(typeof dashboard.title, 'string');
    assert.match(dashboard.uid ?? '', /^[A-Za-z0-9_-]{1,40}$/, 'a uid Grafana accepts, so a new import replaces the old one');
    assert.equal(typeof dashboard.schemaVersion, 'number');
    assert.ok((dashboard.panels ?? []).length > 0);
    assert.deepEqual(
      dashboard.__inputs?.map(({ name, type, pluginId }) => ({ name, type, pluginId })),
      [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }],
    );
  });

  it('queries only the data source chosen on import', () => {
    for (const panel of allPanels().filter((panel) => panel.type !== 'row')) {
      assert.equal(panel.datasource?.uid, DATASOURCE, panel.title);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
      for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid ?? DATASOURCE, DATASOURCE, panel.title);
    }
    for (const variable of dashboard.templating?.list ?? []) assert.equal(variable.datasource?.uid, DATASOURCE, variable.name);
    for (const annotation of dashboard.annotations?.list ?? []) assert.equal(annotation.datasource?.uid, DATASOURCE, annotation.name);
  });

  it('lays its panels out on the 24-column grid, each with its own id', () => {
    const panels = allPanels();
    assert.equal(new Set(panels.map((panel) => panel.id)).size, panels.length, 'ids are unique');
    for (const { title, gridPos } of panels) {
      assert.ok(gridPos.x >= 0 && gridPos.w > 0 && gridPos.x + gridPos.w <= 24 && gridPos.h > 0 && gridPos.y >= 0, `${title}: ${JSON.stringify(gridPos)}`);
    }
  });

  it('reads metric names out of PromQL, leaving functions, labels and variables aside', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (le, upstream) (rate(a_seconds_bucket{job=~"$job", code="x y"}[$__rate_interval]))) / on (upstream) group_left b_total or vector(0)'),
      ['a_seconds_bucket', 'b_total'],
    );
    assert.deepEqual(metricNames('label_replace(sum by (user) (rate(c_total[5m])), "user", "(none)", "user", "")'), ['c_total']);
  });

  describe('against the metrics a running gateway exports', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    let dir: string;
    let cli: CliProcess;
    let scrape: string;

    before(async () => {
      assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
      rtorrent = await startRtorrent({ torrents: 1, name: 'grafana' });
      dir = makeTempDir('grafana');
      const htpasswd = join(dir, 'htpasswd');
      writeHtpasswd(htpasswd, { admin: 'admin-secret', viewer: 'viewer-secret' });
      const config = join(dir, 'gateway.toml');
      // Read sharing on, so its metrics have samples too; the CLI adds the process's own metrics.
      writeFileSync(
        config,
        [
          '[server]',
          'listen = "127.0.0.1:0"',
          '[upstream]',
          `scgi = "unix:${rtorrent.socketPath}"`,
          'coalesce_reads = true',
          'read_cache_ttl = "5s"',
          '[auth]',
          `htpasswd = "${htpasswd}"`,
          '[access.users]',
          'admin = "full"',
          'viewer = "readonly"',
        ].join('\n'),
      );
      cli = runCli(['--config', config]);
      const base = await listeningAddress(cli);
      const admin = basicAuth('admin', 'admin-secret');
      const viewer = basicAuth('viewer', 'viewer-secret');
      assert.equal((await post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: admin })).status, 200);
      // The same list three times: rtorrent answers the first, the kept answer the others.
      const list = xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=']);
      for (let i = 0; i < 3; i++) assert.equal((await post(`${base}/RPC2`, list, { authorization: viewer })).status, 200);
      await post(`${base}/RPC2`, xmlCall('execute.throw', ['', 'true']), { authorization: viewer });
      await post(`${base}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('viewer', 'wrong') });
      const response = await fetch(`${base}/metrics`, { headers: { authorization: admin } });
      assert.equal(response.status, 200);
      scrape = await response.text();
    });
    after(async () => {
      if (cli) await stopCli(cli);
      await rtorrent?.stop();
      if (dir) await removeTempDir(dir);
    });

    it('names in every query only metrics the gateway exports (a histogram through its _bucket, _sum and _count)', () => {
      const exported = families(scrape);
      const missing: string[] = [];
      for (const { where, expr } of queries()) {
        const names = metricNames(expr);
        assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
        for (const name of names) if (familyOf(name, exported) === undefined) missing.push(`${where}: ${name}`);
      }
      for (const variable of dashboard.templating?.list ?? []) {
        const name = variableMetric(variable.definition ?? '');
        assert.ok(name !== undefined, `variable ${variable.name}: ${variable.definition}`);
        if (familyOf(name, exported) === undefined) missing.push(`variable ${variable.name}: ${name}`);
      }
      assert.deepEqual(missing, []);
    });

    it("shows every metric of the gateway's own", () => {
      const shown = new Set(queries().flatMap(({ expr }) => metricNames(expr)).map((name) => familyOf(name, families(scrape))));
      const own = [...families(scrape).keys()].filter((name) => name.startsWith('rtorrent_gateway_'));
      assert.ok(own.length > 0, 'the scrape has the gateway metrics');
      assert.deepEqual(own.filter((name) => !shown.has(name)), []);
    });

    it('has samples behind the panels these calls feed: requests, denials, answer times, shared reads, the process', () => {
      const positive: Array<[string, Record<string, string>]> = [
        ['rtorrent_gateway_requests_total', { transport: 'http', user: 'admin', method: 'system.client_version', outcome: 'relayed' }],
        ['rtorrent_gateway_denials_total', { user: 'viewer', method: 'execute.throw', reason: 'denied' }],
        ['rtorrent_gateway_upstream_duration_seconds_bucket', { upstream: 'default', le: '+Inf' }],
        ['rtorrent_gateway_shared_reads_total', { upstream: 'default', source: 'cached' }],
        ['rtorrent_gateway_config_last_reload_successful', {}],
        ['process_resident_memory_bytes', {}],
        ['process_start_time_seconds', {}],
      ];
      for (const [name, labels] of positive) assert.ok((sample(scrape, name, labels) ?? 0) > 0, `${name} ${JSON.stringify(labels)}`);
      assert.notEqual(sample(scrape, 'nodejs_eventloop_lag_p99_seconds'), undefined);
    });
  });
});
