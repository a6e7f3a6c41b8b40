import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadCoalescer } from '../../src/upstream/coalescer.js';
import type { ScgiResponse, StreamedBody } from '../../src/upstream/scgi-client.js';

/** A large answer whose body arrives when the test calls finish(). */
function upstreamAnswer(text: string): { response: ScgiResponse; finish: () => void } {
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const body: StreamedBody = {
    bytes: 0,
    pipeTo: () => Promise.reject(new Error('the coalescer reads answers whole')),
    readAll: async (maxBytes) => {
      await finished;
      return text.length > maxBytes ? undefined : Buffer.from(text);
    },
    destroy: () => undefined,
    onSettled: () => undefined,
  };
  const head = { status: 200, reason: 'OK', headers: [['content-type', 'text/xml']] as const, contentLength: text.length };
  return { response: { kind: 'streamed', head, body }, finish };
}

describe('read coalescing', () => {
  it('gives identical calls in flight together one upstream call and the same bytes', async () => {
    const coalescer = new ReadCoalescer({ maxAnswerBytes: 1 << 20 });
    let calls = 0;
    const { response, finish } = upstreamAnswer('<answer/>');
    const call = async () => {
      calls++;
      return response;
    };
    const first = coalescer.run('k', call);
    const second = coalescer.run('k', call);
    assert.equal(first.joined, false);
    assert.equal(second.joined, true);
    finish();
    const [a, b] = await Promise.all([first.answer, second.answer]);
    assert.equal(calls, 1);
    assert.equal(a.body.toString(), '<answer/>');
    assert.equal(b.body.toString(), '<answer/>');
  });

  it('keeps nothing once the call is over: the next identical call goes upstream again', async () => {
    const coalescer = new ReadCoalescer({ maxAnswerBytes: 1 << 20 });
    let calls = 0;
    const call = async () => {
      calls++;
      const { response, finish } = upstreamAnswer('x');
      setImmediate(finish);
      return response;
    };
    await coalescer.run('k', call).answer;
    await coalescer.run('k', call).answer;
    assert.equal(calls, 2);
    assert.equal(coalescer.pending, 0);
  });

  it('does not share between different keys', async () => {
    const coalescer = new ReadCoalescer({ maxAnswerBytes: 1 << 20 });
    const one = upstreamAnswer('1');
    const two = upstreamAnswer('2');
    const a = coalescer.run('a', async () => one.response);
    const b = coalescer.run('b', async () => two.response);
    assert.equal(b.joined, false);
    one.finish();
    two.finish();
    assert.equal((await a.answer).body.toString(), '1');
    assert.equal((await b.answer).body.toString(), '2');
  });

  it('fails every sharer when the answer outgrows the buffer limit, and forgets the entry', async () => {
    const coalescer = new ReadCoalescer({ maxAnswerBytes: 4 });
    const { response, finish } = upstreamAnswer('too long');
    const first = coalescer.run('k', async () => response);
    const second = coalescer.run('k', async () => response);
    finish();
    await assert.rejects(first.answer, /larger than 4 bytes/);
    await assert.rejects(second.answer, /larger than 4 bytes/);
    assert.equal(coalescer.pending, 0);
  });
});

describe('kept answers (upstream.read_cache_ttl)', () => {
  /** A read cache on a clock the test moves, and a count of the rtorrent calls it made. */
  function cache(options: { ttlMs: number; maxCachedBytes?: number }) {
    let now = 0;
    const reads = new ReadCoalescer({ maxAnswerBytes: 1 << 20, maxCachedBytes: 1 << 20, ...options, now: () => now });
    const calls: string[] = [];
    const read = (key: string, text = `answer to ${key}`) =>
      reads.run(key, async () => {
        calls.push(key);
        const { response, finish } = upstreamAnswer(text);
        finish();
        return response;
      });
    return { reads, calls, read, advance: (ms: number) => (now += ms) };
  }

  it('serves identical calls from a finished answer until the TTL has passed', async () => {
    const { reads, calls, read, advance } = cache({ ttlMs: 1000 });
    await read('list').answer;
    advance(999);
    const again = read('list');
    assert.equal(again.source, 'cached');
    assert.equal((await again.answer).body.toString(), 'answer to list');
    advance(1);
    assert.equal(read('list').source, 'called');
    assert.deepEqual(calls, ['list', 'list']);
    assert.deepEqual(reads.counts, { called: 2, joined: 0, cached: 1, cachedBytesServed: 'answer to list'.length, cachedBytes: 0 });
  });

  it('keeps nothing with a TTL of 0: calls only share while in flight', async () => {
    const { read, calls } = cache({ ttlMs: 0 });
    await read('list').answer;
    await read('list').answer;
    assert.deepEqual(calls, ['list', 'list']);
  });

  it('drops every kept answer on invalidate(), and never keeps one that was asked for before it', async () => {
    const { reads, calls, read } = cache({ ttlMs: 60_000 });
    await read('a').answer;
    reads.invalidate();
    assert.equal(read('a').source, 'called');
    // A read in flight while state changes: its answer goes to its callers, but is neither joined nor kept.
    const { response, finish } = upstreamAnswer('before the change');
    const overlapping = reads.run('b', async () => response);
    reads.invalidate();
    assert.equal(read('b').source, 'called', 'a later call does not join it');
    finish();
    assert.equal((await overlapping.answer).body.toString(), 'before the change');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(read('b').source, 'cached', 'what is kept is the answer asked for after the change');
    assert.deepEqual(calls, ['a', 'a', 'b']);
  });

  it('holds at most read_cache_max_bytes, letting the oldest answers go first', async () => {
    const { reads, read } = cache({ ttlMs: 60_000, maxCachedBytes: 10 });
    await read('a', 'aaaa').answer;
    await read('b', 'bbbb').answer;
    await read('c', 'cccc').answer;
    assert.equal(reads.counts.cachedBytes, 8);
    assert.equal(read('a').source, 'called', 'the oldest went');
    assert.equal(read('c').source, 'cached');
    await read('big', 'x'.repeat(11)).answer;
    assert.equal(read('big').source, 'called', 'an answer larger than the bound is never kept');
  });

  it('keeps only successful answers: a fault status is asked for again', async () => {
    const reads = new ReadCoalescer({ maxAnswerBytes: 1 << 20, maxCachedBytes: 1 << 20, ttlMs: 60_000 });
    const failing = async (): Promise<ScgiResponse> => ({ kind: 'whole', head: { status: 500, reason: 'Internal', headers: [], contentLength: 0 }, body: Buffer.alloc(0) });
    await reads.run('k', failing).answer;
    assert.equal(reads.run('k', failing).source, 'called');
  });
});
