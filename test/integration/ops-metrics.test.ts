import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { sample } from '../helpers/metrics.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const VIEWER = basicAuth('viewer', 'viewer-secret');

async function scrape(gateway: GatewayTestInstance, authorization = ADMIN): Promise<string> {
  const response = await fetch(gateway.url('/metrics'), { headers: { authorization } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return response.text();
}

describe('/metrics with a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withStack({ rtorrent: { name: 'metrics' } });

  it('needs credentials by default', async () => {
    const response = await fetch(stack.url('/metrics'));
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="rtorrent"/);
    assert.equal((await fetch(stack.url('/metrics'), { headers: { authorization: basicAuth('stranger', 'stranger-secret') } })).status, 403);
  });

  it('counts requests by user, method and outcome, denials, bytes relayed and upstream latency', async () => {
    const baseline = await scrape(stack.gateway);
    const version = await post(stack.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    assert.equal(version.status, 200);
    await post(stack.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    await post(stack.url(), xmlCall('execute.throw', ['', 'touch', '/tmp/x']), { authorization: VIEWER });
    await post(stack.url(), xmlCall('system.client_version'), { authorization: basicAuth('viewer', 'wrong') });
    await post(stack.url(), xmlCall('no.such.method.from.a.fuzzer'), { authorization: VIEWER });
    const text = await scrape(stack.gateway);

    assert.equal(sample(text, 'rtorrent_gateway_requests_total', { transport: 'http', user: 'admin', method: 'system.client_version', outcome: 'relayed' }), 2);
    assert.equal(sample(text, 'rtorrent_gateway_requests_total', { transport: 'http', user: 'viewer', method: 'execute.throw', outcome: 'denied' }), 1);
    // A wrong password: the claimed name is not a label, or anyone could mint series.
    const unauthenticated = { transport: 'http', user: '', method: '', outcome: 'unauthenticated' };
    assert.equal((sample(text, 'rtorrent_gateway_requests_total', unauthenticated) ?? 0) - (sample(baseline, 'rtorrent_gateway_requests_total', unauthenticated) ?? 0), 1);
    assert.equal(sample(text, 'rtorrent_gateway_requests_total', { transport: 'http', user: 'viewer', method: 'other', outcome: 'denied' }), 1);
    assert.doesNotMatch(text, /fuzzer/);

    assert.equal(sample(text, 'rtorrent_gateway_denials_total', { user: 'viewer', method: 'execute.throw', reason: 'denied' }), 1);
    assert.equal(sample(text, 'rtorrent_gateway_denials_total', { user: '', method: '', reason: 'unauthenticated' }), 1);

    const requestBytes = Buffer.byteLength(xmlCall('system.client_version'));
    assert.ok((sample(text, 'rtorrent_gateway_relayed_bytes_total', { user: 'admin', direction: 'in' }) ?? 0) > 0);
    assert.ok((sample(text, 'rtorrent_gateway_relayed_bytes_total', { user: 'admin', direction: 'in' }) ?? 0) <= 2 * requestBytes + 200);
    assert.equal(sample(text, 'rtorrent_gateway_relayed_bytes_total', { user: 'admin', direction: 'out' }), 2 * version.body.length);

    assert.ok((sample(text, 'rtorrent_gateway_upstream_duration_seconds_count', { upstream: 'default' }) ?? 0) >= 2);
    assert.ok((sample(text, 'rtorrent_gateway_upstream_duration_seconds_bucket', { upstream: 'default', le: '+Inf' }) ?? 0) >= 2);
    assert.equal(sample(text, 'rtorrent_gateway_upstream_calls_in_flight', { upstream: 'default' }), 0);
    assert.equal(sample(text, 'rtorrent_gateway_upstream_calls_queued', { upstream: 'default' }), 0);
  });

  it('does not count its own scrapes or health probes as requests', async () => {
    await fetch(stack.url('/healthz'));
    const first = await scrape(stack.gateway);
    const second = await scrape(stack.gateway);
    const total = (text: string): number =>
      text
        .split('\n')
        .filter((line) => line.startsWith('rtorrent_gateway_requests_total'))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    assert.equal(total(first), total(second));
  });

  it('applies the Host check to the authenticated endpoint', async () => {
    const response = await fetch(stack.url('/metrics'), { headers: { authorization: ADMIN, origin: 'https://evil.example' } });
    assert.equal(response.status, 403);
  });
});

describe('/metrics settings', () => {
  let fake: FakeScgiServer;
  const held: Socket[] = [];
  before(async () => {
    fake = await startFakeScgi((socket) => held.push(socket));
  });
  after(async () => {
    await fake?.close();
  });

  it('is open without credentials when metrics.public is set', async () => {
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, extraToml: '[metrics]\npublic = true' });
    try {
      const response = await fetch(gateway.url('/metrics'));
      assert.equal(response.status, 200);
      assert.match(await response.text(), /rtorrent_gateway_requests_total/);
    } finally {
      await gateway.close();
    }
  });

  it('is limited to metrics.users when that list is set', async () => {
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, extraToml: '[metrics]\nusers = ["viewer"]' });
    try {
      assert.equal((await fetch(gateway.url('/metrics'), { headers: { authorization: VIEWER } })).status, 200);
      assert.equal((await fetch(gateway.url('/metrics'), { headers: { authorization: ADMIN } })).status, 403);
    } finally {
      await gateway.close();
    }
  });

  it('is absent when metrics.enabled is false', async () => {
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, extraToml: '[metrics]\nenabled = false' });
    try {
      assert.equal((await fetch(gateway.url('/metrics'), { headers: { authorization: ADMIN } })).status, 404);
    } finally {
      await gateway.close();
    }
  });

  it('shows calls in flight while rtorrent holds them, and counts upstream errors by code', async () => {
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, extraToml: '[metrics]\npublic = true' });
    try {
      const slow = post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN });
      while (fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const during = await (await fetch(gateway.url('/metrics'))).text();
      assert.equal(sample(during, 'rtorrent_gateway_upstream_calls_in_flight', { upstream: 'default' }), 1);
      // rtorrent "dies" mid-call: the head never came.
      held.shift()?.destroy();
      assert.equal((await slow).status, 502);
      const afterwards = await (await fetch(gateway.url('/metrics'))).text();
      assert.equal(sample(afterwards, 'rtorrent_gateway_upstream_calls_in_flight', { upstream: 'default' }), 0);
      assert.equal(sample(afterwards, 'rtorrent_gateway_upstream_errors_total', { upstream: 'default', code: 'GW_UPSTREAM_BAD_RESPONSE' }), 1);
    } finally {
      await gateway.close();
    }
  });

  it('counts an unreachable rtorrent as GW_UPSTREAM_UNREACHABLE', async () => {
    const gateway = await startGateway({ upstream: 'unix:/nonexistent/scgi.socket', extraToml: '[metrics]\npublic = true' });
    try {
      assert.equal((await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN })).status, 502);
      const text = await (await fetch(gateway.url('/metrics'))).text();
      assert.equal(sample(text, 'rtorrent_gateway_upstream_errors_total', { upstream: 'default', code: 'GW_UPSTREAM_UNREACHABLE' }), 1);
      assert.equal(sample(text, 'rtorrent_gateway_requests_total', { transport: 'http', user: 'admin', method: 'system.client_version', outcome: 'GW_UPSTREAM_UNREACHABLE' }), 1);
    } finally {
      await gateway.close();
    }
  });

  it('keeps each gateway\'s numbers to itself (one registry per instance)', async () => {
    const one = await startGateway({ upstream: 'unix:/nonexistent/scgi.socket', extraToml: '[metrics]\npublic = true' });
    const two = await startGateway({ upstream: 'unix:/nonexistent/scgi.socket', extraToml: '[metrics]\npublic = true' });
    try {
      await post(one.url(), xmlCall('system.client_version'), { authorization: ADMIN });
      const text = await (await fetch(two.url('/metrics'))).text();
      assert.equal(sample(text, 'rtorrent_gateway_upstream_errors_total', { upstream: 'default', code: 'GW_UPSTREAM_UNREACHABLE' }), undefined);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('serves a reply to a fake rtorrent unchanged (sanity check of the fake)', async () => {
    const answering = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<?xml version="1.0"?><methodResponse/>')));
    const gateway = await startGateway({ upstream: `unix:${answering.socketPath}` });
    try {
      assert.equal((await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN })).status, 200);
    } finally {
      await gateway.close();
      await answering.close();
    }
  });
});
