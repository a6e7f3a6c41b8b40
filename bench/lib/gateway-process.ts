/**
 * The gateway as its own process, started exactly as an operator would (dist/cli.js with flags),
 * so its CPU time and RSS can be read from /proc without the bench's own work mixed in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { isRunning, makeTempDir, removeTempDir, terminate, track } from '../../test/helpers/processes.js';
import { accepts, freePort } from './net.js';

export interface GatewayProcessOptions {
  readonly cliPath: string;
  readonly upstreamSocket: string;
  readonly user: string;
  readonly password: string;
  readonly policy: string;
  /** More logins, e.g. a tenant kept to its own torrents; their budgets are lifted too. */
  readonly extraUsers?: ReadonlyArray<{ readonly user: string; readonly password: string; readonly policy: string }>;
  /** Appended to the gateway's command line (BENCH_GATEWAY_ARGS), e.g. a future coalescing flag. */
  readonly extraArgs?: readonly string[];
  /** Before the script, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface GatewayProcess {
  readonly pid: number;
  readonly port: number;
  readonly logPath: string;
  readonly htpasswdPath: string;
  readonly child: ChildProcess;
  url(path?: string): string;
  running(): boolean;
  /** Byte length of the log so far, to read only what a run added. */
  logSize(): number;
  /** pino lines at warn (40) or above written since `fromByte`, parsed where possible. */
  problemsSince(fromByte: number): string[];
  /** SIGTERM (the CLI's graceful path, which is also when --cpu-prof writes its file). */
  stop(): Promise<void>;
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = makeTempDir('rtg-bench-gw');
  const htpasswdPath = join(dir, 'htpasswd');
  // Cost 10 as `htpasswd -B` makes it: the first request pays a real bcrypt verify, later ones hit
  // the gateway's verified-credential cache, which is the path a busy client actually takes.
  const users = [{ user: options.user, password: options.password, policy: options.policy }, ...(options.extraUsers ?? [])];
  writeFileSync(htpasswdPath, users.map(({ user, password }) => `${user}:${bcrypt.hashSync(password, 10)}\n`).join(''));
  // One bench user stands in for a crowd of clients, so its own call budget (20 calls a second by
  // default) is lifted; every other setting is the default an operator gets.
  const configPath = join(dir, 'gateway.toml');
  writeFileSync(configPath, users.map(({ user, policy }) => `[access.users.${user}]\npolicy = "${policy}"\ncalls_in_flight = 0\ncall_rate = 0\n`).join(''));
  const logPath = join(dir, 'gateway.log');

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const logFd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [
          ...(options.nodeArgs ?? []),
          options.cliPath,
          '--config', configPath,
          '--listen', `127.0.0.1:${port}`,
          '--upstream', `unix:${options.upstreamSocket}`,
          '--htpasswd', htpasswdPath,
          ...(options.extraArgs ?? []),
        ],
        { cwd: dir, stdio: ['ignore', logFd, logFd], detached: true },
      );
    } finally {
      closeSync(logFd);
    }
    track(child, { group: true });
    const pid = child.pid;
    if (pid === undefined) throw new Error('gateway has no pid');

    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    let up = false;
    while (isRunning(child) && Date.now() < deadline) {
      if (await accepts(port)) {
        up = true;
        break;
      }
      await sleep(25);
    }
    const log = (): string => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    if (!up || !isRunning(child)) {
      const state = isRunning(child) ? 'not listening in time' : `exited with ${child.exitCode ?? child.signalCode}`;
      await terminate(child);
      if (/EADDRINUSE/.test(log()) && attempt < 5) continue;
      await removeTempDir(dir);
      throw new Error(`gateway did not start on 127.0.0.1:${port} (${state}): ${log().slice(-2000) || '(nothing logged)'}`);
    }

    let stopping: Promise<void> | undefined;
    return {
      pid,
      port,
      logPath,
      htpasswdPath,
      child,
      url: (path = '/RPC2') => `http://127.0.0.1:${port}${path}`,
      running: () => isRunning(child),
      logSize: () => sizeOf(logPath),
      problemsSince: (fromByte) => problemLines(logPath, fromByte),
      stop: () => {
        stopping ??= (async () => {
          // Generous grace: writing a CPU profile of a busy run takes a moment.
          await terminate(child, { graceMs: 10_000 });
          await removeTempDir(dir);
        })();
        return stopping;
      },
    };
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** An info line (one per call at the default level) is passed over without parsing it. */
const INFO_LINE = '{"level":"info",';
const PROBLEM_LEVELS: ReadonlySet<unknown> = new Set(['warn', 'error', 'fatal']);

/**
 * Lines at warn or above written since `fromByte`. At the default log level a run writes a line per
 * call, hundreds of MB in a long run, so the file is read in pieces from the offset.
 */
function problemLines(path: string, fromByte: number): string[] {
  const problems: string[] = [];
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return problems;
  }
  try {
    const chunk = Buffer.alloc(1 << 20);
    let position = fromByte;
    let partial = '';
    const decoder = new StringDecoder('utf8');
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) break;
      position += read;
      const lines = (partial + decoder.write(chunk.subarray(0, read))).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (isProblem(line)) problems.push(line);
    }
    if (isProblem(partial)) problems.push(partial);
  } finally {
    closeSync(fd);
  }
  return problems;
}

function isProblem(line: string): boolean {
  if (line.trim() === '' || line.startsWith(INFO_LINE)) return false;
  try {
    return PROBLEM_LEVELS.has((JSON.parse(line) as { level?: unknown }).level);
  } catch {
    // Not a pino line: a crash trace or a Node warning, which is a problem in itself.
    return true;
  }
}
