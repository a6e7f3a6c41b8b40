import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli-args.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
let counter = 0;
function tomlFile(text: string): string {
  const file = join(dir, `gateway-${counter++}.toml`);
  writeFileSync(file, text);
  return file;
}

const ISSUE_EXAMPLE = `
[server]
listen = "127.0.0.1:8000"        # host:port
paths = ["/RPC2", "/scgi"]       # default

[upstream]
scgi = "unix:/home/rtorrent/scgi.socket"   # or "tcp://127.0.0.1:5000"
timeout = "60s"                  # whole-call limit

[auth]
htpasswd = "/etc/rtorrent-gateway/htpasswd"

[access.users]                   # user -> policy
admin = "full"
app = "standard"
viewer = "readonly"
`;

function load(file: string | undefined, argv: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const cli = parseCli(argv, env);
  return loadConfig({ file: file ?? cli.configFile, overrides: cli.overrides });
}

function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes('\n'), 'the error is one line');
    return true;
  });
}

describe('configuration file', () => {
  it('accepts the documented example as written', () => {
    const config = load(tomlFile(ISSUE_EXAMPLE));
    assert.deepEqual(config.server.listen, { kind: 'tcp', host: '127.0.0.1', port: 8000, label: '127.0.0.1:8000' });
    assert.deepEqual(config.server.paths, ['/RPC2', '/scgi']);
    assert.deepEqual(config.upstream.scgi, { kind: 'unix', path: '/home/rtorrent/scgi.socket', label: 'unix:/home/rtorrent/scgi.socket' });
    assert.equal(config.upstream.timeoutMs, 60_000);
    assert.equal(config.auth.htpasswd, '/etc/rtorrent-gateway/htpasswd');
    assert.deepEqual([...config.access.users], [
      ['admin', { policy: 'full' }],
      ['app', { policy: 'standard' }],
      ['viewer', { policy: 'readonly' }],
    ]);
  });

  it('fills in defaults: /RPC2 and /scgi, 16 MiB body limit, 60 s timeout, realm "rtorrent"', () => {
    const config = load(tomlFile('[upstream]\nscgi = "tcp://127.0.0.1:5000"\n[auth]\nhtpasswd = "/x"\n'));
    assert.deepEqual(config.server.paths, ['/RPC2', '/scgi']);
    assert.equal(config.server.bodyLimit, 16 * 1024 * 1024);
    assert.equal(config.upstream.timeoutMs, 60_000);
    assert.equal(config.auth.realm, 'rtorrent');
    assert.deepEqual(config.upstream.scgi, { kind: 'tcp', host: '127.0.0.1', port: 5000, label: 'tcp://127.0.0.1:5000' });
  });

  it('accepts users written as tables with a policy key', () => {
    const config = load(tomlFile('[upstream]\nscgi = "/s"\n[auth]\nhtpasswd = "/x"\n[access.users.alice]\npolicy = "readonly"\n'));
    assert.deepEqual(config.access.users.get('alice'), { policy: 'readonly' });
  });

  it('names the file and the key of an unknown key, and the key it is close to', () => {
    const file = tomlFile(ISSUE_EXAMPLE.replace('[auth]', '[auth]\nhtpassword = "/typo"'));
    assertConfigError(() => load(file), new RegExp(`^${file}: unknown key auth\\.htpassword \\(did you mean auth\\.htpasswd\\?\\)$`));
  });

  it('names the file and the key of a wrong type', () => {
    const file = tomlFile(ISSUE_EXAMPLE.replace('paths = ["/RPC2", "/scgi"]', 'paths = "/RPC2"'));
    assertConfigError(() => load(file), new RegExp(`^${file}: server\\.paths: expected a list, got "/RPC2" \\(a string\\)`));
  });

  it('names a missing required key, inside a missing table too', () => {
    const file = tomlFile('[upstream]\nscgi = "/s"\n');
    assertConfigError(() => load(file), new RegExp(`^${file}: auth\\.htpasswd: required key is missing`));
  });

  it('explains a bad duration, address or size', () => {
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE.replace('"60s"', '"soon"'))), /upstream\.timeout: "soon" is not a duration/);
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE.replace('"unix:/home/rtorrent/scgi.socket"', '"scgi.socket"'))), /upstream\.scgi: "scgi\.socket" is not unix:/);
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE.replace('"127.0.0.1:8000"', '"localhost"'))), /server\.listen: "localhost" is not host:port/);
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE.replace('[server]', '[server]\nbody_limit = "lots"'))), /server\.body_limit: "lots" is not a size/);
  });

  it('refuses a missing file, naming it', () => {
    assertConfigError(() => load(join(dir, 'nope.toml')), /nope\.toml: cannot read the config file: file not found/);
  });

  it('reports TOML syntax errors with the file, line and column', () => {
    const file = tomlFile('[server\nlisten = 1\n');
    assertConfigError(() => load(file), new RegExp(`^${file}:1:\\d+: TOML syntax error`));
  });
});

describe('overrides from flags and the environment', () => {
  it('runs from flags alone, without a file', () => {
    const config = load(undefined, ['--listen', '127.0.0.1:9000', '--upstream', 'unix:/run/scgi.socket', '--htpasswd', '/etc/h', '--user', 'admin=full']);
    assert.equal(config.server.listen.label, '127.0.0.1:9000');
    assert.equal(config.upstream.scgi.label, 'unix:/run/scgi.socket');
    assert.equal(config.auth.htpasswd, '/etc/h');
    assert.deepEqual(config.access.users.get('admin'), { policy: 'full' });
  });

  it('lets RTORRENT_GATEWAY_* variables override the file, and flags override both', () => {
    const file = tomlFile(ISSUE_EXAMPLE);
    const env = { RTORRENT_GATEWAY_UPSTREAM_TIMEOUT: '2s', RTORRENT_GATEWAY_SERVER_LISTEN: '0.0.0.0:7000' };
    const config = load(file, ['--listen', '127.0.0.1:7001'], env);
    assert.equal(config.upstream.timeoutMs, 2000);
    assert.equal(config.server.listen.label, '127.0.0.1:7001');
  });

  it('reaches every key by its dotted name and reads lists and user maps from text', () => {
    const env = { RTORRENT_GATEWAY_SERVER_PATHS: '/RPC2,/rpc', RTORRENT_GATEWAY_ACCESS_USERS: 'a=full,b=readonly', RTORRENT_GATEWAY_LOG_PRETTY: 'no' };
    const config = load(tomlFile(ISSUE_EXAMPLE), ['--upstream.timeout', '500ms', '--server.body_limit', '2m'], env);
    assert.deepEqual(config.server.paths, ['/RPC2', '/rpc']);
    assert.equal(config.upstream.timeoutMs, 500);
    assert.equal(config.server.bodyLimit, 2 * 1024 * 1024);
    assert.equal(config.log.format, 'json', 'log.pretty = "no" is false: JSON stays');
    assert.deepEqual(config.access.users.get('a'), { policy: 'full' });
    assert.deepEqual(config.access.users.get('admin'), { policy: 'full' }, 'users from the file are kept');
  });

  it('takes the config file path from RTORRENT_GATEWAY_CONFIG', () => {
    const file = tomlFile(ISSUE_EXAMPLE);
    assert.equal(load(undefined, [], { RTORRENT_GATEWAY_CONFIG: file }).upstream.timeoutMs, 60_000);
  });

  it('names the variable or flag that carries a bad value', () => {
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE), [], { RTORRENT_GATEWAY_UPSTREAM_TIMEOUT: 'later' }), /^environment RTORRENT_GATEWAY_UPSTREAM_TIMEOUT: upstream\.timeout: "later"/);
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE), ['--timeout', 'later']), /^flag --timeout: upstream\.timeout/);
  });

  it('refuses an unknown RTORRENT_GATEWAY_ variable and an unknown flag, since a typo would be silently ignored', () => {
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE), [], { RTORRENT_GATEWAY_LISTEN: 'x' }), /environment RTORRENT_GATEWAY_LISTEN: not a setting/);
    assertConfigError(() => load(tomlFile(ISSUE_EXAMPLE), ['--lisen', 'x']), /command line: .*lisen/);
  });
});

describe('SCGI listeners', () => {
  const base = `${ISSUE_EXAMPLE}\n`;
  it('accept a Unix socket with a mode, bound to a user in [access.users]', () => {
    const config = load(tomlFile(`${base}[[scgi.listeners]]\nlisten = "unix:/run/rtorrent-gateway/flood.sock"\nuser = "app"\nmode = "0660"\ngroup = "flood"\n`));
    assert.equal(config.scgi.listeners[0]?.user, 'app');
    assert.equal(config.scgi.listeners[0]?.mode, 0o660);
    assert.deepEqual(config.scgi.listeners[0]?.listen, { kind: 'unix', path: '/run/rtorrent-gateway/flood.sock', label: 'unix:/run/rtorrent-gateway/flood.sock' });
  });

  it('refuse a user that is not in [access.users], naming the key', () => {
    assertConfigError(() => load(tomlFile(`${base}[[scgi.listeners]]\nlisten = "unix:/run/x.sock"\nuser = "ghost"\n`)), /scgi\.listeners\[0\]\.user: "ghost" is not in \[access\.users\]/);
  });

  it('refuse TCP off loopback, since SCGI carries no credentials', () => {
    assertConfigError(() => load(tomlFile(`${base}[[scgi.listeners]]\nlisten = "tcp://0.0.0.0:5000"\nuser = "app"\n`)), /scgi\.listeners\[0\]\.listen: .*loopback only/);
    assert.equal(load(tomlFile(`${base}[[scgi.listeners]]\nlisten = "tcp://127.0.0.1:5000"\nuser = "app"\n`)).scgi.listeners[0]?.listen.kind, 'tcp');
  });
});

describe('several upstreams', () => {
  const base = ISSUE_EXAMPLE.replace('[access.users]', '[upstreams.alice]\nscgi = "unix:/home/alice/scgi.socket"\n[access.users]');
  it('names each upstream, inherits [upstream] settings and defaults its path to /NAME/RPC2', () => {
    const config = load(tomlFile(base));
    assert.deepEqual(config.upstreams.map((u) => [u.name, u.scgi.label, u.timeoutMs, u.paths]), [
      ['default', 'unix:/home/rtorrent/scgi.socket', 60_000, ['/RPC2', '/scgi']],
      ['alice', 'unix:/home/alice/scgi.socket', 60_000, ['/alice/RPC2']],
    ]);
  });

  it('binds a user to an upstream, and refuses an unknown one naming the key', () => {
    const bound = load(tomlFile(`${base}\n[access.users.alice]\npolicy = "standard"\nupstream = "alice"\n`));
    assert.deepEqual(bound.access.users.get('alice'), { policy: 'standard', upstream: 'alice' });
    assertConfigError(() => load(tomlFile(`${base}\n[access.users.carol]\npolicy = "standard"\nupstream = "carol"\n`)), /access\.users\.carol\.upstream: unknown upstream "carol"/);
  });

  it('refuses a path claimed twice', () => {
    assertConfigError(() => load(tomlFile(base.replace('scgi = "unix:/home/alice/scgi.socket"', 'scgi = "unix:/home/alice/scgi.socket"\npaths = ["/RPC2"]'))), /upstreams\.alice\.paths\[0\]: "\/RPC2" is already server\.paths/);
  });
});

describe('upstream.untrusted', () => {
  it('is "auto" unless set, may be "never", per [upstreams.NAME] too, and refuses anything else naming the key', () => {
    const base = '[upstream]\nscgi = "unix:/r/scgi.socket"\n[auth]\nhtpasswd = "/x"\n';
    const auto = load(tomlFile(`${base}[upstreams.alice]\nscgi = "unix:/a/scgi.socket"\n`));
    assert.deepEqual(auto.upstreams.map((upstream) => upstream.untrusted), ['auto', 'auto']);
    const never = load(tomlFile(base.replace('[auth]', 'untrusted = "never"\n[auth]') + '[upstreams.alice]\nscgi = "unix:/a/scgi.socket"\n[upstreams.bob]\nscgi = "unix:/b/scgi.socket"\nuntrusted = "auto"\n'));
    assert.deepEqual(never.upstreams.map((upstream) => upstream.untrusted), ['never', 'never', 'auto']);
    assert.throws(() => load(tomlFile(base.replace('[auth]', 'untrusted = "always"\n[auth]'))), (error: unknown) => error instanceof ConfigError && /upstream\.untrusted/.test(error.message));
  });
});

describe('server.compress and server.compress_min_bytes', () => {
  const base = '[upstream]\nscgi = "unix:/r/scgi.socket"\n[auth]\nhtpasswd = "/x"\n';

  it('compress answers of 1 KiB and more unless set otherwise', () => {
    const config = load(tomlFile(base));
    assert.equal(config.server.compress, true);
    assert.equal(config.server.compressMinBytes, 1024);
  });

  it('take a size for the threshold, 0 included, and false to turn compression off', () => {
    const config = load(tomlFile(`[server]\ncompress = false\ncompress_min_bytes = "4KiB"\n${base}`));
    assert.equal(config.server.compress, false);
    assert.equal(config.server.compressMinBytes, 4096);
    assert.equal(load(tomlFile(`[server]\ncompress_min_bytes = 0\n${base}`)).server.compressMinBytes, 0);
  });

  it('come from flags and RTORRENT_GATEWAY_SERVER_COMPRESS*, as a container sets them', () => {
    const config = load(tomlFile(base), ['--server.compress_min_bytes', '2k'], { RTORRENT_GATEWAY_SERVER_COMPRESS: 'off' });
    assert.equal(config.server.compress, false);
    assert.equal(config.server.compressMinBytes, 2048);
  });

  it('refuse anything else, naming the key', () => {
    assertConfigError(() => load(tomlFile(`[server]\ncompress = "gzip"\n${base}`)), /server\.compress: /);
    assertConfigError(() => load(tomlFile(`[server]\ncompress_min_bytes = "small"\n${base}`)), /server\.compress_min_bytes: "small" is not a size/);
    assertConfigError(() => load(tomlFile(base), [], { RTORRENT_GATEWAY_SERVER_COMPRESS: 'maybe' }), /RTORRENT_GATEWAY_SERVER_COMPRESS: "maybe" is not true or false/);
  });
});
