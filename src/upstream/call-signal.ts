/**
 * What the upstream code needs from a cancellation signal. An AbortSignal fits; so does
 * `ClientGone`, which the HTTP route creates per call because an AbortController costs more to
 * build than the rest of a small call's bookkeeping.
 */
export interface CallSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A one-shot signal: `abort()` runs each listener once, and listeners added later run at once. */
export class ClientGone implements CallSignal {
  #aborted = false;
  #listeners: Array<() => void> = [];

  get aborted(): boolean {
    return this.#aborted;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#aborted) listener();
    else this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.#listeners.indexOf(listener);
    if (index !== -1) this.#listeners.splice(index, 1);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}
