/**
 * 256 concurrent keep-alive clients against the built CLI (node dist/cli.js, a child process, as in
 * production) in front of a real rtorrent with 500 torrents, upstream.max_connections = 16 and a
 * queue of 128, so both paths are exercised: calls that wait their turn (200) and calls refused
 * when the queue is full (503 + Retry-After, which the clients honour).
 *
 * Asserted: the gateway never crashes, every request is answered 200 or 503 (no resets, no
 * hangs), its peak RSS (VmHWM) stays under a generous bound, rtorrent never holds more than 16
 * SCGI connections at once, and the gateway serves normally afterwards.
 *
 * LOAD_SECONDS (default 10) sets the duration; LOAD_SECONDS=60 is the full minute of the issue.
 * Throughput is reported, never asserted: speed is measured in bench/.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { basicAuth } from '../helpers/gateway.js';
import { makeTempDir, removeTempDir, requireBinary, terminate, track, waitForExit } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { CLI, freePort, writeHtpasswd } from './ops-support.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;
const CLIENTS = 256;
const SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const MAX_CONNECTIONS = 16;
/** Generous; a Node 20 gateway idles at ~60 MiB. */
const RSS_BOUND = 250 * 1024 * 1024;
const ADMIN = basicAuth('admin', 'admin-secret');

/** What clients poll: ruTorrent's list (3 fields), a full list (10 fields), and a cheap call. */
const CALLS = [
  xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.state=']),
  xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.state=']),
  xmlCall('d.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.directory=', 'd.base_path=', 'd.size_bytes=', 'd.state=', 'd.custom1=', 'd.message=', 'd.ratio=', 'd.up.total=']),
  xmlCall('system.client_version'),
];

/** VmRSS, VmHWM (peak RSS)… of a process, in bytes. */
function procStatus(pid: number): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const match = /^(Vm\w+):\s+(\d+) kB/.exec(line);
    if (match) fields[match[1] as string] = Number(match[2]) * 1024;
  }
  return fields;
}

/**
 * Connections a process has accepted on the Unix socket at `path`: its socket descriptors, matched
 * against /proc/net/unix, where an accepted socket carries its listener's path (state 03,
 * connected). Counting every socket descriptor instead would also count BitTorrent peers that
 * other tests' rtorrents on this host may open to ours.
 */
function acceptedOn(pid: number, path: string): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1] as string);
    } catch {
      // Closed while we looked.
    }
  }
  let connected = 0;
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n')) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields[7] === path && fields[5] === '03' && inodes.has(fields[6] as string)) connected++;
  }
  return connected;
}

/** The Node flags production runs the CLI with, as its shebang names them (`#!/usr/bin/env -S node --flag …`). */
function shebangFlags(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!.*\bnode((?:\s+--\S+)*)\s*$/.exec(first);
  return match?.[1]?.trim().split(/\s+/).filter((flag) => flag !== '') ?? [];
}

interface Outcome {
  readonly status?: number;
  readonly retryAfter?: string;
  readonly error?: string;
  readonly ms: number;
}

function callOnce(agent: Agent, port: number, body: string): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path: '/RPC2', method: 'POST', agent, headers: { authorization: ADMIN, 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        const retryAfter = response.headers['retry-after'];
        response.on('end', () => resolve({ status: response.statusCode, retryAfter, ms: performance.now() - started }));
        response.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, ms: performance.now() - started }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, ms: performance.now() - started }));
    // Well past upstream.timeout plus a full queue wait: a request still open by then has hung.
    request.setTimeout(30_000, () => request.destroy(Object.assign(new Error('hung'), { code: 'HUNG' })));
    request.end(body);
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number);
}

describe(`${CLIENTS} concurrent clients for ${SECONDS} s through the built gateway`, { skip: !haveRtorrent && 'rtorrent not installed', timeout: 60_000 + SECONDS * 2000 }, () => {
  let rtorrent: RtorrentInstance;
  let dir: string;
  let gateway: ChildProcess;
  let port: number;
  let stderr = '';
  let logLines = 0;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    rtorrent = await startRtorrent({ name: 'load', torrents: 500 });
    dir = makeTempDir('load');
    writeHtpasswd(join(dir, 'htpasswd'), { admin: 'admin-secret' });
    port = await freePort();
    writeFileSync(
      join(dir, 'gateway.toml'),
      [
        '[server]',
        `listen = "127.0.0.1:${port}"`,
        '[upstream]',
        `scgi = "unix:${rtorrent.socketPath}"`,
        'timeout = "20s"',
        `max_connections = ${MAX_CONNECTIONS}`,
        'max_queue = 128',
        '[auth]',
        `htpasswd = "${join(dir, 'htpasswd')}"`,
        '[access.users]',
        'admin = "full"',
        // One JSON line per request, as in production: the logging is part of the load.
        '[log]',
        'level = "info"',
      ].join('\n'),
    );
    // As systemd and the container run it: the same Node flags (a small young generation).
    const flags = shebangFlags(CLI);
    gateway = track(spawn(process.execPath, [...flags, CLI, '--config', join(dir, 'gateway.toml')], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } }));
    gateway.ref();
    gateway.stdout?.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) logLines++;
    });
    gateway.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8192)));
    const deadline = Date.now() + 10_000;
    for (;;) {
      assert.equal(gateway.exitCode, null, `the gateway exited at start: ${stderr}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
      } catch {
        // Not listening yet.
      }
      assert.ok(Date.now() < deadline, `the gateway did not become healthy: ${stderr}`);
      await sleep(50);
    }
  });
  after(async () => {
    if (gateway) await terminate(gateway, { graceMs: 15_000 });
    rtorrent?.kill('SIGKILL');
    await rtorrent?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('answers every request 200 or 503, never crashes, stays under the memory bound, and serves normally afterwards', async (t) => {
    const pid = gateway.pid as number;
    const statuses = new Map<number, number>();
    const errors = new Map<string, number>();
    const latencies: number[] = [];
    let peakRtorrentSockets = 0;
    let peakAt = 0;
    const busyWithoutRetryAfter: Array<string | undefined> = [];
    let peakRss = 0;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, procStatus(pid).VmRSS ?? 0);
        const sockets = acceptedOn(rtorrent.pid, rtorrent.socketPath);
        if (sockets > peakRtorrentSockets) {
          peakRtorrentSockets = sockets;
          peakAt = performance.now();
        }
      } catch {
        // The process is gone; the assertions below say so.
      }
    }, 100);

    // Like Node's global agent: with a `timeout`, an idle pooled socket is closed a second before the
    // server's Keep-Alive hint runs out. Without one, Node ignores the hint, and a request sent on a
    // socket the server is just closing fails with ECONNRESET (a client-side race, not a refusal).
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, timeout: 5000 });
    const deadline = Date.now() + SECONDS * 1000;
    const client = async (index: number): Promise<void> => {
      for (let n = index; Date.now() < deadline; n++) {
        const outcome = await callOnce(agent, port, CALLS[n % CALLS.length] as string);
        latencies.push(outcome.ms);
        if (outcome.status !== undefined) statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
        else errors.set(outcome.error ?? '?', (errors.get(outcome.error ?? '?') ?? 0) + 1);
        // Retry-After: 1, as well-behaved clients do; anything else goes straight back.
        if (outcome.status === 503) {
          if (outcome.retryAfter !== '1') busyWithoutRetryAfter.push(outcome.retryAfter);
          await sleep(1000);
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));
    const elapsed = (performance.now() - started) / 1000;
    agent.destroy();
    clearInterval(sampler);

    const status = procStatus(pid);
    const total = [...statuses.values()].reduce((sum, count) => sum + count, 0);
    latencies.sort((a, b) => a - b);
    t.diagnostic(
      `${total} requests in ${elapsed.toFixed(1)} s (${(total / elapsed).toFixed(0)}/s): ` +
        `${JSON.stringify(Object.fromEntries(statuses))}, errors ${JSON.stringify(Object.fromEntries(errors))}`,
    );
    t.diagnostic(`latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${percentile(latencies, 100).toFixed(0)} ms`);
    t.diagnostic(`gateway (node ${shebangFlags(CLI).join(' ')}) VmHWM ${((status.VmHWM ?? 0) / 2 ** 20).toFixed(1)} MiB (sampled VmRSS peak ${(peakRss / 2 ** 20).toFixed(1)} MiB), ${logLines} log lines`);
    t.diagnostic(`rtorrent: at most ${peakRtorrentSockets} SCGI connections at once (${((peakAt - started) / 1000).toFixed(1)} s in)`);

    assert.equal(gateway.exitCode, null, `the gateway is still running: ${stderr}`);
    assert.equal(gateway.signalCode, null);
    assert.ok(rtorrent.running(), 'rtorrent is still running');
    assert.deepEqual(Object.fromEntries(errors), {}, 'no request went unanswered (reset, hung, cut)');
    assert.ok((statuses.get(200) ?? 0) > 0, 'calls got through');
    for (const code of statuses.keys()) assert.ok(code === 200 || code === 503, `unexpected status ${code}`);
    // 256 clients against 16 connections and a queue of 128: the cap must have turned some away.
    assert.ok((statuses.get(503) ?? 0) > 0, 'calls past max_connections + max_queue were answered 503');
    assert.deepEqual(busyWithoutRetryAfter, [], 'every 503 carried Retry-After: 1');
    assert.ok((status.VmHWM ?? Number.POSITIVE_INFINITY) < RSS_BOUND, `peak RSS ${((status.VmHWM ?? 0) / 2 ** 20).toFixed(0)} MiB`);
    // Sampled, so it can only miss a peak, never invent one.
    assert.ok(peakRtorrentSockets > 0, 'the sampler saw rtorrent\'s SCGI connections at all');
    assert.ok(peakRtorrentSockets <= MAX_CONNECTIONS, `rtorrent saw ${peakRtorrentSockets} connections from the gateway at once`);

    const after = await callOnce(new Agent(), port, CALLS[0] as string);
    assert.equal(after.status, 200, 'a normal call right after the load');
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

    // And it stops cleanly: nothing left in flight.
    gateway.kill('SIGTERM');
    assert.ok(await waitForExit(gateway, 15_000), 'the gateway exits on SIGTERM');
    assert.equal(gateway.exitCode, 0, stderr);
  });
});
