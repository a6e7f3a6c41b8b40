import type { CallBudget } from '../policy/types.js';

/** Past a budget: which one, and when a retry can succeed. */
export interface OverBudget {
  readonly reason: 'in_flight' | 'rate';
  readonly retryAfterSeconds: number;
  /** Names the limit and the key that raises it, for the 429's text and the log. */
  readonly message: string;
}

export type Admission = { readonly admitted: true; release(): void } | ({ readonly admitted: false } & OverBudget);

interface UserState {
  inFlight: number;
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

const NOTHING = (): void => undefined;

/**
 * Each user's calls in flight and call rate (a token bucket: `callBurst` calls at once, refilled at
 * `callRate` a second). One user's polling loop or runaway script waits its turn here instead of
 * filling rtorrent's queue, which every other user shares. The state is per user name, and user
 * names come from the access table, so it stays as small as the table.
 */
export class UserBudgets {
  readonly #users = new Map<string, UserState>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Takes a place for one call, or says why not. `release()` gives the in-flight place back (once). */
  admit(user: string, budget: CallBudget): Admission {
    const { callsInFlight, callRate, callBurst } = budget;
    if (callsInFlight === undefined && callRate === undefined) return { admitted: true, release: NOTHING };
    const now = this.#now();
    let state = this.#users.get(user);
    if (state === undefined) {
      state = { inFlight: 0, tokens: callBurst.value, at: now };
      this.#users.set(user, state);
    }
    if (callsInFlight !== undefined && state.inFlight >= callsInFlight.value) {
      return {
        admitted: false,
        reason: 'in_flight',
        retryAfterSeconds: 1,
        message: `user "${user}" already has ${state.inFlight} calls in flight, the most allowed (${callsInFlight.key}); retry when one has been answered`,
      };
    }
    if (callRate !== undefined) {
      state.tokens = Math.min(callBurst.value, state.tokens + ((now - state.at) / 1000) * callRate.value);
      state.at = now;
      if (state.tokens < 1) {
        const seconds = Math.max(1, Math.ceil((1 - state.tokens) / callRate.value));
        return {
          admitted: false,
          reason: 'rate',
          retryAfterSeconds: seconds,
          message:
            `user "${user}" calls faster than ${callRate.value} a second (${callRate.key}) after a burst of ${callBurst.value} (${callBurst.key}); ` +
            `retry in ${seconds} s`,
        };
      }
      state.tokens -= 1;
    }
    state.inFlight++;
    let released = false;
    const held = state;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        held.inFlight--;
      },
    };
  }
}
