/**
 * The README's shell examples, run as written against a real rtorrent 0.9.8: the Quick start, the
 * policy commands of "Clients and policies", and the password and nginx steps of "Migrating from
 * nginx scgi_pass".
 *
 * The ```sh blocks under those headings are read from README.md and each line is run with `sh -c`
 * from the repository root, as a reader would paste it. Only the documented places change, by plain
 * string replacement, so the README itself stays literal:
 *
 *   /etc/rtorrent-gateway       → a temp dir of this test
 *   /run/rtorrent/scgi.socket   → the socket of the rtorrent started here
 *   127.0.0.1:8000              → 127.0.0.1:0 where the gateway listens (the kernel picks a free port,
 *                                 read back from the gateway's "listening" line), and that port where
 *                                 a client calls
 *   PASSWORD                    → the password given to `passwd`
 *   `sudo `                     → dropped: the temp dir needs no privilege, and CI has no sudo
 *   `dist/cli.js passwd `       → `dist/cli.js passwd --stdin `, the password piped in (no terminal)
 *   `npm ci`                    → not run: the test run has installed and built already
 *   /etc/nginx/rtorrent.htpasswd → a file with a bcrypt line and a `$1$` line, as nginx's might be
 *
 * The config-file route copies gateway.example.toml as written; the same replacements are then made
 * in the copy, standing in for the reader's edit of upstream.scgi.
 *
 * The migration's [server] block and nginx `location` go into a real gateway and a real nginx
 * (workers as www-data, the README's socket_group), with /run/rtorrent-gateway/http.sock replaced
 * by a socket in a temp dir, and the Quick start's curl line is sent through nginx. That part needs
 * root, as nginx's `user` does.
 *
 * With CI=true a missing rtorrent, curl, python3, ruby (with its xmlrpc library), xmlrpc-c's
 * `xmlrpc` or nginx fails the file; elsewhere the steps that need it are skipped.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, removeTempDir, requireBinary, terminate, track, waitForExit } from '../helpers/processes.js';
import { debianRtorrent, startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { CLI, freePort, REPO_ROOT, writeHtpasswd } from './ops-support.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** What the README writes, and what this test puts in its place. */
const DOCUMENTED = {
  configDir: '/etc/rtorrent-gateway',
  rtorrentSocket: '/run/rtorrent/scgi.socket',
  listen: '127.0.0.1:8000',
  password: 'PASSWORD',
  gatewaySocket: '/run/rtorrent-gateway/http.sock',
} as const;

// Each throws with CI=true when missing, so the file fails there instead of skipping.
const RTORRENT = debianRtorrent();
const NGINX = requireBinary('nginx');
const isRoot = process.getuid?.() === 0;
const CLIENT_BINARIES = { curl: requireBinary('curl'), python3: requireBinary('python3'), ruby: requireBinary('ruby'), xmlrpc: requireBinary('xmlrpc') };

/** Ruby's xmlrpc library is a package of its own (Debian ruby-xmlrpc). */
function rubyXmlrpcProblem(): string | undefined {
  if (CLIENT_BINARIES.ruby === undefined) return 'ruby not installed (Debian ruby, ruby-xmlrpc)';
  const probe = spawnSync(CLIENT_BINARIES.ruby, ['-e', 'require "xmlrpc/client"'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const problem = `ruby cannot load xmlrpc/client (Debian ruby-xmlrpc): ${probe.stderr.trim()}`;
  if (process.env.CI === 'true') throw new Error(`${problem} (CI=true)`);
  return problem;
}
const RUBY_PROBLEM = rubyXmlrpcProblem();

/** The text from a `## heading` to the next `## `. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** The text of each ```LANGUAGE block of `markdown`. */
function fencedBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== `\`\`\`${language}`) continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1]?.trim() !== '```') i++;
    blocks.push(lines.slice(start, i + 1).join('\n'));
    i++;
  }
  return blocks;
}

/** Each ```sh block of `markdown` as its commands, a backslash-continued line joined to the next. */
function shellBlocks(markdown: string): string[][] {
  const blocks: string[][] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```sh') continue;
    const commands: string[] = [];
    let pending = '';
    for (i++; i < lines.length && lines[i]?.trim() !== '```'; i++) {
      const line = lines[i] as string;
      if (line.endsWith('\\')) {
        pending += line.slice(0, -1);
        continue;
      }
      const command = `${pending}${line}`.trim();
      pending = '';
      if (command !== '' && !command.startsWith('#')) commands.push(command);
    }
    blocks.push(commands);
  }
  return blocks;
}

/** The one command of `commands` that starts with `prefix`. */
function commandStarting(commands: readonly string[], prefix: string): string {
  const found = commands.filter((command) => command.startsWith(prefix));
  assert.equal(found.length, 1, `exactly one Quick start command starting with "${prefix}", got: ${JSON.stringify(commands)}`);
  return found[0] as string;
}

function replaceDocumented(command: string, what: string, by: string): string {
  assert.ok(command.includes(what), `expected "${what}" in: ${command}`);
  return command.replaceAll(what, by);
}

const QUICK_START = shellBlocks(section(README, 'Quick start'));

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** PATH with this test's own node first, so `node` in the README is the one running the suite. */
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, LANG: 'C.UTF-8' };

/** One README line through `sh -c`, from the repository root; resolves when it exits. */
function runLine(command: string, input?: string, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = track(spawn('sh', ['-c', command], { cwd: REPO_ROOT, env: ENV, stdio: ['pipe', 'pipe', 'pipe'], detached: true }), { group: true });
    child.ref();
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      void terminate(child);
      reject(new Error(`timed out after ${timeoutMs} ms: ${command}\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      void terminate(child);
      resolve({ code, stdout, stderr });
    });
    // A command that never reads its input may exit first; its closed pipe is no failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

interface Gateway {
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A README line that starts the gateway in the foreground: run it in the background until stop().
 * Resolves once it says it is listening: on 127.0.0.1 (its port is read back), or on `socketPath`.
 */
async function startGatewayLine(command: string, socketPath?: string): Promise<Gateway> {
  const child = track(spawn('sh', ['-c', command], { cwd: REPO_ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true }), { group: true });
  child.ref();
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    await terminate(child, { graceMs: 15_000 });
  };
  // JSON ("listen":"http://127.0.0.1:N") or text (listen=http://127.0.0.1:N), whichever log.format says.
  const address = socketPath === undefined ? /(?:"listen":"|listen=)http:\/\/127\.0\.0\.1:(\d+)/ : /(?:"listen":"|listen=)(\/[^"\s]+)/;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const line = output.split('\n').find((text) => text.includes('rtorrent-gateway listening') && address.test(text));
    const found = line === undefined ? undefined : address.exec(line)?.[1];
    if (found !== undefined) {
      if (socketPath !== undefined) assert.equal(found, socketPath, line);
      return { port: socketPath === undefined ? Number(found) : 0, output: () => output, stop };
    }
    if (await waitForExit(child, 20)) break;
  }
  await stop();
  throw new Error(`the gateway did not say it was listening: ${command}\n${output}`);
}

/** Request lines of the gateway's log for a relayed system.client_version by admin, JSON or text. */
function relayedCalls(output: string): number {
  return output.split('\n').filter((line) => line.includes('system.client_version') && line.includes('relayed') && line.includes('admin')).length;
}

if (RTORRENT === undefined) describe("the README's Quick start, as written", { skip: 'rtorrent not installed (Debian rtorrent)' }, () => undefined);
else
  describe("the README's Quick start, as written", () => {
    let dir: string;
    let rtorrent: RtorrentInstance;
    let configDir: string;
    let version: string;
    const password = randomBytes(12).toString('hex');
    let gateway: Gateway | undefined;

    before(async () => {
      assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
      dir = makeTempDir('readme');
      configDir = join(dir, 'rtorrent-gateway');
      rtorrent = await startRtorrent({ name: 'readme' });
      version = String(await rtorrent.call('system.client_version'));
    });
    after(async () => {
      await gateway?.stop();
      await rtorrent?.stop();
      if (dir) await removeTempDir(dir);
    });

    /** The documented paths made this test's own, as the file comment lists. */
    const localise = (command: string): string =>
      command.replaceAll(DOCUMENTED.configDir, configDir).replaceAll(DOCUMENTED.rtorrentSocket, rtorrent.socketPath).replace(/^sudo /, '');

    it('is three shell blocks: set up and run, one call from each of four clients, the config-file route', () => {
      assert.equal(QUICK_START.length, 3, `shell blocks under "## Quick start": ${JSON.stringify(QUICK_START)}`);
      const [setup, clients, configFile] = QUICK_START as [string[], string[], string[]];
      assert.equal(setup.length, 4, JSON.stringify(setup));
      assert.match(setup[0] as string, /^npm ci\b/);
      assert.match(setup[1] as string, /^sudo install -d .*\/etc\/rtorrent-gateway$/);
      assert.match(setup[2] as string, /^node dist\/cli\.js passwd /);
      assert.match(setup[3] as string, /^node dist\/cli\.js --listen /);
      assert.deepEqual(clients.map((command) => command.split(' ')[0]), ['curl', 'python3', 'ruby', 'xmlrpc']);
      assert.equal(configFile.length, 3, JSON.stringify(configFile));
    });

    it('makes the config directory, with the mode it names', async () => {
      const line = localise(commandStarting(QUICK_START[0] ?? [], 'sudo install -d '));
      const ran = await runLine(line);
      assert.equal(ran.code, 0, `${line}\n${ran.stderr}`);
      assert.ok(statSync(configDir).isDirectory());
      assert.equal(statSync(configDir).mode & 0o777, 0o750);
    });

    it('adds the admin with passwd, bcrypt in a file of mode 0640', async () => {
      const documented = commandStarting(QUICK_START[0] ?? [], 'node dist/cli.js passwd ');
      const line = replaceDocumented(localise(documented), 'dist/cli.js passwd ', 'dist/cli.js passwd --stdin ');
      const ran = await runLine(line, `${password}\n`);
      assert.equal(ran.code, 0, `${line}\n${ran.stdout}${ran.stderr}`);
      const htpasswd = join(configDir, 'htpasswd');
      assert.match(readFileSync(htpasswd, 'utf8'), /^admin:\$2[aby]\$\d\d\$/m);
      assert.equal(statSync(htpasswd).mode & 0o777, 0o640);
    });

    it('runs the gateway as written, and each client prints rtorrent\'s version through it', async (t) => {
      const documented = commandStarting(QUICK_START[0] ?? [], 'node dist/cli.js --listen ');
      assert.ok(documented.includes(DOCUMENTED.rtorrentSocket), documented);
      gateway = await startGatewayLine(replaceDocumented(localise(documented), DOCUMENTED.listen, '127.0.0.1:0'));
      const port = gateway.port;
      const call = (command: string): string => replaceDocumented(replaceDocumented(command, DOCUMENTED.listen, `127.0.0.1:${port}`), DOCUMENTED.password, password);
      const expected: Record<string, RegExp> = {
        curl: new RegExp(`<string>${version.replaceAll('.', '\\.')}</string>`),
        python3: new RegExp(`^${version.replaceAll('.', '\\.')}$`, 'm'),
        ruby: new RegExp(`^${version.replaceAll('.', '\\.')}$`, 'm'),
        xmlrpc: new RegExp(`String: '${version.replaceAll('.', '\\.')}'`),
      };
      let made = 0;
      for (const documentedCall of QUICK_START[1] ?? []) {
        const client = documentedCall.split(' ')[0] as keyof typeof CLIENT_BINARIES;
        const missing = CLIENT_BINARIES[client] === undefined ? `${client} not installed` : client === 'ruby' ? RUBY_PROBLEM : undefined;
        if (missing !== undefined) {
          t.diagnostic(`skipped ${client}: ${missing}`);
          continue;
        }
        const ran = await runLine(call(documentedCall));
        assert.equal(ran.code, 0, `${client}: ${call(documentedCall)}\n${ran.stdout}${ran.stderr}`);
        assert.match(ran.stdout, expected[client] as RegExp, `${client} printed:\n${ran.stdout}${ran.stderr}`);
        made++;
      }
      // Every call went through the gateway, as the admin, and was relayed.
      const deadline = Date.now() + 2000;
      while (relayedCalls(gateway.output()) < made && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(relayedCalls(gateway.output()), made, gateway.output());
      await gateway.stop();
      gateway = undefined;
    });

    it('copies the example configuration, checks it and runs the gateway with it', async () => {
      const [copy, check, run] = QUICK_START[2] as [string, string, string];
      assert.match(copy, /^cp gateway\.example\.toml \/etc\/rtorrent-gateway\/gateway\.toml$/);
      const copied = await runLine(localise(copy));
      assert.equal(copied.code, 0, copied.stderr);
      const file = join(configDir, 'gateway.toml');
      // The reader's edit: upstream.scgi pointed at their rtorrent (here, the test's), its paths ours.
      const example = readFileSync(file, 'utf8');
      writeFileSync(file, replaceDocumented(localise(example), DOCUMENTED.listen, '127.0.0.1:0'));

      const checked = await runLine(localise(check));
      assert.equal(checked.code, 0, `${localise(check)}\n${checked.stdout}${checked.stderr}`);
      assert.match(checked.stdout, /configuration OK; rtorrent answers/);

      gateway = await startGatewayLine(localise(run));
      const curl = (QUICK_START[1] ?? []).find((command) => command.startsWith('curl '));
      assert.ok(curl, 'the Quick start shows a curl call');
      if (CLIENT_BINARIES.curl === undefined) return;
      const ran = await runLine(replaceDocumented(replaceDocumented(curl, DOCUMENTED.listen, `127.0.0.1:${gateway.port}`), DOCUMENTED.password, password));
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, new RegExp(`<string>${version.replaceAll('.', '\\.')}</string>`));
      await gateway.stop();
      gateway = undefined;
    });

    it('lists the policies and explains a refusal, as "Clients and policies" shows, with that configuration', async () => {
      const blocks = shellBlocks(section(README, 'Clients and policies'));
      assert.equal(blocks.length, 1, `shell blocks under "## Clients and policies": ${JSON.stringify(blocks)}`);
      const [list, one, explain] = blocks[0] as [string, string, string];
      const listed = await runLine(localise(list));
      assert.equal(listed.code, 0, listed.stderr);
      for (const name of ['full', 'standard', 'readonly', 'arr', 'mobile', 'autobrr', 'monitoring', 'flood', 'rutorrent']) assert.match(listed.stdout, new RegExp(`^  ${name} `, 'm'));
      const shown = await runLine(localise(one));
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^policy arr\b/m);
      // The user the example configuration (copied above) gives the "arr" policy.
      assert.ok(existsSync(join(configDir, 'gateway.toml')), 'the Quick start copied gateway.example.toml');
      const explained = await runLine(localise(explain));
      assert.equal(explained.code, 1, `${localise(explain)}\n${explained.stdout}${explained.stderr}`);
      assert.match(explained.stdout, /^refused for user "sonarr"/m);
      assert.match(explained.stdout, /execute\.throw/);
    });

    it('carries nginx\'s password file over as "Migrating from nginx scgi_pass" shows: --check names a $1$ line, passwd replaces it', async () => {
      const [copyAndCheck, again] = shellBlocks(section(README, 'Migrating from nginx scgi_pass')) as [string[], string[]];
      const [copy, check] = copyAndCheck as [string, string];
      assert.equal(copyAndCheck.length, 2, JSON.stringify(copyAndCheck));
      assert.equal(again.length, 1, JSON.stringify(again));
      // nginx's file: a bcrypt line that carries over, and one from `openssl passwd -1 -salt abcdefgh secret`.
      const nginxFile = join(dir, 'rtorrent.htpasswd');
      writeHtpasswd(nginxFile, { admin: password });
      writeFileSync(nginxFile, `${readFileSync(nginxFile, 'utf8')}bob:$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1\n`);
      const copied = await runLine(replaceDocumented(localise(copy), '/etc/nginx/rtorrent.htpasswd', nginxFile));
      assert.equal(copied.code, 0, copied.stderr);

      const refused = await runLine(localise(check));
      assert.equal(refused.code, 78, `${refused.stdout}${refused.stderr}`);
      assert.match(refused.stderr, /line 2 \(user "bob"\): MD5-crypt \(\$1\$\) hashes are not supported/);

      const bob = randomBytes(12).toString('hex');
      const replaced = await runLine(replaceDocumented(localise(again[0] as string), 'dist/cli.js passwd ', 'dist/cli.js passwd --stdin '), `${bob}\n`);
      assert.equal(replaced.code, 0, replaced.stderr);
      const lines = readFileSync(join(configDir, 'htpasswd'), 'utf8').trim().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0] as string, /^admin:\$2[aby]\$/, 'the other line is kept');
      assert.match(lines[1] as string, /^bob:\$2[aby]\$/);

      const accepted = await runLine(localise(check));
      assert.equal(accepted.code, 0, `${accepted.stdout}${accepted.stderr}`);
      assert.match(accepted.stdout, /configuration OK/);
    });
  });

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`, or after `ms`. */
async function accepting(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = connect({ host: '127.0.0.1', port }, () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

const MIGRATION = section(README, 'Migrating from nginx scgi_pass');
const nginxSkip = (!isRoot && 'needs root: nginx\'s workers run as www-data') || (NGINX === undefined && 'nginx not installed (Debian nginx-light)') || (RTORRENT === undefined && 'rtorrent not installed (Debian rtorrent)');

describe("the README's nginx migration: nginx keeps the port and passes /RPC2 to the gateway's socket", { skip: nginxSkip }, () => {
  let dir: string;
  let rtorrent: RtorrentInstance;
  let version: string;
  let gateway: Gateway | undefined;
  let nginx: ReturnType<typeof spawn> | undefined;
  let nginxPort: number;
  const password = randomBytes(12).toString('hex');

  const serverToml = fencedBlocks(MIGRATION, 'toml').filter((block) => block.includes('listen = "unix:'));
  const locations = fencedBlocks(MIGRATION, 'nginx').filter((block) => block.includes('proxy_pass'));

  before(async () => {
    assert.equal(serverToml.length, 1, 'one [server] block with a unix: listen under "Migrating from nginx scgi_pass"');
    assert.equal(locations.length, 1, 'one nginx location with proxy_pass under "Migrating from nginx scgi_pass"');
    dir = makeTempDir('readme-nginx');
    // nginx's workers (www-data) must reach the socket's directory; the socket itself decides who may connect.
    chmodSync(dir, 0o755);
    rtorrent = await startRtorrent({ name: 'readme-nginx' });
    version = String(await rtorrent.call('system.client_version'));
  });
  after(async () => {
    await gateway?.stop();
    if (nginx) await terminate(nginx);
    await rtorrent?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('answers the Quick start\'s curl call through nginx, with the client\'s address in the gateway\'s log', async () => {
    const socket = join(dir, 'http.sock');
    const htpasswd = join(dir, 'htpasswd');
    writeHtpasswd(htpasswd, { admin: password });
    const config = join(dir, 'gateway.toml');
    writeFileSync(
      config,
      [
        replaceDocumented(serverToml[0] as string, DOCUMENTED.gatewaySocket, socket),
        '[upstream]',
        `scgi = "unix:${rtorrent.socketPath}"`,
        '[auth]',
        `htpasswd = "${htpasswd}"`,
        '[access.users]',
        'admin = "full"',
        '',
      ].join('\n'),
    );
    gateway = await startGatewayLine(`node dist/cli.js --config ${config}`, socket);

    nginxPort = await freePort();
    const p = (name: string): string => join(dir, name);
    writeFileSync(
      p('nginx.conf'),
      [
        'daemon off;',
        'user www-data www-data;',
        'worker_processes 1;',
        `pid ${p('nginx.pid')};`,
        `error_log ${p('error.log')};`,
        'events {}',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${p(kind)};`),
        '  server {',
        `    listen 127.0.0.1:${nginxPort};`,
        replaceDocumented(locations[0] as string, DOCUMENTED.gatewaySocket, socket),
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    nginx = track(spawn(NGINX as string, ['-c', p('nginx.conf'), '-p', dir], { detached: true, stdio: 'ignore' }), { group: true });
    assert.ok(await accepting(nginxPort, 5000), `nginx did not start: ${existsSync(p('error.log')) ? readFileSync(p('error.log'), 'utf8') : ''}`);

    const curl = (QUICK_START[1] ?? []).find((command) => command.startsWith('curl '));
    assert.ok(curl !== undefined, 'the Quick start has a curl call');
    if (CLIENT_BINARIES.curl === undefined) return;
    const ran = await runLine(replaceDocumented(replaceDocumented(curl, DOCUMENTED.listen, `127.0.0.1:${nginxPort}`), DOCUMENTED.password, password));
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, new RegExp(`<string>${version.replaceAll('.', '\\.')}</string>`), `${ran.stdout}\n${gateway.output()}`);
    // trust_proxy: the address nginx passes on, not "unix".
    const deadline = Date.now() + 2000;
    const requestLine = (): string | undefined => gateway?.output().split('\n').find((line) => line.includes('system.client_version') && line.includes('relayed'));
    while (requestLine() === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(requestLine() ?? gateway.output(), /"remote":"127\.0\.0\.1"|\b127\.0\.0\.1 admin\b/);
  });
});
