import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter, type Release } from '../../src/upstream/limiter.js';

async function take(limiter: ConcurrencyLimiter, waitMs = 1000): Promise<Release | undefined> {
  return await limiter.acquire(waitMs);
}

describe('upstream concurrency limiter', () => {
  it('grants up to max slots at once, then queues, then refuses past the queue', async () => {
    const limiter = new ConcurrencyLimiter(2, 1);
    const first = await take(limiter);
    const second = await take(limiter);
    assert.ok(first && second);
    assert.equal(limiter.inFlight, 2);
    const third = take(limiter);
    assert.equal(limiter.queued, 1);
    assert.equal(await take(limiter), undefined, 'the queue is full');
    first();
    const granted = await third;
    assert.ok(granted, 'a released slot goes to the caller waiting longest');
    assert.equal(limiter.inFlight, 2);
    assert.equal(limiter.queued, 0);
  });

  it('gives up on a caller that waited longer than its limit', async () => {
    const limiter = new ConcurrencyLimiter(1, 5);
    const first = await take(limiter);
    const started = Date.now();
    assert.equal(await take(limiter, 50), undefined);
    assert.ok(Date.now() - started >= 45);
    assert.equal(limiter.queued, 0);
    first?.();
    assert.equal(limiter.inFlight, 0);
  });

  it('ignores a second release of the same slot', async () => {
    const limiter = new ConcurrencyLimiter(1, 0);
    const release = await take(limiter);
    release?.();
    release?.();
    assert.equal(limiter.inFlight, 0);
    const again = await take(limiter);
    assert.ok(again);
    assert.equal(limiter.inFlight, 1);
  });
});
