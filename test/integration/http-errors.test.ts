import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { basicAuth, post, startGateway } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply } from '../helpers/fake-scgi.js';
import { fakePeerStack } from '../helpers/fake-stack.js';
import { makeTempDir, removeTempDir, requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/scgi-client.js';

const haveRtorrent = requireBinary('rtorrent') !== undefined;
const ADMIN = basicAuth('admin', 'admin-secret');
const VERSION_CALL = xmlCall('system.client_version');

describe('HTTP answers in front of a real rtorrent', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  const stack = withStack({ rtorrent: { name: 'http-errors' }, gateway: { serverToml: 'body_limit = "64k"' } });

  it('challenges a request without credentials with 401 and WWW-Authenticate: Basic realm="rtorrent"', async () => {
    const response = await post(stack.url(), VERSION_CALL);
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="rtorrent"/);
  });

  it('answers wrong credentials with 401 and the challenge again, and logs the failure at warn', async () => {
    const response = await post(stack.url(), VERSION_CALL, { authorization: basicAuth('admin', 'wrong') });
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="rtorrent"/);
    const line = stack.gateway.logs.filter((entry) => entry.status === 401 && entry.user === 'admin').at(-1);
    assert.equal(line?.level, 40);
  });

  it('refuses a user who has a password but no entry in [access.users] with 403', async () => {
    const response = await post(stack.url(), VERSION_CALL, { authorization: basicAuth('stranger', 'stranger-secret') });
    assert.equal(response.status, 403);
    assert.match(response.body.toString(), /user "stranger" has no access: add it to \[access\.users\]/);
  });

  it('answers an unknown path with 404, and paths are case-sensitive', async () => {
    for (const path of ['/rpc2', '/RPC2/', '/', '/RPC3']) {
      const response = await post(stack.url(path), VERSION_CALL, { authorization: ADMIN });
      assert.equal(response.status, 404, path);
    }
  });

  it('answers any method but POST with 405 and Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']) {
      const response = await fetch(stack.url(), { method, headers: { authorization: ADMIN } });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'POST', method);
    }
  });

  it('answers a body over the limit with 413 and says so', async () => {
    const big = xmlCall('system.client_version', ['x'.repeat(70 * 1024)]);
    const response = await post(stack.url(), big, { authorization: ADMIN });
    assert.equal(response.status, 413);
    assert.match(response.body.toString(), /larger than the gateway's limit of 65536 bytes \(server\.body_limit\)/);
  });

  it('answers a body that is not XML with 415', async () => {
    for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      const response = await post(stack.url(), VERSION_CALL, { authorization: ADMIN, 'content-type': type });
      assert.equal(response.status, 415, type);
      assert.match(response.body.toString(), /text\/xml/);
    }
  });

  it('answers an empty body with 400', async () => {
    const response = await post(stack.url(), '', { authorization: ADMIN });
    assert.equal(response.status, 400);
  });

  it('answers malformed XML with an XML-RPC fault that names the problem, without calling rtorrent', async () => {
    const response = await post(stack.url(), '<methodCall><methodName>system.client_version</methodName>', { authorization: ADMIN });
    assert.equal(response.status, 200);
    assert.match(response.body.toString(), /<fault>/);
    assert.equal(response.headers.get('x-gateway-error'), 'GW_XMLRPC_INVALID');
  });

  it('answers 504 when rtorrent does not answer within upstream.timeout, then recovers', async () => {
    const slow = await startGateway({ upstream: `unix:${stack.rtorrent.socketPath}`, upstreamToml: 'timeout = "300ms"' });
    try {
      process.kill(stack.rtorrent.pid, 'SIGSTOP');
      const started = Date.now();
      const response = await post(slow.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(response.status, 504);
      assert.match(response.body.toString(), /did not answer within 300 ms \(upstream\.timeout\)/);
      assert.ok(Date.now() - started < 3000);
    } finally {
      process.kill(stack.rtorrent.pid, 'SIGCONT');
    }
    const again = await post(slow.url(), VERSION_CALL, { authorization: ADMIN });
    assert.equal(again.status, 200);
    await slow.close();
  });
});

describe('upstream failures', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  it('answers 502 naming the socket when rtorrent is not there, and recovers by itself when it comes back', async () => {
    const dir = makeTempDir('late-rtorrent');
    const socketPath = join(dir, 'scgi.socket');
    const gateway = await startGateway({ upstream: `unix:${socketPath}` });
    let rtorrent: RtorrentInstance | undefined;
    try {
      const missing = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(missing.status, 502);
      assert.match(missing.body.toString(), new RegExp(`SCGI socket unix:${socketPath} does not exist`));

      rtorrent = await startRtorrent({ name: 'late' });
      symlinkSync(rtorrent.socketPath, socketPath);
      const back = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(back.status, 200);

      await rtorrent.stop();
      const gone = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(gone.status, 502);
      unlinkSync(socketPath);
    } finally {
      await rtorrent?.stop();
      await gateway.close();
      await removeTempDir(dir);
    }
  });

  it('answers 502 when nothing listens on a TCP upstream', async () => {
    const gateway = await startGateway({ upstream: 'tcp://127.0.0.1:9' });
    try {
      const response = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(response.status, 502);
      assert.match(response.body.toString(), /connection refused by tcp:\/\/127\.0\.0\.1:9/);
    } finally {
      await gateway.close();
    }
  });
});

describe('faults a real rtorrent cannot be made to show (fake SCGI peer)', () => {
  const stack = fakePeerStack({ upstreamToml: 'timeout = "2s"' });
  after(() => stack.close());
  const withFake = stack.start;

  it('sends rtorrent our own canonical encoding, CONTENT_LENGTH first and CONTENT_TYPE=text/xml, never the client\'s headers', async () => {
    const gw = await withFake((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    const clientBody = '<?xml version="1.0"?>\n<methodCall>\n  <methodName>system.client_version</methodName>\n</methodCall>\n';
    await post(gw.url(), clientBody, { authorization: ADMIN, 'accept-encoding': 'gzip', 'x-custom': 'yes', 'content-type': 'text/xml; charset=utf-8' });
    const seen = stack.fake?.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.headers[0]?.[0], 'CONTENT_LENGTH');
    assert.equal(Number(seen.headers[0]?.[1]), seen.body.length);
    assert.deepEqual(seen.headers.find(([name]) => name === 'CONTENT_TYPE'), ['CONTENT_TYPE', 'text/xml']);
    assert.ok(!seen.headers.some(([name]) => name.startsWith('HTTP_') || name.includes('ENCODING')));
    assert.notEqual(seen.body.toString(), clientBody, 'the client\'s bytes are not forwarded');
    assert.match(seen.body.toString(), /<methodName>system\.client_version<\/methodName>/);
  });

  it('answers 502 when the upstream sends a garbage head', async () => {
    const gw = await withFake((socket) => socket.end('this is not a CGI head\r\n\r\nbody'));
    const response = await post(gw.url(), VERSION_CALL, { authorization: ADMIN });
    assert.equal(response.status, 502);
    assert.match(response.body.toString(), /invalid response head/);
  });

  it('answers 502 when the upstream closes without answering', async () => {
    const gw = await withFake((socket) => socket.end());
    const response = await post(gw.url(), VERSION_CALL, { authorization: ADMIN });
    assert.equal(response.status, 502);
    assert.match(response.body.toString(), /closed the connection without answering/);
  });

  it('answers 502 naming the shortfall when a small answer is cut short: small answers are read whole before anything is sent', async () => {
    const gw = await withFake((socket) => {
      socket.write('Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n');
      socket.end('x'.repeat(1000));
    });
    const response = await post(gw.url(), VERSION_CALL, { authorization: ADMIN });
    assert.equal(response.status, 502);
    assert.match(response.body.toString(), /closed the connection after 1000 of 5000 body bytes/);
  });

  it('relays a small answer that arrives in pieces once all of it is there', async () => {
    const body = `<?xml version="1.0"?><methodResponse><params><param><value><string>${'v'.repeat(3000)}</string></value></param></params></methodResponse>`;
    const gw = await withFake((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n`);
      const pieces = [body.slice(0, 10), body.slice(10, 2000), body.slice(2000)];
      pieces.forEach((piece, index) => setTimeout(() => (index === pieces.length - 1 ? socket.end(piece) : socket.write(piece)), 20 * (index + 1)));
    });
    // Uncompressed, so the length sent is rtorrent's.
    const response = await post(gw.url(), VERSION_CALL, { authorization: ADMIN, 'accept-encoding': 'identity' });
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), body);
    assert.equal(response.headers.get('content-length'), String(body.length));
  });

  it('never passes off a streamed answer cut short as complete: the client connection is closed before Content-Length bytes', async () => {
    const gw = await withFake((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${WHOLE_ANSWER_MAX_BYTES + 5000}\r\n\r\n`);
      socket.end('x'.repeat(1000));
    });
    const received = await new Promise<{ status: number | undefined; announced: number; bytes: number; complete: boolean }>((resolve, reject) => {
      const request = httpRequest(gw.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' } }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('error', () => undefined);
        response.on('close', () =>
          resolve({ status: response.statusCode, announced: Number(response.headers['content-length']), bytes, complete: response.complete }),
        );
      });
      request.on('error', reject);
      request.end(VERSION_CALL);
    });
    assert.equal(received.status, 200, 'the head was relayed before rtorrent stopped');
    assert.equal(received.announced, WHOLE_ANSWER_MAX_BYTES + 5000);
    assert.equal(received.bytes, 1000);
    assert.equal(received.complete, false);
  });

  it('relays concurrent large answers byte for byte while their clients read at different speeds (read buffers are reused between calls)', async () => {
    // Each connection answers 1 MiB of its own byte value, written in uneven pieces; any chunk
    // relayed from a buffer another call had already refilled would show up as a foreign byte.
    const size = 1024 * 1024;
    let next = 0;
    const gw = await withFake((socket) => {
      const mark = 0x41 + (next++ % 26);
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${size + 1}\r\n\r\n`);
      socket.write(Buffer.from([mark]));
      // One piece after the other: timers of different lengths set by several connections at once
      // can fire out of order under load, and an end() before the last write would cut the answer.
      const pieces = [1000, 70_000, 300_000, size - 371_000];
      const writeNext = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) {
          socket.end();
          return;
        }
        socket.write(Buffer.alloc(piece, mark));
        setTimeout(writeNext, 5);
      };
      setTimeout(writeNext, 5);
    });
    const fetchOne = (slow: boolean): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const request = httpRequest(gw.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' } }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            if (slow) {
              response.pause();
              setTimeout(() => response.resume(), 2);
            }
          });
          response.on('end', () => resolve(Buffer.concat(chunks)));
          response.on('error', reject);
        });
        request.on('error', reject);
        request.end(VERSION_CALL);
      });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, index) => fetchOne(index % 2 === 0)));
    for (const answer of answers) {
      assert.equal(answer.length, size + 1);
      const mark = answer[0] as number;
      assert.equal(answer.indexOf(mark === 0x41 ? 0x42 : 0x41), -1);
      assert.ok(answer.every((byte) => byte === mark), `every byte of the answer marked ${String.fromCharCode(mark)} is its own`);
    }
  });

  it('streams a large answer: the first bytes reach the client before the upstream has sent the rest', async () => {
    const total = 10 * 1024 * 1024;
    let release: () => void = () => undefined;
    const gw = await withFake((socket) => {
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${total}\r\n\r\n`);
      socket.write(Buffer.alloc(1024 * 1024, 'a'));
      release = () => socket.end(Buffer.alloc(total - 1024 * 1024, 'b'));
    });
    const received = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(gw.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' } }, (response) => {
        let bytes = 0;
        let released = false;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (!released) {
            released = true;
            release();
          }
        });
        response.on('end', () => resolve(bytes));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(VERSION_CALL);
    });
    assert.equal(received, total);
  });
});

describe('protecting rtorrent\'s SCGI slots', { timeout: 30_000 }, () => {
  it('holds at most upstream.max_connections connections, queues up to upstream.max_queue, and answers 503 with Retry-After past that', async () => {
    const held: Array<() => void> = [];
    let open = 0;
    let peak = 0;
    const fake = await startFakeScgi((socket) => {
      open++;
      peak = Math.max(peak, open);
      socket.on('close', () => open--);
      const answer = () => socket.end(rtorrentStyleReply('<ok/>'));
      // The first call only warms the credential cache, so the queued calls below arrive in order.
      if (fake === undefined || fake.requests.length === 1) answer();
      else held.push(answer);
    });
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, upstreamToml: 'timeout = "20s"\nmax_connections = 2\nmax_queue = 1' });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200);
      const calls = [0, 1].map(() => post(gateway.url(), VERSION_CALL, { authorization: ADMIN }));
      while (held.length < 2) await pause(10);
      const queued = post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      await pause(300);
      const refused = await post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.match(refused.body.toString(), /busy: 2 calls in flight and 1 waiting/);
      // Releasing the first two lets the queued call through, on a fourth connection.
      held.splice(0).forEach((release) => release());
      while (fake.requests.length < 4) await pause(10);
      held.splice(0).forEach((release) => release());
      const answers = await Promise.all([...calls, queued]);
      assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
      assert.equal(peak, 2);
    } finally {
      held.splice(0).forEach((release) => release());
      await gateway.close();
      await fake.close();
    }
  });

  it('gives up a queue place when the client leaves, so rtorrent never gets a call nobody will read', async () => {
    const held: Array<() => void> = [];
    let holding = true;
    const fake = await startFakeScgi((socket) => {
      const answer = () => socket.end(rtorrentStyleReply('<ok/>'));
      if (!holding || fake === undefined || fake.requests.length === 1) answer();
      else held.push(answer);
    });
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}`, upstreamToml: 'timeout = "5s"\nmax_connections = 1' });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200);
      const first = post(gateway.url(), VERSION_CALL, { authorization: ADMIN });
      while (held.length < 1) await pause(10);
      const leaving = new AbortController();
      const abandoned = post(gateway.url(), VERSION_CALL, { authorization: ADMIN }, leaving.signal).catch(() => 'aborted');
      await pause(200);
      leaving.abort();
      assert.equal(await abandoned, 'aborted');
      await pause(100);
      holding = false;
      held.splice(0).forEach((release) => release());
      assert.equal((await first).status, 200);
      await pause(200);
      assert.equal(fake.requests.length, 2, 'the abandoned call never reached the upstream');
      assert.equal((await post(gateway.url(), VERSION_CALL, { authorization: ADMIN })).status, 200, 'and its slot was not leaked');
    } finally {
      held.splice(0).forEach((release) => release());
      await gateway.close();
      await fake.close();
    }
  });

  it('closes the upstream connection when the client leaves in the middle of a large answer', async () => {
    let upstreamClosed: Promise<void> = Promise.resolve();
    const fake = await startFakeScgi((socket) => {
      upstreamClosed = new Promise((resolve) => socket.once('close', () => resolve()));
      socket.write(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      // Keep writing as long as the gateway reads; it stops reading when its client stops.
      const chunk = Buffer.alloc(256 * 1024, 'a');
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
    const gateway = await startGateway({ upstream: `unix:${fake.socketPath}` });
    try {
      await new Promise<void>((resolve, reject) => {
        const request = httpRequest(gateway.url(), { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'text/xml' } }, (response) => {
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', () => undefined);
        request.end(VERSION_CALL);
        setTimeout(() => reject(new Error('no data')), 5000);
      });
      const closed = await Promise.race([upstreamClosed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 3000))]);
      assert.equal(closed, true, 'the upstream socket was closed');
    } finally {
      await gateway.close();
      await fake.close();
    }
  });
});
