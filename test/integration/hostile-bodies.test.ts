/**
 * Hostile request bodies through the real gateway (in-process, in front of a fake SCGI peer that
 * records what reaches it). Each body gets a 4xx or an XML-RPC fault that names the problem, the
 * upstream sees nothing of a refused body, and nothing hangs or balloons. Timing bounds here are
 * "no hang" bounds only; speed is measured in bench/, not asserted. docs/hardening.md has the table.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { rtorrentStyleReply, startFakeScgi, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { decodeXmlRpcResponse, xmlCall, XmlRpcFault } from '../helpers/scgi-direct.js';

const ADMIN = basicAuth('admin', 'admin-secret');
/** Generous: a case that takes this long has hung; how fast it really is goes to the diagnostics. */
const NO_HANG_MS = 10_000;
/** Per case, over the RSS before it: the bodies themselves are up to 24 MiB and held by the test too. */
const RSS_GROWTH_BOUND = 400 * 1024 * 1024;
const OK_ANSWER = '<?xml version="1.0" encoding="UTF-8"?><methodResponse><params><param><value><i4>0</i4></value></param></params></methodResponse>';

function methodCall(method: string, paramsXml: string): string {
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${paramsXml}</params></methodCall>`;
}

/** One <param> holding an array of `count` copies of `item` (a <value>…</value>). */
function arrayParam(item: string, count: number): string {
  return `<param><value><array><data>${item.repeat(count)}</data></array></value></param>`;
}

function multicallMember(index: number): string {
  const hash = index.toString(16).toUpperCase().padStart(40, '0');
  return (
    '<value><struct><member><name>methodName</name><value><string>d.name</string></value></member>' +
    `<member><name>params</name><value><array><data><value><string>${hash}</string></value></data></array></value></member></struct></value>`
  );
}

function multicall(calls: number): string {
  let members = '';
  for (let i = 0; i < calls; i++) members += multicallMember(i);
  return methodCall('system.multicall', `<param><value><array><data>${members}</data></array></value></param>`);
}

/** A small deterministic PRNG: the same junk on every run, so a failure can be replayed. */
function junk(bytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Measured<T> {
  readonly value: T;
  readonly ms: number;
  readonly cpuMs: number;
  readonly rssGrowth: number;
}

/** Wall time, CPU time and the RSS peak over the baseline (sampled every 10 ms) while `run` runs. */
async function measure<T>(run: () => Promise<T>): Promise<Measured<T>> {
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const cpu = process.cpuUsage();
  const started = performance.now();
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    const used = process.cpuUsage(cpu);
    return { value, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, rssGrowth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}

function report(t: TestContext, what: Measured<unknown>): void {
  t.diagnostic(`${what.ms.toFixed(0)} ms wall, ${what.cpuMs.toFixed(0)} ms CPU, RSS +${(what.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(what.ms < NO_HANG_MS, `took ${what.ms.toFixed(0)} ms`);
  assert.ok(what.cpuMs < NO_HANG_MS, `used ${what.cpuMs.toFixed(0)} ms of CPU`);
  assert.ok(what.rssGrowth < RSS_GROWTH_BOUND, `RSS grew by ${(what.rssGrowth / 2 ** 20).toFixed(0)} MiB`);
}

type Answer = Awaited<ReturnType<typeof post>>;

function faultOf(answer: Answer): XmlRpcFault {
  assert.equal(answer.status, 200, answer.body.toString().slice(0, 300));
  try {
    decodeXmlRpcResponse(answer.body);
  } catch (error) {
    if (error instanceof XmlRpcFault) return error;
    throw error;
  }
  assert.fail(`expected a fault, got ${answer.body.toString().slice(0, 300)}`);
}

describe('hostile request bodies', { timeout: 120_000 }, () => {
  let fake: FakeScgiServer;
  let gateway: GatewayTestInstance;

  before(async () => {
    // A release that reads 16 MiB requests, so that only the gateway's own bounds are in play here.
    fake = await startFakeScgi((socket) => socket.end(rtorrentStyleReply(OK_ANSWER)), { version: '0.16.20' });
    gateway = await startGateway({ upstream: `unix:${fake.socketPath}` });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  /**
   * Posts `body` as admin (policy full, so only the parser and the limits stand in the way) and
   * checks the upstream saw nothing; returns the fault.
   */
  async function refused(t: TestContext, body: string | Buffer, code: 'GW_XMLRPC_INVALID' | 'GW_XMLRPC_UNSUPPORTED', message: RegExp): Promise<XmlRpcFault> {
    const seen = fake.requests.length;
    const measured = await measure(() => post(gateway.url(), body, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS * 3)));
    report(t, measured);
    const fault = faultOf(measured.value);
    assert.equal(measured.value.headers.get('x-gateway-error'), code);
    assert.match(fault.faultString, message);
    assert.equal(fake.requests.length, seen, 'nothing reached the upstream');
    return fault;
  }

  /** Posts `body` as admin and checks that it was forwarded, returning what the upstream received. */
  async function forwarded(t: TestContext, body: string | Buffer): Promise<Buffer> {
    const seen = fake.requests.length;
    const measured = await measure(() => post(gateway.url(), body, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS * 3)));
    report(t, measured);
    assert.equal(measured.value.status, 200);
    assert.equal(decodeXmlRpcResponse(measured.value.body), 0);
    assert.equal(fake.requests.length, seen + 1, 'the call reached the upstream once');
    return (fake.requests.at(-1) as { body: Buffer }).body;
  }

  describe('malformed bytes', () => {
    it('answers truncated XML with a fault naming the unclosed element', async (t) => {
      const whole = xmlCall('d.multicall2', ['', 'main', 'd.name=']);
      await refused(t, whole.slice(0, whole.length - 40), 'GW_XMLRPC_INVALID', /not well-formed XML: unclosed tag: \w+/);
    });

    it('answers a body cut inside a tag, a comment and a CDATA section with a not-well-formed fault', async (t) => {
      for (const body of [
        '<?xml version="1.0"?><methodCall><methodName>system.client_version</methodName></methodC',
        '<methodCall><methodName>system.client_version</methodName><!-- never closed',
        '<methodCall><methodName><![CDATA[system.client_version',
      ]) {
        await refused(t, body, 'GW_XMLRPC_INVALID', /not well-formed XML/);
      }
    });

    it('answers 64 KiB of binary junk with a fault saying the body is not UTF-8', async (t) => {
      await refused(t, junk(64 * 1024, 42), 'GW_XMLRPC_INVALID', /not valid UTF-8/);
    });

    it('answers control-character junk that is valid UTF-8 with a not-well-formed fault', async (t) => {
      const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => 1 + (i % 31)));
      await refused(t, body, 'GW_XMLRPC_INVALID', /not well-formed XML/);
    });

    it('answers invalid UTF-8 inside an otherwise valid call with a fault, rather than replacing it with U+FFFD', async (t) => {
      for (const bad of [[0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff]]) {
        const [head, tail] = xmlCall('d.custom1.set', ['0123456789ABCDEF0123456789ABCDEF01234567', 'XX']).split('XX') as [string, string];
        await refused(t, Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]), 'GW_XMLRPC_INVALID', /not valid UTF-8/);
      }
    });

    it('answers a UTF-8 byte order mark with a fault asking for UTF-8 without one', async (t) => {
      await refused(t, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xmlCall('system.client_version'))]), 'GW_XMLRPC_INVALID', /byte order mark/);
    });

    it('answers UTF-16 (with its BOM) as not UTF-8', async (t) => {
      await refused(t, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xmlCall('system.client_version'), 'utf16le')]), 'GW_XMLRPC_INVALID', /not valid UTF-8/);
    });

    it('answers a NUL character in a string with a not-well-formed fault', async (t) => {
      await refused(t, xmlCall('d.custom1.set', ['0123456789ABCDEF0123456789ABCDEF01234567', 'a\u0000b']), 'GW_XMLRPC_INVALID', /not well-formed XML/);
    });
  });

  describe('a 24 MiB body (server.body_limit is 16 MiB by default)', () => {
    const body = Buffer.alloc(24 * 1024 * 1024, 0x20);

    it('answers 413 naming server.body_limit, from Content-Length, without reading or forwarding it', async (t) => {
      const seen = fake.requests.length;
      const measured = await measure(() => post(gateway.url(), body, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS * 3)));
      report(t, measured);
      assert.equal(measured.value.status, 413);
      assert.match(measured.value.body.toString(), /larger than the gateway's limit of 16777216 bytes \(server\.body_limit\)/);
      assert.equal(fake.requests.length, seen);
    });

    it('stops reading a chunked upload at the limit: 413 (or, for a client still writing, a closed connection) and nothing forwarded', async (t) => {
      const seen = fake.requests.length;
      const logged = gateway.logs.length;
      const measured = await measure(
        () =>
          new Promise<{ status?: number; error?: string; sent: number }>((resolve) => {
            let sent = 0;
            const request = httpRequest(
              gateway.url(),
              { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml', 'transfer-encoding': 'chunked' } },
              (response) => {
                response.resume();
                response.on('end', () => resolve({ status: response.statusCode, sent }));
              },
            );
            request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, sent }));
            const chunk = body.subarray(0, 256 * 1024);
            const pump = (): void => {
              while (sent < body.length && !request.destroyed) {
                sent += chunk.length;
                if (!request.write(chunk)) {
                  request.once('drain', pump);
                  return;
                }
              }
              request.end();
            };
            pump();
          }),
      );
      report(t, measured);
      const outcome = measured.value;
      t.diagnostic(`client: ${JSON.stringify(outcome)}`);
      assert.ok(outcome.status === 413 || outcome.error === 'EPIPE' || outcome.error === 'ECONNRESET', JSON.stringify(outcome));
      const line = gateway.logs.slice(logged).find((entry) => entry.status !== undefined);
      assert.equal(line?.status, 413, 'the gateway answered 413 (the client may not have read it)');
      assert.equal(line?.outcome, 'too_large');
      assert.equal(fake.requests.length, seen);
    });

    it('answers 401 to the same body without credentials: the body is never parsed for a stranger', async (t) => {
      const measured = await measure(() => post(gateway.url(), body, {}, AbortSignal.timeout(NO_HANG_MS * 3)));
      report(t, measured);
      assert.equal(measured.value.status, 401);
    });
  });

  describe('entities and DTDs', () => {
    it('refuses a billion-laughs entity bomb at its DOCTYPE, before expanding anything', async (t) => {
      const entities = ['<!ENTITY lol0 "lol">'];
      for (let i = 1; i <= 9; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
      const body = `<?xml version="1.0"?><!DOCTYPE methodCall [${entities.join('')}]><methodCall><methodName>d.name</methodName><params><param><value><string>&lol9;</string></value></param></params></methodCall>`;
      await refused(t, body, 'GW_XMLRPC_INVALID', /a DOCTYPE is not allowed in an XML-RPC request/);
    });

    it('refuses a quadratic-blowup entity (one large entity referenced many times) at its DOCTYPE', async (t) => {
      const body = `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "${'a'.repeat(100_000)}">]><methodCall><methodName>d.name</methodName><params><param><value><string>${'&a;'.repeat(100_000)}</string></value></param></params></methodCall>`;
      await refused(t, body, 'GW_XMLRPC_INVALID', /a DOCTYPE is not allowed/);
    });

    it('refuses external entities (XXE) at their DOCTYPE: no file content comes back', async (t) => {
      for (const doctype of [
        '<!DOCTYPE methodCall [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE methodCall [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
      ]) {
        const fault = await refused(t, `<?xml version="1.0"?>${doctype}<methodCall><methodName>d.name</methodName><params><param><value><string>&xxe;</string></value></param></params></methodCall>`, 'GW_XMLRPC_INVALID', /a DOCTYPE is not allowed/);
        assert.doesNotMatch(fault.faultString, /root:/);
      }
    });

    it('never fetches an external DTD: the DTD server gets no request', async (t) => {
      let fetched = 0;
      const dtdServer: Server = createServer((_request, response) => {
        fetched++;
        response.end('<!ENTITY x "fetched">');
      });
      await new Promise<void>((resolve) => dtdServer.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = dtdServer.address() as AddressInfo;
        const body = `<?xml version="1.0"?><!DOCTYPE methodCall SYSTEM "http://127.0.0.1:${port}/evil.dtd"><methodCall><methodName>d.name</methodName><params><param><value><string>&x;</string></value></param></params></methodCall>`;
        await refused(t, body, 'GW_XMLRPC_INVALID', /a DOCTYPE is not allowed/);
        assert.equal(fetched, 0);
      } finally {
        await new Promise((resolve) => dtdServer.close(resolve));
      }
    });

    it('refuses an entity reference without a DOCTYPE as undefined', async (t) => {
      await refused(t, methodCall('d.name', '<param><value><string>&xxe;</string></value></param>'), 'GW_XMLRPC_INVALID', /undefined entity/);
    });

    it('refuses processing instructions', async (t) => {
      await refused(t, `<?xml version="1.0"?><?xml-stylesheet href="x"?>${xmlCall('system.client_version').replace('<?xml version="1.0"?>', '')}`, 'GW_XMLRPC_INVALID', /processing instructions are not allowed/);
    });
  });

  describe('depth and size', () => {
    it('refuses 200 000-deep array nesting at the depth limit, without a stack overflow', async (t) => {
      const body = methodCall('d.name', `<param>${'<value><array><data>'.repeat(200_000)}${'</data></array></value>'.repeat(200_000)}</param>`);
      await refused(t, body, 'GW_XMLRPC_INVALID', /arrays and structs are nested more than \d+ deep/);
    });

    it('refuses 200 000-deep struct nesting the same way', async (t) => {
      const open = '<value><struct><member><name>m</name>';
      const body = methodCall('d.name', `<param>${open.repeat(200_000)}<value/>${'</member></struct></value>'.repeat(200_000)}</param>`);
      await refused(t, body, 'GW_XMLRPC_INVALID', /nested more than \d+ deep/);
    });

    it('refuses 200 000 nested unknown elements, whether under the root or inside a value', async (t) => {
      await refused(t, `<methodCall>${'<x>'.repeat(200_000)}${'</x>'.repeat(200_000)}</methodCall>`, 'GW_XMLRPC_INVALID', /<x> is not allowed in <methodCall>/);
      await refused(t, methodCall('d.name', `<param><value><string>${'<x>'.repeat(200_000)}</string></value></param>`), 'GW_XMLRPC_INVALID', /<string> may hold only text/);
    });

    it('skips 200 000 nested elements inside a type rtorrent does not take, then refuses the type', async (t) => {
      const inner = `${'<x>'.repeat(200_000)}${'</x>'.repeat(200_000)}`;
      await refused(t, methodCall('d.name', `<param><value><boolean>${inner}</boolean></value></param>`), 'GW_XMLRPC_UNSUPPORTED', /rtorrent does not accept <boolean> parameters/);
      // Never closed: the same nesting is then reported as malformed, still without recursion.
      await refused(t, methodCall('d.name', `<param><value><boolean>${'<x>'.repeat(200_000)}`), 'GW_XMLRPC_INVALID', /not well-formed XML/);
    });

    it('forwards a 10 MB string: strings are bounded by server.body_limit unless limits.max_string_bytes says less', async (t) => {
      const text = 'x'.repeat(10_000_000);
      const received = await forwarded(t, methodCall('d.custom1.set', `<param><value><string>0123456789ABCDEF0123456789ABCDEF01234567</string></value></param><param><value><string>${text}</string></value></param>`));
      assert.ok(received.includes(`<string>${text}</string>`), 'the string reached the upstream whole');
    });

    it('forwards a 10 MB base64 value (a big torrent for load.raw_start) intact', async (t) => {
      const bytes = junk(7_500_000, 7);
      const received = await forwarded(t, methodCall('load.raw_start', `<param><value><string></string></value></param><param><value><base64>${bytes.toString('base64')}</base64></value></param>`));
      assert.ok(received.includes(bytes.toString('base64')));
    });

    it('forwards a 100 000-element array (below limits.max_values)', async (t) => {
      const received = await forwarded(t, methodCall('d.multicall2', `<param><value><string></string></value></param><param><value><string>main</string></value></param>${arrayParam('<value><string>d.name=</string></value>', 100_000)}`));
      assert.equal(received.toString().split('<string>d.name=</string>').length - 1, 100_000);
    });

    it('refuses 1.1 million values (8.8 MB of <value/>) at the value limit before the tree grows further', async (t) => {
      await refused(t, methodCall('d.multicall2', arrayParam('<value/>', 1_100_000)), 'GW_XMLRPC_INVALID', /the request has more than \d+ values/);
    });

    it('refuses 300 000 values with the default limits.max_values (200 000)', async (t) => {
      await refused(t, methodCall('d.multicall2', arrayParam('<value/>', 300_000)), 'GW_XMLRPC_INVALID', /more than 200000 values/);
    });
  });

  describe('system.multicall with thousands of calls', () => {
    it('forwards 5000 calls with the default limits.max_multicall_calls (10 000), as ruTorrent sends for "select all"', async (t) => {
      const received = await forwarded(t, multicall(5000));
      assert.equal(received.toString().split('<name>methodName</name>').length - 1, 5000);
    });

    it('refuses 20 000 calls with the default limit, naming the limit and its key, before the policy walks them', async (t) => {
      const fault = await refused(t, multicall(20_000), 'GW_XMLRPC_UNSUPPORTED', /system\.multicall has 20000 calls; the gateway takes at most 10000 .*\(limits\.max_multicall_calls\)/);
      assert.equal(fault.faultCode, -32602);
    });
  });

  describe('JSON-RPC (upstream.jsonrpc = true): the same bound on calls per request', () => {
    let jsonGateway: GatewayTestInstance;
    before(async () => {
      jsonGateway = await startGateway({ upstream: `unix:${fake.socketPath}`, upstreamToml: 'timeout = "10s"\njsonrpc = true' });
    });
    after(async () => {
      await jsonGateway?.close();
    });

    async function jsonRefused(body: unknown, message: RegExp): Promise<void> {
      const seen = fake.requests.length;
      const answer = await post(jsonGateway.url(), JSON.stringify(body), { authorization: ADMIN, 'content-type': 'application/json' }, AbortSignal.timeout(NO_HANG_MS * 3));
      const parsed = JSON.parse(answer.body.toString()) as { error?: { message?: string } };
      assert.match(parsed.error?.message ?? answer.body.toString().slice(0, 300), message);
      assert.equal(fake.requests.length, seen, 'nothing reached the upstream');
    }

    it('refuses a batch of 10 001 calls', async () => {
      await jsonRefused(Array.from({ length: 10_001 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'system.client_version' })), /the batch has 10001 calls; the gateway takes at most 10000/);
    });

    it('refuses a system.multicall of 20 000 calls, as on the XML-RPC side', async () => {
      const calls = Array.from({ length: 20_000 }, (_, i) => ({ methodName: 'd.name', params: [i.toString(16).padStart(40, '0')] }));
      await jsonRefused({ jsonrpc: '2.0', id: 1, method: 'system.multicall', params: [calls] }, /system\.multicall has 20000 calls; .*\(limits\.max_multicall_calls\)/);
    });
  });

  describe('configured [limits]', () => {
    /** A second gateway with `toml` under [limits]; today the config refuses the unknown section. */
    async function withLimits(toml: string, run: (gw: GatewayTestInstance) => Promise<void>): Promise<void> {
      const gw = await startGateway({ upstream: `unix:${fake.socketPath}`, extraToml: `[limits]\n${toml}` });
      try {
        await run(gw);
      } finally {
        await gw.close();
      }
    }

    async function refusedBy(gw: GatewayTestInstance, body: string, message: RegExp): Promise<void> {
      const seen = fake.requests.length;
      const fault = faultOf(await post(gw.url(), body, { authorization: ADMIN }, AbortSignal.timeout(NO_HANG_MS * 3)));
      assert.match(fault.faultString, message);
      assert.equal(fake.requests.length, seen);
    }

    it('refuses a 5000-call system.multicall past max_multicall_calls = 1000', async () => {
      await withLimits('max_multicall_calls = 1000', async (gw) => {
        await refusedBy(gw, multicall(5000), /system\.multicall has 5000 calls; the gateway takes at most 1000 .*\(limits\.max_multicall_calls\)/);
        const ok = await post(gw.url(), multicall(1000), { authorization: ADMIN });
        assert.equal(decodeXmlRpcResponse(ok.body), 0, 'exactly the limit is forwarded');
      });
    });

    it('refuses a 10 MB string past max_string_bytes = "1MiB"', async () => {
      await withLimits('max_string_bytes = "1MiB"', async (gw) => {
        await refusedBy(gw, methodCall('d.custom1.set', `<param><value><string>${'x'.repeat(10_000_000)}</string></value></param>`), /a string is longer than 1048576 bytes/);
      });
    });

    it('refuses a 100 000-element array past max_values = 50000, and nesting past max_depth = 4', async () => {
      await withLimits('max_values = 50000\nmax_depth = 4', async (gw) => {
        await refusedBy(gw, methodCall('d.multicall2', arrayParam('<value><string>d.name=</string></value>', 100_000)), /more than 50000 values/);
        await refusedBy(gw, methodCall('d.name', `<param>${'<value><array><data>'.repeat(5)}${'</data></array></value>'.repeat(5)}</param>`), /nested more than 4 deep/);
      });
    });

    /** Starting a gateway with `options` must fail with `message`; one that starts anyway is closed again. */
    async function refusedAtStart(options: Parameters<typeof startGateway>[0], message: RegExp): Promise<void> {
      const started = await startGateway(options).then(
        (gw) => gw,
        (error: unknown) => error as Error,
      );
      if (!(started instanceof Error)) {
        await started.close();
        assert.fail('the configuration was accepted');
      }
      assert.match(started.message, message);
    }

    it('refuses a config whose limits contradict each other, naming the key', async () => {
      await refusedAtStart({ upstream: `unix:${fake.socketPath}`, upstreamToml: 'timeout = "60s"', extraToml: '[limits]\nidle_timeout = "30s"' }, /limits\.idle_timeout: must be longer than upstream\.timeout/);
      await refusedAtStart({ upstream: `unix:${fake.socketPath}`, extraToml: '[limits]\nheader_timeout = "90s"\nrequest_timeout = "60s"' }, /limits\.header_timeout: must not be longer than limits\.request_timeout/);
    });

    it('refuses an idle_timeout not longer than an [upstreams.NAME] timeout', async () => {
      await refusedAtStart(
        {
          upstream: `unix:${fake.socketPath}`,
          upstreamToml: 'timeout = "10s"',
          extraToml: `[limits]\nidle_timeout = "30s"\n[upstreams.slow]\nscgi = "unix:${fake.socketPath}"\ntimeout = "90s"`,
        },
        /limits\.idle_timeout: must be longer than/,
      );
    });
  });

  it('still answers an ordinary call after all of the above', async () => {
    const answer = await post(gateway.url(), xmlCall('system.client_version'), { authorization: ADMIN });
    assert.equal(answer.status, 200);
    assert.equal(decodeXmlRpcResponse(answer.body), 0);
  });
});
