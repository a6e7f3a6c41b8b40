import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli-args.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { fullPolicyNames } from '../../src/ops/audit.js';
import { systemdListenFd } from '../../src/ops/listen.js';
import { methodLabel } from '../../src/ops/metrics.js';
import { keysNeedingRestart } from '../../src/ops/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-ops-config-'));
let counter = 0;
const BASE = '[upstream]\nscgi = "unix:/run/rtorrent/scgi.socket"\n[auth]\nhtpasswd = "/etc/rtorrent-gateway/htpasswd"\n';

function load(toml: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `gateway-${counter++}.toml`);
  writeFileSync(file, toml);
  const cli = parseCli(argv, env);
  return loadConfig({ file, overrides: cli.overrides });
}

function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
}

describe('operations configuration', () => {
  it('defaults: metrics on and behind auth, no audit file, no TLS, a 10 s shutdown', () => {
    const config = load(BASE);
    assert.deepEqual(config.metrics, { enabled: true, path: '/metrics', public: false, users: [] });
    assert.deepEqual(config.audit, { file: undefined });
    assert.equal(config.server.tls, undefined);
    assert.equal(config.server.shutdownTimeoutMs, 10_000);
    assert.equal(config.server.trustProxy, false);
  });

  it('reads a Unix listen socket with an octal mode string and a group', () => {
    const config = load(`[server]\nlisten = "unix:/run/rtorrent-gateway/http.sock"\nsocket_mode = "0660"\nsocket_group = "www-data"\n${BASE}`);
    assert.equal(config.server.socketMode, 0o660);
    assert.equal(config.server.socketGroup, 'www-data');
  });

  it('refuses a mode written as a TOML number, which would be read as decimal', () => {
    assertConfigError(() => load(`[server]\nlisten = "unix:/run/x.sock"\nsocket_mode = 660\n${BASE}`), /server\.socket_mode: 660 is not an octal mode written as a string/);
  });

  it('refuses socket_mode and socket_group with a TCP listen address', () => {
    assertConfigError(() => load(`[server]\nsocket_group = "www-data"\n${BASE}`), /server\.socket_group: only applies when server\.listen is unix:/);
  });

  it('wants both halves of server.tls', () => {
    assertConfigError(() => load(`[server.tls]\ncert = "/etc/ssl/gw.pem"\n${BASE}`), /server\.tls\.key: required key is missing/);
  });

  it('refuses an RPC path that is the health or metrics endpoint', () => {
    assertConfigError(() => load(`[server]\npaths = ["/RPC2", "/healthz"]\n${BASE}`), /server\.paths\[1\]: "\/healthz" is already the health endpoint/);
    // /healthz/NAME answers for each rtorrent, [upstream]'s included.
    assertConfigError(() => load(`[server]\npaths = ["/healthz/default"]\n${BASE}`), /server\.paths\[0\]: "\/healthz\/default" is already the health endpoint/);
    assertConfigError(() => load(`[metrics]\npath = "/healthz/default"\n${BASE}`), /metrics\.path: "\/healthz\/default" is the health endpoint/);
    assertConfigError(() => load(`[server]\npaths = ["/metrics"]\n${BASE}`), /server\.paths\[0\]: "\/metrics" is already metrics\.path/);
    assert.deepEqual(load(`[server]\npaths = ["/metrics"]\n[metrics]\nenabled = false\n${BASE}`).server.paths, ['/metrics']);
  });

  it('takes the new keys from flags and RTORRENT_GATEWAY_* variables, as a container sets them', () => {
    const config = load(BASE, ['--tls-cert', '/c.pem', '--audit-file', '/var/log/a.log'], {
      RTORRENT_GATEWAY_SERVER_TLS_KEY: '/k.pem',
      RTORRENT_GATEWAY_METRICS_PUBLIC: 'true',
      RTORRENT_GATEWAY_METRICS_USERS: 'prometheus,admin',
      RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT: '3s',
    });
    assert.deepEqual(config.server.tls, { cert: '/c.pem', key: '/k.pem' });
    assert.equal(config.audit.file, '/var/log/a.log');
    assert.equal(config.metrics.public, true);
    assert.deepEqual(config.metrics.users, ['prometheus', 'admin']);
    assert.equal(config.server.shutdownTimeoutMs, 3000);
  });

  it('loads gateway.example.toml as shipped', () => {
    const example = new URL('../../gateway.example.toml', import.meta.url).pathname;
    const config = loadConfig({ file: example });
    assert.equal(config.upstream.scgi.label, 'unix:/run/rtorrent/scgi.socket');
    assert.equal(config.metrics.enabled, true);
  });

  it('names the keys a reload cannot apply', () => {
    const running = load(BASE);
    const next = load(`[server]\nlisten = "127.0.0.1:9000"\nhosts = ["seedbox"]\n[upstream]\nscgi = "tcp://127.0.0.1:5000"\n[auth]\nhtpasswd = "/other"\n[access.users]\nbob = "full"\n`);
    assert.deepEqual(keysNeedingRestart(running, next), ['server.listen', 'upstream.scgi']);
    assert.deepEqual(keysNeedingRestart(running, load(BASE)), []);
  });

  it('names upstream.jsonrpc, which is fixed when the upstream is created', () => {
    assert.deepEqual(keysNeedingRestart(load(BASE), load(BASE.replace('[upstream]\n', '[upstream]\njsonrpc = true\n'))), ['upstream.jsonrpc']);
  });

  it('applies server.compress and server.compress_min_bytes on reload', () => {
    assert.deepEqual(keysNeedingRestart(load(BASE), load(`[server]\ncompress = false\ncompress_min_bytes = "8KiB"\n${BASE}`)), []);
  });
});

describe('audit scope', () => {
  it('treats full and every policy built on it as full access', () => {
    const names = fullPolicyNames({
      ops: { extends: 'full', deny: ['d.erase'] },
      opsplus: { extends: 'ops' },
      tidy: { extends: 'standard' },
      loop: { extends: 'loop' },
    });
    assert.deepEqual([...names].sort(), ['full', 'ops', 'opsplus']);
  });
});

describe('metric labels', () => {
  it('keeps known method names and folds anything a client made up into "other"', () => {
    assert.equal(methodLabel('d.multicall2'), 'd.multicall2');
    assert.equal(methodLabel('system.multicall'), 'system.multicall');
    assert.equal(methodLabel('x'.repeat(200)), 'other');
    assert.equal(methodLabel(undefined), '');
  });
});

describe('systemd socket activation', () => {
  it('takes fd 3 when LISTEN_PID is this process, and clears the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'rtorrent-gateway.socket' };
    assert.equal(systemdListenFd(env, 42), 3);
    assert.deepEqual(env, {});
  });

  it('ignores variables meant for another process', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '41', LISTEN_FDS: '1' };
    assert.equal(systemdListenFd(env, 42), undefined);
    assert.equal(systemdListenFd({}, 42), undefined);
  });

  it('refuses more than one socket', () => {
    assert.throws(() => systemdListenFd({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42), /exactly one Listen/);
  });
});
