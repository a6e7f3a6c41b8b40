/**
 * The configuration's keys have one source, the schema: every key can be set by a flag and a
 * variable, the keys a reload cannot apply are marked where they are declared, and the README's
 * table, gateway.example.toml, --help and the reload section of docs/deployment.md are held to it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCli, USAGE } from '../../src/cli-args.js';
import { CONFIG_KEYS, envName, OVERRIDABLE_KEYS, type ConfigKey } from '../../src/config/keys.js';
import { loadConfig } from '../../src/config/load.js';
import { keysNeedingRestart } from '../../src/ops/runtime.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const REQUIRED = ['--upstream', 'unix:/run/rtorrent/scgi.socket', '--htpasswd', '/etc/rtorrent-gateway/htpasswd'];

/** A text a flag or variable of this kind takes, and the value the gateway should then hold. */
function sample(key: ConfigKey): string {
  switch (key.kind) {
    case 'boolean':
      return 'true';
    case 'integer':
    case 'number':
      return '3';
    case 'list':
      return 'a,b';
    case 'users':
      return 'alice=full';
    default:
      return 'x';
  }
}

describe('every key of the configuration file', () => {
  it('is read off the schema, tables and all', () => {
    const names = CONFIG_KEYS.map((key) => key.dotted);
    for (const expected of ['server.listen', 'server.tls.cert', 'upstream.read_cache_ttl', 'auth.htdigest', 'access.users', 'limits.call_rate', 'upstreams', 'policies', 'scgi.listeners']) {
      assert.ok(names.includes(expected), expected);
    }
    assert.equal(new Set(names).size, names.length, 'no key twice');
  });

  it('but the tables can each be set by a flag and an environment variable', () => {
    const tables = CONFIG_KEYS.filter((key) => key.kind === undefined).map((key) => key.dotted);
    assert.deepEqual(tables.sort(), ['policies', 'scgi.listeners', 'server.tls', 'upstreams']);
    for (const key of OVERRIDABLE_KEYS) {
      const flag = parseCli([`--${key.dotted}`, ...(key.kind === 'boolean' ? [] : [sample(key)])], {});
      assert.equal(flag.overrides.length, 1, `--${key.dotted}`);
      const variable = parseCli([], { [envName(key)]: sample(key) });
      assert.equal(variable.overrides[0]?.leaf.dotted, key.dotted, envName(key));
    }
  });

  it('turns a boolean key off with --KEY=false, which a bare flag cannot', () => {
    const config = loadConfig({ overrides: parseCli([...REQUIRED, '--server.compress=false', '--metrics.enabled=false', '--metrics.public'], {}).overrides });
    assert.deepEqual([config.server.compress, config.metrics.enabled, config.metrics.public], [false, false, true]);
    assert.equal(loadConfig({ overrides: parseCli([...REQUIRED, '--pretty=true'], {}).overrides }).log.format, 'text');
  });

  it('takes RTORRENT_GATEWAY_CONFIG= (empty) as no file, as a container without one sets it', () => {
    assert.equal(parseCli(REQUIRED, { RTORRENT_GATEWAY_CONFIG: '' }).configFile, undefined);
    assert.equal(parseCli(REQUIRED, { RTORRENT_GATEWAY_CONFIG: '/etc/g.toml' }).configFile, '/etc/g.toml');
  });

  it('reaches the configuration from a variable, auth.htdigest and limits.call_rate included', () => {
    const cli = parseCli(REQUIRED, { RTORRENT_GATEWAY_AUTH_HTDIGEST: '/etc/rtorrent-gateway/htdigest', RTORRENT_GATEWAY_LIMITS_CALL_RATE: '2.5' });
    const config = loadConfig({ overrides: cli.overrides });
    assert.equal(config.auth.htdigest, '/etc/rtorrent-gateway/htdigest');
    assert.equal(config.values.limits.call_rate, 2.5);
  });

  it('is in gateway.example.toml, in its own table', () => {
    const present = new Set<string>();
    let table = '';
    for (const line of read('gateway.example.toml').split('\n')) {
      const header = /^#?\s*\[\[?([A-Za-z_.]+)\]\]?\s*$/.exec(line);
      if (header) {
        table = (header[1] as string).replace(/^(policies|upstreams|access\.users)\..*$/, '$1');
        present.add(table);
        continue;
      }
      const key = /^#?\s*([a-z_]+)\s*=/.exec(line);
      if (key) present.add(`${table}.${key[1]}`);
    }
    const missing = CONFIG_KEYS.map((key) => key.dotted).filter((dotted) => !present.has(dotted));
    assert.deepEqual(missing, []);
  });

  it('is in the README\'s table of keys', () => {
    const firstCells = read('README.md')
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split('|')[1] as string);
    const named = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => (match[1] as string).replace(/\.NAME(\..*)?$/, ''))));
    // A table is named by its keys: server.tls by server.tls.cert.
    const isNamed = (key: ConfigKey): boolean => named.has(key.dotted) || (key.kind === undefined && [...named].some((name) => name.startsWith(`${key.dotted}.`)));
    assert.deepEqual(CONFIG_KEYS.filter((key) => !isNamed(key)).map((key) => key.dotted), []);
  });

  it('with a short flag is listed with it in --help, and --help lists no other', () => {
    const listed = new Set([...USAGE.matchAll(/^ {2}--([a-z-]+)/gm)].map((match) => match[1] as string));
    const short = CONFIG_KEYS.flatMap((key) => (key.flag === undefined ? [] : [key.flag]));
    for (const flag of short) assert.ok(listed.has(flag), `--${flag}`);
    const commands = ['config', 'check', 'healthcheck', 'help'];
    assert.deepEqual([...listed].filter((flag) => !short.includes(flag) && !commands.includes(flag)), []);
  });
});

describe('a reload', () => {
  const BASE = '[upstream]\nscgi = "unix:/run/rtorrent/scgi.socket"\n[auth]\nhtpasswd = "/etc/rtorrent-gateway/htpasswd"\n';
  const load = (toml: string): ReturnType<typeof loadConfig> => loadConfig({ overrides: parseCli(REQUIRED, {}).overrides, ...fileOf(toml) });
  function fileOf(toml: string): { file?: string } {
    return toml === '' ? {} : { file: writeTemp(toml) };
  }

  it('names the timeouts and parse bounds of [limits] it cannot apply, and applies the cost and budget keys', () => {
    assert.deepEqual(keysNeedingRestart(load(BASE), load(`${BASE}[limits]\nheader_timeout = "3s"\nmax_depth = 8\ncall_rate = 2\nmax_answer_cells = 100\n`)), ['limits.header_timeout', 'limits.max_depth']);
  });

  it('tells log.pretty = true and log.format = "text" apart from "json" only by what they mean', () => {
    assert.deepEqual(keysNeedingRestart(load(`${BASE}[log]\npretty = true\n`), load(`${BASE}[log]\nformat = "text"\n`)), []);
    assert.deepEqual(keysNeedingRestart(load(BASE), load(`${BASE}[log]\npretty = true\n`)), ['log.format']);
  });

  it('compares [upstreams.NAME] as they run: a default written out, or the tables in another order, is no change', () => {
    const a = '[upstreams.a]\nscgi = "unix:/run/a.sock"\n';
    const b = '[upstreams.b]\nscgi = "unix:/run/b.sock"\n';
    assert.deepEqual(keysNeedingRestart(load(`${BASE}${a}${b}`), load(`${BASE}${b}${a.replace('\n', '\ntimeout = "60s"\n')}`)), []);
    assert.deepEqual(keysNeedingRestart(load(`${BASE}${a}`), load(`${BASE}${a.replace('\n', '\ntimeout = "5s"\n')}`)), ['upstreams']);
  });

  it('needs a restart to turn TLS on, not to read new files at the same place', () => {
    const tls = (cert: string): string => BASE.replace('[upstream]', `[server.tls]\ncert = "${cert}"\nkey = "/k.pem"\n[upstream]`);
    assert.deepEqual(keysNeedingRestart(load(BASE), load(tls('/c.pem'))), ['server.tls']);
    assert.deepEqual(keysNeedingRestart(load(tls('/c.pem')), load(tls('/other.pem'))), []);
  });

  it('is described in docs/deployment.md as the schema marks it', () => {
    const text = read('docs/deployment.md').replace(/\n/g, ' ');
    const reloadSentence = /Users, passwords, policies,(.*?)take effect on reload/.exec(text)?.[1] ?? '';
    const restartSentence = /as do the cost and call-budget keys of `\[limits\]`\.(.*?)need `systemctl restart`/.exec(text)?.[1] ?? '';
    assert.notEqual(reloadSentence, '');
    assert.notEqual(restartSentence, '');
    const names = (sentence: string): string[] => [...sentence.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
    const matching = (written: string): ConfigKey[] => {
      const name = written.replace(/^\[\[?|\]?\]$/g, '').replace(/\.NAME$/, '');
      return CONFIG_KEYS.filter((key) => (name.endsWith('*') ? key.dotted.startsWith(name.slice(0, -1)) : key.dotted === name));
    };
    for (const written of names(reloadSentence)) {
      const keys = matching(written);
      assert.ok(keys.length > 0, `${written} names a key`);
      for (const key of keys) assert.ok(key.restart === undefined || key.restart.compare !== undefined, `${written} is said to apply on reload`);
    }
    const restartKeys = CONFIG_KEYS.filter((key) => key.restart !== undefined);
    const covered = new Set(names(restartSentence).flatMap((written) => matching(written).map((key) => key.dotted)));
    for (const key of restartKeys) {
      // [limits]'s restart keys are named together in words: "the timeouts, connection and parse bounds of [limits]".
      if (key.path[0] === 'limits') continue;
      assert.ok(covered.has(key.dotted), `${key.dotted} needs a restart but the page does not say so`);
    }
    for (const dotted of covered) assert.ok(restartKeys.some((key) => key.dotted === dotted), `${dotted} is said to need a restart`);
  });
});

let tempDir: string | undefined;
let written = 0;
after(() => {
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
});
function writeTemp(toml: string): string {
  tempDir ??= mkdtempSync(join(tmpdir(), 'config-keys-'));
  const file = join(tempDir, `${++written}.toml`);
  writeFileSync(file, toml);
  return file;
}
