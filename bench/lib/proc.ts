/**
 * Per-process CPU and memory from /proc, so the gateway and nginx can be charged for exactly the
 * work they did during one run, whatever else the shared machine is doing at the time.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ: utime/stime in /proc/PID/stat are in these units (100 on every Linux we know). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User and kernel CPU seconds separately: JS and V8 work versus syscalls and wake-ups. */
export function cpuSplit(pid: number): { user: number; system: number } | undefined {
  return statCpu(`/proc/${pid}/stat`);
}

/** A task's time on the CPU in ns, from the scheduler (schedstat): exact, where stat counts 10 ms ticks. */
function taskCpuNs(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

/**
 * CPU time in ns of a process's main thread (the task whose id is the process's) and of all its
 * threads. rtorrent builds every answer on its main thread, while its SCGI thread writes it out.
 */
export function threadCpuNs(pid: number): { main: number; all: number } {
  let all = 0;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: 0, all: 0 };
  }
  for (const tid of tids) all += taskCpuNs(pid, Number(tid));
  return { main: taskCpuNs(pid, pid), all };
}

function statCpu(path: string): { user: number; system: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the parenthesised comm (which may contain spaces): state is field 3, so
  // utime (14) and stime (15) are at offsets 11 and 12 of what follows ") ".
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / clockTicks(), system: Number(rest[12]) / clockTicks() };
}

/**
 * utime + stime of the whole process (all its threads, libuv's pool included) in seconds, or
 * undefined when the process is gone. The leader's /proc/PID/stat already sums its threads.
 */
export function cpuSeconds(pid: number): number | undefined {
  const split = cpuSplit(pid);
  return split === undefined ? undefined : split.user + split.system;
}

export function sumCpuSplit(pids: readonly number[]): { user: number; system: number } {
  const total = { user: 0, system: 0 };
  for (const pid of pids) {
    const split = cpuSplit(pid);
    if (split) {
      total.user += split.user;
      total.system += split.system;
    }
  }
  return total;
}

export function sumCpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuSeconds(pid) ?? 0;
  return total;
}

function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

export function rssBytes(pid: number): number | undefined {
  return statusField(pid, 'VmRSS');
}

export function peakRssBytes(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/**
 * Resets VmHWM to the current RSS (Linux ≥ 4.0, "5" in clear_refs), so the next peak belongs to
 * the run that follows rather than to anything earlier in the process's life. False when the
 * kernel or our permissions do not allow it; the sampler below still gives an approximate peak.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls VmRSS of a few processes. A backup for VmHWM, which cannot always be reset, and a way to
 * see a peak shared between several nginx workers (their sum at one instant, not the sum of peaks).
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private maxTotal = 0;

  constructor(
    private readonly pids: readonly number[],
    private readonly intervalMs = 50,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  /** Largest summed VmRSS seen, in bytes. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.maxTotal;
  }

  private sample(): void {
    let total = 0;
    for (const pid of this.pids) total += rssBytes(pid) ?? 0;
    if (total > this.maxTotal) this.maxTotal = total;
  }
}
