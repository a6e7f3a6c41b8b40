import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli-args.js';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-config-errors-'));
let counter = 0;
function tomlFile(text: string): string {
  const file = join(dir, `gateway-${counter++}.toml`);
  writeFileSync(file, text);
  return file;
}

const UPSTREAM = '[upstream]\nscgi = "unix:/run/rtorrent/scgi.socket"\n';
const AUTH = '[auth]\nhtpasswd = "/etc/rtorrent-gateway/htpasswd"\n';
const VALID = UPSTREAM + AUTH;

function problems(file: string | undefined, argv: string[] = [], env: NodeJS.ProcessEnv = {}): readonly string[] {
  const cli = parseCli(argv, env);
  const validation = validateConfig({ file: file ?? cli.configFile, overrides: cli.overrides });
  assert.ok(!validation.ok, 'the configuration is refused');
  return validation.problems;
}

/** The one problem with `toml` laid over a valid configuration, without the file name in front. */
function problemWith(toml: string): string {
  // TOML takes a table once: keys for [upstream] join its required one.
  const file = tomlFile(toml.startsWith('[upstream]\n') ? `${UPSTREAM}${toml.slice('[upstream]\n'.length)}\n${AUTH}` : `${toml}\n${VALID}`);
  const found = problems(file);
  assert.equal(found.length, 1, found.join('\n'));
  const [problem] = found as [string];
  assert.ok(problem.startsWith(`${file}: `), problem);
  return problem.slice(file.length + 2);
}

/** What zod itself would say: none of it may reach an operator. */
const VALIDATOR_WORDS = /Invalid input|Invalid option|received|Too small|Too big|Unrecognized|invalid_type|too_small|unrecognized_keys|expected (array|object|string|number|boolean)\b/;

describe('configuration errors', () => {
  it('reports every unknown key at once, next to a missing required key, one line each under a count', () => {
    const file = tomlFile('[server]\nlsiten = "127.0.0.1:8000"\n[upstream]\nscgi = "unix:/x"\ntimout = "5s"\n[autth]\nhtpasswd = "/h"\n');
    assert.throws(
      () => loadConfig({ file }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.code, 'GW_CONFIG_INVALID');
        assert.deepEqual(error.message.split('\n'), [
          '4 problems in the configuration:',
          `  ${file}: unknown key server.lsiten (did you mean server.listen?)`,
          `  ${file}: unknown key upstream.timout (did you mean upstream.timeout?)`,
          `  ${file}: auth.htpasswd: required key is missing (or give --htpasswd or RTORRENT_GATEWAY_AUTH_HTPASSWD)`,
          `  ${file}: unknown key autth (did you mean auth?)`,
        ]);
        return true;
      },
    );
  });

  it('keeps a single problem on one line, as the journal shows it', () => {
    const file = tomlFile(`${VALID}[log]\nlevel = "loud"\n`);
    assert.throws(() => loadConfig({ file }), (error: unknown) => error instanceof ConfigError && !error.message.includes('\n') && error.message.startsWith(`${file}: log.level: `));
  });

  describe('type errors say what the key takes and what it got, in plain words', () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['[upstream]\ntimeout = true', 'upstream.timeout: expected a duration such as "500ms", "2s" or "1m", got true (a boolean)'],
      ['[server]\npaths = "/RPC2"', 'server.paths: expected a list, got "/RPC2" (a string); write it as ["/RPC2"]'],
      ['[upstream]\nmax_connections = "many"', 'upstream.max_connections: expected a number, got "many" (a string)'],
      ['[upstream]\nmax_connections = 1.5', 'upstream.max_connections: expected a whole number, got 1.5 (a number)'],
      ['[upstream]\nmax_connections = 500', 'upstream.max_connections: expected at most 90, got 500 (a number)'],
      ['[limits]\nmax_depth = 0', 'limits.max_depth: expected at least 1, got 0 (a number)'],
      ['[server]\ntrust_proxy = "yes"', 'server.trust_proxy: expected true or false, got "yes" (a string)'],
      ['[server]\nlisten = 8000', 'server.listen: expected host:port, [ipv6]:port or unix:/absolute/path, got 8000 (a number)'],
      ['[server]\npaths = []', 'server.paths: expected at least 1 item, got an empty list'],
      ['[log]\nlevel = "warning"', 'log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "warning" (did you mean "warn"?)'],
      ['[access]\nusers = ["admin"]', 'access.users: expected a table, got ["admin"] (a list)'],
      ['[access.users]\nadmin = 5', 'access.users.admin: expected a string or a table, got 5 (a number)'],
    ];
    for (const [toml, expected] of cases) {
      it(`${toml.replace('\n', ' ')} → ${expected}`, () => {
        const problem = problemWith(toml);
        assert.equal(problem, expected);
        assert.doesNotMatch(problem, VALIDATOR_WORDS);
      });
    }
  });

  it('names keys as TOML writes them: names that are not bare keys quoted, list items by index', () => {
    assert.equal(problemWith('[access.users]\n"j doe" = "full"'), 'access.users."j doe": not a valid name: user names cannot contain ":" or spaces');
    assert.equal(problemWith('[server]\npaths = ["/RPC2", "scgi"]'), 'server.paths[1]: must be an absolute URL path such as "/RPC2"');
    assert.equal(problemWith('[access.users.alice]\npolicy = "readonly"\npolcy = "full"'), 'unknown key access.users.alice.polcy (did you mean access.users.alice.policy?)');
  });

  it('points a key written in the wrong table to the one it belongs in', () => {
    assert.equal(problemWith('[users]\nadmin = "full"'), 'unknown key users (did you mean access.users or metrics.users?)');
    assert.equal(problemWith('[server]\nhtpasswd = "/etc/h"'), 'unknown key server.htpasswd (did you mean auth.htpasswd?)');
    assert.equal(problemWith('[server]\nbody-limit = "1MiB"'), 'unknown key server.body-limit (did you mean server.body_limit?)');
    assert.equal(problemWith('[server]\nwhatever = 1'), 'unknown key server.whatever');
  });

  it('names the flag or environment variable a bad value came from', () => {
    assert.deepEqual(problems(tomlFile(VALID), ['--paths', ','], { RTORRENT_GATEWAY_LOG_LEVEL: 'loud' }), [
      'flag --paths: server.paths: expected at least 1 item, got an empty list',
      'environment RTORRENT_GATEWAY_LOG_LEVEL: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ]);
  });

  it('without a file, says so, and names the flag and variable that set a missing key', () => {
    assert.deepEqual(problems(undefined, ['--user', 'admin=full']), [
      'configuration (no --config file given): upstream.scgi: required key is missing (or give --upstream or RTORRENT_GATEWAY_UPSTREAM_SCGI)',
      'configuration (no --config file given): auth.htpasswd: required key is missing (or give --htpasswd or RTORRENT_GATEWAY_AUTH_HTPASSWD)',
    ]);
  });

  it('reports a file it cannot read or parse as the one problem', () => {
    assert.deepEqual(problems(join(dir, 'missing.toml')), [`${join(dir, 'missing.toml')}: cannot read the config file: file not found`]);
    const broken = tomlFile('[server\n');
    assert.match(problems(broken)[0] ?? '', new RegExp(`^${broken}:1:\\d+: TOML syntax error`));
  });
});
