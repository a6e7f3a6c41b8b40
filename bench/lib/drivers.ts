/**
 * Runs one timed load against one target: wrk for the HTTP targets (nginx, gateway) and our own
 * SCGI client for rtorrent's socket, each in a child process so the bench's own event loop (RSS
 * sampling, /proc reads) never competes with the load for the same thread.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseLoadOutput, type LoadResult } from './load-result.js';

const POST_LUA = fileURLToPath(new URL('../post.lua', import.meta.url));
const SCGI_LOAD = fileURLToPath(new URL('../scgi-load.ts', import.meta.url));
// Resolved here, not by the child, so the bench works from any working directory.
const TSX_LOADER = import.meta.resolve('tsx');

export interface LoadSpec {
  readonly connections: number;
  readonly durationS: number;
  readonly bodyFiles: readonly string[];
  /** Per-request limit: a request slower than this is an error, not a latency sample. */
  readonly timeoutS: number;
  /** HTTP headers besides Content-Type and Authorization (wrk only), e.g. Accept-Encoding. */
  readonly headers?: Readonly<Record<string, string>>;
}

function run(file: string, args: readonly string[], limitMs: number, who: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024, timeout: limitMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${who} failed: ${error.message}\n${stderr.slice(-2000)}${stdout.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

export async function runWrk(url: string, authorization: string, spec: LoadSpec): Promise<LoadResult> {
  // One wrk thread: it keeps hundreds of MB/s of 1.5 MB answers flowing on its own, leaves the
  // second core to rtorrent and the server under test, and keeps the body pool in order.
  const args = [
    '-t1',
    `-c${spec.connections}`,
    `-d${spec.durationS}s`,
    `--timeout`,
    `${spec.timeoutS}s`,
    '-s',
    POST_LUA,
    url,
    '--',
    authorization,
    ...Object.entries(spec.headers ?? {}).map(([name, value]) => `header=${name}: ${value}`),
    ...spec.bodyFiles,
  ];
  const stdout = await run('wrk', args, (spec.durationS + spec.timeoutS + 30) * 1000, 'wrk');
  return parseLoadOutput(stdout, 'wrk');
}

export async function runScgiLoad(socketPath: string, spec: LoadSpec): Promise<LoadResult> {
  const args = [
    '--import',
    TSX_LOADER,
    SCGI_LOAD,
    '--socket',
    socketPath,
    '--connections',
    String(spec.connections),
    '--duration',
    String(spec.durationS),
    '--timeout',
    String(spec.timeoutS),
    ...spec.bodyFiles,
  ];
  const stdout = await run(process.execPath, args, (spec.durationS + spec.timeoutS + 30) * 1000, 'scgi-load');
  return parseLoadOutput(stdout, 'scgi-load');
}
