import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientGone } from '../../src/upstream/call-signal.js';

describe('ClientGone: the per-call signal that a client has left', () => {
  it('is not aborted until abort() is called, then runs each listener exactly once', () => {
    const gone = new ClientGone();
    let runs = 0;
    gone.addEventListener('abort', () => runs++);
    assert.equal(gone.aborted, false);
    gone.abort();
    gone.abort();
    assert.equal(gone.aborted, true);
    assert.equal(runs, 1);
  });

  it('runs a listener added after the abort at once, so a late caller cannot miss it', () => {
    const gone = new ClientGone();
    gone.abort();
    let ran = false;
    gone.addEventListener('abort', () => (ran = true));
    assert.equal(ran, true);
  });

  it('does not run a listener that was removed', () => {
    const gone = new ClientGone();
    let ran = false;
    const listener = (): void => {
      ran = true;
    };
    gone.addEventListener('abort', listener);
    gone.removeEventListener('abort', listener);
    gone.abort();
    assert.equal(ran, false);
  });
});
