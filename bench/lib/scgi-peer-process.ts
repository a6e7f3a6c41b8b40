/**
 * bench/scgi-peer.ts as a child process: an SCGI socket in front of rtorrent's that replays one
 * prepared answer, or passes calls on with extra pairs in their head.
 */
import { spawn } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning, makeTempDir, removeTempDir, terminate, track } from '../../test/helpers/processes.js';

const SCGI_PEER = fileURLToPath(new URL('../scgi-peer.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

export interface ScgiPeerOptions {
  /** rtorrent's socket, for every call the peer does not answer itself. */
  readonly upstreamSocket: string;
  /** A file holding the answer to calls whose body contains `match`. */
  readonly answerFile?: string;
  readonly match?: string;
  /** NAME=VALUE pairs added to the head of calls passed on to rtorrent. */
  readonly add?: readonly string[];
}

export interface ScgiPeer {
  readonly socketPath: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startScgiPeer(options: ScgiPeerOptions): Promise<ScgiPeer> {
  const dir = makeTempDir('rtg-bench-peer');
  // Others (nginx's workers) must be able to reach the socket inside.
  await chmod(dir, 0o711);
  const socketPath = join(dir, 'scgi.socket');
  const args = [
    '--import',
    TSX_LOADER,
    SCGI_PEER,
    '--socket',
    socketPath,
    '--upstream',
    options.upstreamSocket,
    ...(options.answerFile === undefined ? [] : ['--answer', options.answerFile, '--match', options.match ?? '']),
    ...(options.add ?? []).flatMap((pair) => ['--add', pair]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  track(child, { group: true });
  const pid = child.pid;
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready || pid === undefined || !isRunning(child)) {
    await terminate(child);
    await removeTempDir(dir);
    throw new Error('the bench SCGI peer (bench/scgi-peer.ts) did not start');
  }
  let stopping: Promise<void> | undefined;
  return {
    socketPath,
    pid,
    stop: () => {
      stopping ??= (async () => {
        await terminate(child, { graceMs: 2000 });
        await removeTempDir(dir);
      })();
      return stopping;
    },
  };
}
