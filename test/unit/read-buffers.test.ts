import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { READ_BUFFER_BYTES, ReadBufferPool } from '../../src/upstream/read-buffers.js';

describe('the upstream read-buffer pool', () => {
  it('hands a returned buffer to the next call instead of allocating another', () => {
    const pool = new ReadBufferPool(2);
    const first = pool.take();
    assert.equal(first.length, READ_BUFFER_BYTES);
    pool.give(first);
    assert.equal(pool.take(), first);
  });

  it('keeps at most as many idle buffers as it was told to, so a burst does not stay resident', () => {
    const pool = new ReadBufferPool(2);
    const taken = [pool.take(), pool.take(), pool.take(), pool.take()];
    for (const buffer of taken) pool.give(buffer);
    assert.equal(pool.idle, 2);
  });
});
