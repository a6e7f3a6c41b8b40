/**
 * No Docker engine runs here, so the image itself is not built (docs/deployment.md, "Docker", has
 * the manual check). What can be tested is tested: the Dockerfile's shape, and its ENTRYPOINT, ENV
 * and HEALTHCHECK commands run as written, from the directory layout the image has (/app = checkout).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseDuration } from '../../src/config/units.js';
import { basicAuth, post } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { freePort, REPO_ROOT, runCli, stopCli, writeHtpasswd } from './ops-support.js';

const run = promisify(execFile);
/** What docker stop, podman stop and compose wait between SIGTERM and SIGKILL unless told otherwise. */
const DOCKER_STOP_GRACE_MS = 10_000;
/** Time left after server.shutdown_timeout to cut the remaining calls, flush the log and exit. */
const SHUTDOWN_MARGIN_MS = 2_000;
const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

interface Stage {
  readonly from: string;
  readonly instructions: Array<{ readonly name: string; readonly args: string }>;
}

/** Dockerfile → stages of (instruction, arguments), with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, name = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (name.toUpperCase() === 'FROM') stages.push({ from: args, instructions: [] });
    else stages.at(-1)?.instructions.push({ name: name.toUpperCase(), args });
  }
  return stages;
}

const stages = parseDockerfile(DOCKERFILE);
const final = stages.at(-1) as Stage;
const instruction = (name: string): string[] => final.instructions.filter((item) => item.name === name).map((item) => item.args);

function envOfImage(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instruction('ENV')) {
    for (const [, key, value] of args.matchAll(/(\w+)=(\S*)/g)) env[key as string] = value as string;
  }
  return env;
}

/** ["node", "dist/cli.js"] with this machine's node. */
function execForm(args: string): string[] {
  const command = JSON.parse(args) as string[];
  return command.map((part, index) => (index === 0 && part === 'node' ? process.execPath : part));
}

describe('the Dockerfile', () => {
  it('builds in two stages and keeps only production dependencies in the image', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    assert.match(stages[0]?.from ?? '', / AS build$/i);
    const runs = instruction('RUN').join('\n');
    assert.match(runs, /npm ci --omit=dev/);
    assert.ok(instruction('COPY').some((args) => args.startsWith('--from=build ') && args.includes('dist')));
  });

  it('runs as a non-root user, with a health check, the socket volume and the config from a file or the environment', () => {
    const users = instruction('USER');
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0] ?? '', /^(root|0)(:|$)/);
    assert.equal(instruction('HEALTHCHECK').length, 1);
    assert.match(instruction('VOLUME').join(' '), /\/run\/rtorrent/);
    const env = envOfImage();
    assert.equal(env.RTORRENT_GATEWAY_CONFIG, '/config/gateway.toml');
    assert.match(env.RTORRENT_GATEWAY_SERVER_LISTEN ?? '', /^0\.0\.0\.0:\d+$/);
  });

  it('builds and runs on Node 22, a supported LTS (Node 20 reached its end of life in April 2026)', () => {
    for (const stage of stages) assert.match(stage.from, /^node:22-bookworm-slim( |$)/i, stage.from);
  });

  it('stops on SIGTERM within the 10 s docker stop waits before SIGKILL, with time to spare', () => {
    assert.deepEqual(instruction('STOPSIGNAL'), ['SIGTERM']);
    const timeoutMs = parseDuration(envOfImage().RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT ?? '');
    assert.ok(timeoutMs !== undefined, 'the image sets RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT');
    assert.ok(timeoutMs + SHUTDOWN_MARGIN_MS <= DOCKER_STOP_GRACE_MS, `${timeoutMs} ms + ${SHUTDOWN_MARGIN_MS} ms margin`);
  });

  it('keeps the build context small (.dockerignore)', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), entry);
  });

  describe('its commands, run as the image runs them', { skip: !requireBinary('rtorrent') && 'rtorrent not installed' }, () => {
    let rtorrent: RtorrentInstance;
    let dir: string;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      rtorrent = await startRtorrent({ name: 'docker' });
      dir = makeTempDir('docker');
      writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
      // The mounted /config/gateway.toml: the socket and the password file; the listen address
      // comes from the image's ENV, as in the container (only the port differs here).
      const config = join(dir, 'gateway.toml');
      writeFileSync(config, `[upstream]\nscgi = "unix:${rtorrent.socketPath}"\n[auth]\nhtpasswd = "${join(dir, 'htpasswd')}"\n[access.users]\nadmin = "full"\n`);
      const image = envOfImage();
      const port = await freePort();
      env = {
        ...image,
        RTORRENT_GATEWAY_CONFIG: config,
        RTORRENT_GATEWAY_SERVER_LISTEN: (image.RTORRENT_GATEWAY_SERVER_LISTEN ?? '').replace(/:\d+$/, `:${port}`),
      };
    });
    after(async () => {
      await rtorrent?.stop();
      if (dir) await removeTempDir(dir);
    });

    it('ENTRYPOINT serves, HEALTHCHECK follows rtorrent, and docker stop (SIGTERM) exits 0', async () => {
      const [entry] = instruction('ENTRYPOINT');
      const cli = runCli([], { command: execForm(entry as string), env, cwd: REPO_ROOT });
      const healthcheck = async (): Promise<{ code: number; output: string }> => {
        const command = execForm(/CMD\s+(\[.*\])$/.exec(instruction('HEALTHCHECK')[0] ?? '')?.[1] ?? '[]');
        return run(command[0] as string, command.slice(1), { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...env } }).then(
          (output) => ({ code: 0, output: output.stdout }),
          (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
        );
      };
      try {
        const listening = await cli.waitForLine((line) => line.msg === 'rtorrent-gateway listening');
        const port = Number(/:(\d+)$/.exec(String(listening.listen))?.[1]);
        const answer = await post(`http://127.0.0.1:${port}/RPC2`, xmlCall('system.client_version'), { authorization: basicAuth('admin', 'admin-secret') });
        assert.equal(answer.status, 200);
        assert.deepEqual(await healthcheck(), { code: 0, output: 'healthy\n' });

        await rtorrent.stop();
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const down = await healthcheck();
        assert.equal(down.code, 1);
        assert.match(down.output, /unhealthy: \/healthz answered 503/);
      } finally {
        await stopCli(cli);
      }
      assert.equal((await cli.exited).code, 0);
      const shuttingDown = cli.lines().find((line) => line.signal === 'SIGTERM');
      assert.equal(shuttingDown?.timeoutMs, parseDuration(env.RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT ?? ''), "the image's shutdown timeout reaches the gateway");
    });
  });
});
