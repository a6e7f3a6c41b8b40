import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { digestHa1, digestResponse } from '../../src/auth/digest.js';
import { basicAuth, startGateway, type GatewayTestInstance, type TestUser } from '../helpers/gateway.js';
import { startFakeScgi, rtorrentStyleReply, type FakeScgiServer } from '../helpers/fake-scgi.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';

const CALL = xmlCall('system.client_version');
const REALM = 'rtorrent';

const USERS: Record<string, TestUser> = {
  admin: { password: 'admin-secret', policy: 'full' },
  app: { password: 'app-secret', policy: 'standard' },
  sonarr: { password: 'sonarr-secret', policy: 'standard' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
};

interface Answer {
  readonly status: number;
  readonly retryAfter?: string;
  readonly challenge?: string;
}

/** Loopback is a whole /8 on Linux: binding the client to 127.0.x.y gives each test its own addresses. */
function postFrom(port: number, from: string, authorization?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'text/xml' };
    if (authorization) headers.authorization = authorization;
    const request = httpRequest({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', localAddress: from, headers, agent: false }, (response) => {
      response.resume();
      const challenge = response.headers['www-authenticate'];
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          retryAfter: response.headers['retry-after'],
          challenge: Array.isArray(challenge) ? challenge[0] : challenge,
        }),
      );
    });
    request.on('error', reject);
    request.end(CALL);
  });
}

/** What a Digest client does: take the challenge of a bare request, then answer it. */
async function digestFrom(port: number, from: string, user: string, password: string): Promise<Answer> {
  const challenge = (await postFrom(port, from)).challenge ?? '';
  const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1];
  assert.ok(nonce, `no Digest challenge in ${challenge}`);
  const nc = '00000001';
  const cnonce = randomBytes(8).toString('hex');
  const response = digestResponse({ algorithm: 'MD5', ha1: digestHa1('MD5', user, REALM, password), method: 'POST', uri: '/RPC2', nonce, nc, cnonce, qop: 'auth' });
  return postFrom(port, from, `Digest username="${user}", realm="${REALM}", nonce="${nonce}", uri="/RPC2", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`);
}

type Login = (from: string, user: string, password: string) => Promise<Answer>;

const SCHEMES: Array<[string, (gateway: GatewayTestInstance) => Login]> = [
  ['Basic', (gateway) => (from, user, password) => postFrom(gateway.port, from, basicAuth(user, password))],
  ['Digest', (gateway) => (from, user, password) => digestFrom(gateway.port, from, user, password)],
];

function assertThrottled(answer: Answer, what: string): void {
  assert.equal(answer.status, 429, what);
  const seconds = Number(answer.retryAfter);
  assert.ok(seconds > 0 && seconds <= 60, `${what}: Retry-After ${answer.retryAfter}`);
}

describe('failed logins are limited per user name and address, without locking other clients out', () => {
  let upstream: FakeScgiServer;
  let dir: string;
  let htdigest: string;
  // The gateway hashes with bcryptjs in this process: counting its calls shows which guesses were checked.
  let hashes = 0;
  const compare = bcrypt.compare;

  before(async () => {
    upstream = await startFakeScgi((socket) => socket.end(rtorrentStyleReply('<ok/>')));
    dir = makeTempDir('brute-force');
    htdigest = join(dir, 'htdigest');
    writeFileSync(htdigest, Object.entries(USERS).map(([name, user]) => `${name}:${REALM}:${digestHa1('MD5', name, REALM, user.password)}`).join('\n') + '\n');
    Object.assign(bcrypt, {
      compare: (password: string, hash: string) => {
        hashes++;
        return compare(password, hash);
      },
    });
  });
  after(async () => {
    Object.assign(bcrypt, { compare });
    await upstream?.close();
    if (dir) await removeTempDir(dir);
  });

  /** A gateway of its own for each test, so that what one test does to a name cannot decide another. */
  async function withGateway(use: (gateway: GatewayTestInstance) => Promise<void>, options: { digest?: boolean } = {}): Promise<void> {
    let gateway: GatewayTestInstance | undefined;
    try {
      gateway = await startGateway({
        upstream: `unix:${upstream.socketPath}`,
        users: USERS,
        authToml: options.digest ? `htdigest = "${htdigest}"` : undefined,
      });
      await use(gateway);
    } finally {
      await gateway?.close();
    }
  }

  for (const [scheme, loginWith] of SCHEMES) {
    it(`${scheme}: 100 wrong passwords for one user leave admin's right password from the same address at 200`, () =>
      withGateway(async (gateway) => {
        const login = loginWith(gateway);
        const from = scheme === 'Basic' ? '127.0.1.1' : '127.0.1.2';
        const statuses: number[] = [];
        for (let i = 0; i < 100; i++) {
          const answer = await login(from, 'app', `old-password-${i}`);
          statuses.push(answer.status);
          if (answer.status === 429) assertThrottled(answer, `guess ${i}`);
        }
        assert.deepEqual(statuses, [...Array<number>(10).fill(401), ...Array<number>(90).fill(429)]);
        assert.equal((await login(from, 'admin', 'admin-secret')).status, 200);
        assert.equal((await login(from, 'viewer', 'not-it')).status, 401, 'another name\'s password is still checked there');
        assert.equal((await login(from, 'viewer', 'viewer-secret')).status, 200);
      }, { digest: scheme === 'Digest' }));

    it(`${scheme}: a client with the right password is not refused for a stale client with the same name at the same address`, () =>
      withGateway(async (gateway) => {
        const login = loginWith(gateway);
        const from = scheme === 'Basic' ? '127.0.2.1' : '127.0.2.2';
        assert.equal((await login(from, 'sonarr', 'sonarr-secret')).status, 200);
        for (let i = 0; i < 30; i++) await login(from, 'sonarr', 'the-old-password');
        assertThrottled(await login(from, 'sonarr', 'the-old-password'), 'the stale client');
        assert.equal((await login(from, 'sonarr', 'sonarr-secret')).status, 200);
      }, { digest: scheme === 'Digest' }));

    it(`${scheme}: 60 guesses at admin's password from one address get 429 past 10, and so does the right one from there`, () =>
      withGateway(async (gateway) => {
        const login = loginWith(gateway);
        const from = scheme === 'Basic' ? '127.0.3.1' : '127.0.3.2';
        const hashesBefore = hashes;
        for (let i = 0; i < 60; i++) {
          const answer = await login(from, 'admin', `guess-${i}`);
          if (i < 10) assert.equal(answer.status, 401, `guess ${i}`);
          else assertThrottled(answer, `guess ${i}`);
        }
        if (scheme === 'Basic') assert.equal(hashes - hashesBefore, 10, 'guesses past the limit are never hashed');
        assertThrottled(await login(from, 'admin', 'admin-secret'), 'a right guess past the limit');
        assert.equal((await login('127.0.3.3', 'admin', 'admin-secret')).status, 200, 'admin elsewhere');
      }, { digest: scheme === 'Digest' }));

    it(`${scheme}: 60 guesses at admin's password from 60 addresses get 429 past 50, while admin's own address keeps working`, () =>
      withGateway(async (gateway) => {
        const login = loginWith(gateway);
        const subnet = scheme === 'Basic' ? '127.0.4' : '127.0.5';
        const home = `${subnet}.250`;
        assert.equal((await login(home, 'admin', 'admin-secret')).status, 200);
        const hashesBefore = hashes;
        for (let i = 0; i < 60; i++) {
          const answer = await login(`${subnet}.${i + 1}`, 'admin', `guess-${i}`);
          if (i < 50) assert.equal(answer.status, 401, `guess ${i}`);
          else assertThrottled(answer, `guess ${i}`);
        }
        if (scheme === 'Basic') assert.equal(hashes - hashesBefore, 50, 'guesses past the limit are never hashed');
        assertThrottled(await login(`${subnet}.100`, 'admin', 'admin-secret'), 'a right guess from an address admin never used');
        assert.equal((await login(home, 'admin', 'admin-secret')).status, 200);
        assert.equal((await login(home, 'admin', 'a-typo')).status, 401, 'admin\'s address still has its passwords checked');
      }, { digest: scheme === 'Digest' }));
  }

  it('bounds names that do not exist per address, but still checks names that do from there', () =>
    withGateway(async (gateway) => {
      const from = '127.0.6.1';
      const hashesBefore = hashes;
      for (let i = 0; i < 10; i++) assert.equal((await postFrom(gateway.port, from, basicAuth(`nobody-${i}`, 'x'))).status, 401);
      assertThrottled(await postFrom(gateway.port, from, basicAuth('somebody-else', 'x')), 'an eleventh unknown name');
      assert.equal(hashes - hashesBefore, 10, 'one dummy hash per unknown name, until the bound');
      assert.equal((await postFrom(gateway.port, from, basicAuth('admin', 'not-it'))).status, 401);
      assert.equal((await postFrom(gateway.port, from, basicAuth('admin', 'admin-secret'))).status, 200);
    }));

  it('never counts a request without credentials: clients that wait for the challenge keep working', () =>
    withGateway(async (gateway) => {
      const from = '127.0.7.1';
      for (let i = 0; i < 30; i++) assert.equal((await postFrom(gateway.port, from)).status, 401);
      assert.equal((await postFrom(gateway.port, from, basicAuth('viewer', 'viewer-secret'))).status, 200);
      assert.equal((await postFrom(gateway.port, from, basicAuth('app', 'a-typo'))).status, 401, 'a wrong password there is checked as usual');
    }));

  it('logs every refused guess at warn, with the address', () =>
    withGateway(async (gateway) => {
      const from = '127.0.8.1';
      for (let i = 0; i < 11; i++) await postFrom(gateway.port, from, basicAuth('admin', `guess-${i}`));
      assert.equal(gateway.logs.filter((line) => line.status === 401 && line.remote === from && line.level === 40).length, 10);
      assert.ok(gateway.logs.some((line) => line.status === 429 && line.remote === from && line.level === 40 && line.outcome === 'throttled'));
    }));
});
