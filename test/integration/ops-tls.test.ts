import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { CLI, listeningAddress, request, rpcHeaders, runCli, stopCli, writeConfig, writeHtpasswd, type CliProcess } from './ops-support.js';

const openssl = requireBinary('openssl');
const VERSION = '<?xml version="1.0"?><methodResponse><params><param><value><string>0.9.8</string></value></param></params></methodResponse>';

/** A self-signed P-256 certificate for 127.0.0.1, valid for a day. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(openssl as string, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** The CN of the certificate the server presents to a new connection. */
function presentedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const name = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(name));
    });
    socket.once('error', reject);
  });
}

describe('TLS', { skip: !openssl && 'openssl not installed' }, () => {
  let dir: string;
  let fake: FakeScgiServer;
  let cli: CliProcess;
  let port: number;
  let first: { cert: string; key: string };
  let second: { cert: string; key: string };
  const live = { cert: '', key: '' };

  async function hangUp(): Promise<Record<string, unknown>> {
    const from = cli.lines().length;
    cli.child.kill('SIGHUP');
    return cli.waitForLine((line) => line.msg === 'configuration reloaded' || line.msg === 'reload failed: still serving the previous configuration', { from });
  }

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    dir = makeTempDir('tls');
    first = selfSigned(dir, 'gateway-one');
    second = selfSigned(dir, 'gateway-two');
    live.cert = join(dir, 'live.crt');
    live.key = join(dir, 'live.key');
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(VERSION)));
    const config = join(dir, 'gateway.toml');
    writeConfig(config, {
      listen: '127.0.0.1:0',
      upstream: `unix:${fake.socketPath}`,
      htpasswd: join(dir, 'htpasswd'),
      users: { admin: 'full' },
      extra: `[server.tls]\ncert = "${live.cert}"\nkey = "${live.key}"`,
    });
    cli = runCli(['--config', config]);
    const address = await listeningAddress(cli);
    assert.match(address, /^https:\/\/127\.0\.0\.1:\d+$/);
    port = Number(new URL(address).port);
  });
  after(async () => {
    if (cli) await stopCli(cli);
    await fake?.close();
    if (dir) await removeTempDir(dir);
  });

  it('serves XML-RPC over HTTPS with the configured certificate', async () => {
    const answer = await request(
      { host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: rpcHeaders('admin', 'admin-secret'), tls: { ca: readFileSync(first.cert) } },
      xmlCall('system.client_version'),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.body, VERSION);
    assert.equal(await presentedName(port), 'gateway-one');
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    await assert.rejects(request({ host: '127.0.0.1', port, path: '/healthz' }));
  });

  it('presents a renewed certificate to new connections after SIGHUP', async () => {
    copyFileSync(second.cert, live.cert);
    copyFileSync(second.key, live.key);
    assert.equal((await hangUp()).msg, 'configuration reloaded');
    assert.equal(await presentedName(port), 'gateway-two');
    const answer = await request({ host: '127.0.0.1', port, path: '/healthz', tls: { ca: readFileSync(second.cert) } });
    assert.equal(answer.status, 200);
  });

  it('keeps the working certificate when the new key does not match', async () => {
    copyFileSync(first.cert, live.cert);
    copyFileSync(second.key, live.key);
    const outcome = await hangUp();
    assert.equal(outcome.msg, 'reload failed: still serving the previous configuration');
    assert.match(String((outcome.err as { message: string }).message), /server\.tls: .* are not a usable certificate and matching private key/);
    assert.equal(await presentedName(port), 'gateway-two');
  });

  it('is checked by --healthcheck from the same configuration, as Docker does', async () => {
    const config = join(dir, 'check.toml');
    writeConfig(config, {
      listen: `127.0.0.1:${port}`,
      upstream: `unix:${fake.socketPath}`,
      htpasswd: join(dir, 'htpasswd'),
      users: { admin: 'full' },
      extra: `[server.tls]\ncert = "${live.cert}"\nkey = "${live.key}"`,
    });
    // Not execFileSync: it would freeze this process, and with it the fake rtorrent that the
    // gateway's health probe asks, which then times out and /healthz answers 503.
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, '--config', config, '--healthcheck'], { encoding: 'utf8' });
    assert.equal(stdout, 'healthy\n');
  });
});
