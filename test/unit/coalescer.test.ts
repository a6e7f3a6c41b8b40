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
    const coalescer = new ReadCoalescer(1 << 20);
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
    const coalescer = new ReadCoalescer(1 << 20);
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
    const coalescer = new ReadCoalescer(1 << 20);
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
    const coalescer = new ReadCoalescer(4);
    const { response, finish } = upstreamAnswer('too long');
    const first = coalescer.run('k', async () => response);
    const second = coalescer.run('k', async () => response);
    finish();
    await assert.rejects(first.answer, /larger than 4 bytes/);
    await assert.rejects(second.answer, /larger than 4 bytes/);
    assert.equal(coalescer.pending, 0);
  });
});
