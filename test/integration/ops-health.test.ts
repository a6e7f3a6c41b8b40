import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requireBinary } from '../helpers/processes.js';
import { withStack } from '../helpers/stack.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;

describe('/healthz', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withStack({ rtorrent: { name: 'health' } });

  it('answers 200 "ok" without credentials while rtorrent answers system.client_version', async () => {
    const response = await fetch(stack.url('/healthz'));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok\n');
    assert.equal(response.headers.get('cache-control'), 'no-store');
  });

  it('answers HEAD too, for load balancers that probe that way', async () => {
    const response = await fetch(stack.url('/healthz'), { method: 'HEAD' });
    assert.equal(response.status, 200);
  });

  it('does not need an allowed Host: probes come by IP, pod address or container name', async () => {
    const response = await fetch(stack.url('/healthz'), { headers: { host: 'rtorrent-gateway' } });
    assert.equal(response.status, 200);
  });

  it('asks rtorrent at most once for a burst of probes', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const before = stack.gateway.app.gateway.health.probes;
    const answers = await Promise.all(Array.from({ length: 25 }, () => fetch(stack.url('/healthz')).then((r) => r.status)));
    assert.deepEqual(answers, Array(25).fill(200));
    assert.equal(stack.gateway.app.gateway.health.probes - before, 1);
  });

  it('is not logged at info: probes every few seconds would bury the calls', async () => {
    const logged = stack.gateway.logs.filter((line) => line.path === '/healthz');
    assert.deepEqual(logged, []);
  });

  it('answers 503 "unavailable" with no detail once rtorrent is gone, and logs why', async () => {
    await stack.rtorrent.stop();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const response = await fetch(stack.url('/healthz'));
    assert.equal(response.status, 503);
    const body = await response.text();
    assert.equal(body, 'unavailable\n');
    assert.doesNotMatch(body, /socket|unix|ENOENT|refused/);
    const warning = stack.gateway.logs.find((line) => line.msg === 'rtorrent does not answer health probes');
    assert.ok(warning, 'a warn line for the admin');
    assert.match(String(warning.reason), new RegExp(stack.rtorrent.socketPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });
});
