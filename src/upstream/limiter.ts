/**
 * rtorrent 0.9.8 has 100 SCGI slots, never times a connection out, and runs one call at a time
 * anyway; past 100 it accepts and immediately closes. So we hold at most `max` connections and
 * queue a bounded number of callers behind them; the rest are told to come back (503).
 */
import type { CallSignal } from './call-signal.js';

export type Release = () => void;

interface Waiter {
  readonly grant: (release: Release) => void;
  readonly timer: NodeJS.Timeout;
}

export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly max: number,
    readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with a release function once a slot is free. Resolves undefined when the queue is
   * full or the wait exceeds `waitMs`: the caller answers 503 rather than pile up.
   */
  acquire(waitMs: number, signal?: CallSignal): Promise<Release | undefined> | Release | undefined {
    if (signal?.aborted) return undefined;
    if (this.active < this.max) {
      this.active++;
      return this.releaser();
    }
    if (this.waiters.length >= this.maxQueue) return undefined;
    return new Promise((resolve) => {
      const leave = (): void => {
        clearTimeout(waiter.timer);
        signal?.removeEventListener('abort', leave);
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', leave);
          resolve(release);
        },
        timer: setTimeout(leave, waitMs),
      };
      // A caller whose client has gone leaves the queue instead of taking a slot it cannot use.
      signal?.addEventListener('abort', leave, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) {
        clearTimeout(next.timer);
        // The slot passes straight to the next caller, so `active` stays the same.
        next.grant(this.releaser());
      } else {
        this.active--;
      }
    };
  }
}
