import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamError } from '../../src/errors.js';
import { HealthCheck } from '../../src/ops/health.js';
import type { Upstream } from '../../src/upstream/upstream.js';

type Call = Upstream['call'];
type Answer = Awaited<ReturnType<Call>>;

function answer(body: string, status = 200): Answer {
  return { kind: 'whole', head: { status, reason: 'OK', headers: [], contentLength: Buffer.byteLength(body) }, body: Buffer.from(body) };
}

const VERSION = '<?xml version="1.0"?><methodResponse><params><param><value><string>0.9.8</string></value></param></params></methodResponse>';

/** An upstream whose calls resolve when the test says so, counting them. */
function scriptedUpstream(): { upstream: Pick<Upstream, 'call'>; calls: number; pending: Array<(answer: Answer | Error) => void> } {
  const state = {
    calls: 0,
    pending: [] as Array<(answer: Answer | Error) => void>,
    upstream: {
      call: (() => {
        state.calls++;
        return new Promise<Answer>((resolve, reject) => {
          state.pending.push((value) => (value instanceof Error ? reject(value) : resolve(value)));
        });
      }) as Call,
    },
  };
  return state;
}

describe('the health check', () => {
  it('answers healthy when rtorrent returns its version', async () => {
    const health = new HealthCheck({ call: (async () => answer(VERSION)) as Call });
    assert.equal(await health.check(), true);
  });

  it('answers unhealthy on an XML-RPC fault, a non-200 status or an upstream error', async () => {
    const fault = '<?xml version="1.0"?><methodResponse><fault><value><struct></struct></value></fault></methodResponse>';
    assert.equal(await new HealthCheck({ call: (async () => answer(fault)) as Call }).check(), false);
    assert.equal(await new HealthCheck({ call: (async () => answer('nope', 500)) as Call }).check(), false);
    const unreachable = new UpstreamError('GW_UPSTREAM_UNREACHABLE', 'unix:/x', 'socket missing');
    assert.equal(await new HealthCheck({ call: (async () => Promise.reject(unreachable)) as Call }).check(), false);
  });

  it('shares one probe among concurrent checks', async () => {
    const scripted = scriptedUpstream();
    const health = new HealthCheck(scripted.upstream);
    const checks = Array.from({ length: 20 }, () => health.check());
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(scripted.calls, 1);
    scripted.pending[0]?.(answer(VERSION));
    assert.deepEqual(await Promise.all(checks), Array(20).fill(true));
  });

  it('reuses a verdict for a second and probes again after it', async () => {
    let now = 1_000_000;
    let calls = 0;
    const health = new HealthCheck({ call: (async () => (calls++, answer(VERSION))) as Call }, { now: () => now });
    await health.check();
    now += 999;
    await health.check();
    assert.equal(calls, 1);
    now += 2;
    await health.check();
    assert.equal(calls, 2);
  });

  it('reports unhealthy when the probe takes longer than its timeout, and sends no second probe while the first hangs', async () => {
    let now = 1_000_000;
    const scripted = scriptedUpstream();
    const health = new HealthCheck(scripted.upstream, { timeoutMs: 50, now: () => now });
    assert.equal(await health.check(), false);
    now += 5000;
    assert.equal(await health.check(), false);
    assert.equal(scripted.calls, 1, 'rtorrent is not asked again while it has not answered');
    scripted.pending[0]?.(answer(VERSION));
    await new Promise((resolve) => setImmediate(resolve));
    now += 5000;
    const next = health.check();
    scripted.pending[1]?.(answer(VERSION));
    assert.equal(await next, true);
    assert.equal(scripted.calls, 2);
  });
});
