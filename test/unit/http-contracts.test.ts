/**
 * The HTTP answers the gateway promises its clients, checked in-process with Fastify's inject():
 * no rtorrent and no listening socket. test/integration/http-errors.test.ts, cross-site.test.ts,
 * digest-auth.test.ts and ops-health.test.ts check the same contracts over real sockets; where they
 * pin a status or a message, so does this file, so the two tiers cannot drift apart.
 *
 * Every gateway here points upstream.scgi at a socket that does not exist. An answer that needed
 * rtorrent therefore shows as a 502 naming that socket, and any other answer was given by the
 * gateway alone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { buildGateway } from '../../src/gateway.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';
import { faultOf, xmlCall } from '../helpers/scgi-direct.js';
import { ALLOWED_CROSS_SITE, CROSS_SITE_SERVER_TOML, FORM_CONTENT_TYPES, REFUSED_CROSS_SITE } from '../helpers/cross-site-cases.js';

const VERSION_CALL = xmlCall('system.client_version');
/** Refused by every policy but full, and decided from the body alone. */
const EXECUTE_CALL = xmlCall('execute.throw', ['', 'sh', '-c', 'id']);
const RPC_PATHS = ['/RPC2', '/scgi'];
const BASIC_CHALLENGE = 'Basic realm="rtorrent", charset="UTF-8"';
/** Pino's numeric levels, as they appear in the JSON lines. */
const DEBUG = 20;
const WARN = 40;

interface User {
  readonly password: string;
  /** Left out of [access.users] when undefined. */
  readonly policy?: string;
}

const USERS: Record<string, User> = {
  admin: { password: 'admin-secret', policy: 'full' },
  viewer: { password: 'viewer-secret', policy: 'readonly' },
  stranger: { password: 'stranger-secret' },
};

type LogLine = Record<string, unknown>;

interface TestGateway {
  readonly app: FastifyInstance;
  readonly dir: string;
  /** upstream.scgi, which nothing listens on. */
  readonly upstream: string;
  readonly logs: LogLine[];
  close(): Promise<void>;
}

interface GatewayFiles {
  readonly users?: Record<string, User>;
  /** Extra keys for [server]. */
  readonly server?: string;
  /** htdigest lines; when given, auth.htdigest points at them. */
  readonly htdigest?: string;
}

/** A gateway built as `rtorrent-gateway` builds it from a TOML file, but never listening. */
async function buildTestGateway(name: string, files: GatewayFiles = {}): Promise<TestGateway> {
  const dir = makeTempDir(name);
  const users = files.users ?? USERS;
  const htpasswd = join(dir, 'htpasswd');
  writeFileSync(htpasswd, Object.entries(users).map(([user, { password }]) => `${user}:${bcrypt.hashSync(password, 4)}\n`).join(''));
  const htdigest = join(dir, 'htdigest');
  if (files.htdigest !== undefined) writeFileSync(htdigest, files.htdigest);
  const upstream = `unix:${join(dir, 'missing.socket')}`;
  const file = join(dir, 'gateway.toml');
  writeFileSync(
    file,
    [
      '[server]',
      'listen = "127.0.0.1:0"',
      files.server ?? '',
      '[upstream]',
      `scgi = "${upstream}"`,
      '[auth]',
      `htpasswd = "${htpasswd}"`,
      files.htdigest === undefined ? '' : `htdigest = "${htdigest}"`,
      '[access.users]',
      ...Object.entries(users).flatMap(([user, { policy }]) => (policy === undefined ? [] : [`${user} = "${policy}"`])),
    ].join('\n'),
  );
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  // Debug, so a line that should be quieter than warn is seen at its real level.
  const app = await buildGateway(loadConfig({ file }), { logger: pino({ level: 'debug' }, sink) });
  return {
    app,
    dir,
    upstream,
    logs,
    async close() {
      await app.close();
      await removeTempDir(dir);
    },
  };
}

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const ADMIN = basicAuth('admin', USERS.admin!.password);
const VIEWER = basicAuth('viewer', USERS.viewer!.password);

interface Post {
  readonly path?: string;
  readonly body?: string | Buffer | Readable;
  /** Content-Type text/xml and Host 127.0.0.1:8000 unless given; `undefined` drops a header. */
  readonly headers?: Record<string, string | undefined>;
}

/** A POST as an XML-RPC client sends it, to 127.0.0.1 like the integration tests' clients. */
function post(gateway: TestGateway, { path = '/RPC2', body = VERSION_CALL, headers = {} }: Post = {}): Promise<LightMyRequestResponse> {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ 'content-type': 'text/xml', host: '127.0.0.1:8000', ...headers })) {
    if (value !== undefined) merged[name] = value;
  }
  return gateway.app.inject({ method: 'POST', url: path, payload: body, headers: merged });
}

/** Every WWW-Authenticate value, in the order sent. */
function challenges(response: LightMyRequestResponse): string[] {
  const header = response.headers['www-authenticate'];
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [String(header)];
}

/** The gateway decided the call from its body: the policy refused it, so it got past transport and authentication. */
function assertReachedPolicy(response: LightMyRequestResponse, user: string, policy: string): void {
  assert.equal(response.statusCode, 200, response.body);
  assert.equal(response.headers['x-gateway-error'], 'GW_POLICY_DENIED', response.body);
  assert.match(faultOf(response.rawPayload).faultString, new RegExp(`^denied by the gateway: execute\\.throw is not allowed for user "${user}" \\(policy "${policy}"\\)`));
}

function lastLogFor(gateway: TestGateway, match: (line: LogLine) => boolean): LogLine | undefined {
  return gateway.logs.filter(match).at(-1);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('HTTP contracts of a gateway with Basic authentication, with no rtorrent behind it', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await buildTestGateway('http-contracts', { server: 'body_limit = "64k"' });
  });
  after(() => gateway?.close());

  describe('authentication', () => {
    it('challenges a request without credentials with 401 and WWW-Authenticate: Basic realm="rtorrent", charset="UTF-8", logged below warn', async () => {
      const response = await post(gateway);
      assert.equal(response.statusCode, 401);
      assert.deepEqual(challenges(response), [BASIC_CHALLENGE]);
      assert.equal(response.body, 'authentication required (HTTP Basic)\n');
      // Every Basic client's first request comes without credentials: that is no failed login.
      const line = lastLogFor(gateway, (entry) => entry.status === 401 && entry.user === undefined);
      assert.equal(line?.level, DEBUG);
    });

    it('answers an Authorization header of another scheme with the same Basic challenge', async () => {
      const response = await post(gateway, { headers: { authorization: 'Bearer 0123456789abcdef' } });
      assert.equal(response.statusCode, 401);
      assert.deepEqual(challenges(response), [BASIC_CHALLENGE]);
    });

    it('answers a wrong password with 401, the challenge again and a message naming the user, and logs the failure at warn', async () => {
      const response = await post(gateway, { headers: { authorization: basicAuth('admin', 'wrong') } });
      assert.equal(response.statusCode, 401);
      assert.deepEqual(challenges(response), [BASIC_CHALLENGE]);
      assert.equal(response.headers['x-gateway-error'], 'GW_UNAUTHENTICATED');
      assert.equal(response.body, 'wrong user name or password for "admin"\n');
      const line = lastLogFor(gateway, (entry) => entry.status === 401 && entry.user === 'admin');
      assert.equal(line?.level, WARN);
    });

    it('answers a user name that does not exist exactly as a wrong password, so names cannot be probed', async () => {
      const unknown = await post(gateway, { headers: { authorization: basicAuth('nobody', 'wrong') } });
      const wrong = await post(gateway, { headers: { authorization: basicAuth('viewer', 'wrong') } });
      for (const response of [unknown, wrong]) {
        assert.equal(response.statusCode, 401);
        assert.deepEqual(challenges(response), [BASIC_CHALLENGE]);
        assert.equal(response.headers['x-gateway-error'], 'GW_UNAUTHENTICATED');
      }
      assert.equal(unknown.body, 'wrong user name or password for "nobody"\n');
      assert.equal(wrong.body, 'wrong user name or password for "viewer"\n');
    });

    it('refuses a user who has a password but no entry in [access.users] with 403, naming the section to add it to', async () => {
      const response = await post(gateway, { headers: { authorization: basicAuth('stranger', USERS.stranger!.password) } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.headers['x-gateway-error'], 'GW_FORBIDDEN_USER');
      assert.equal(response.body, 'user "stranger" has no access: add it to [access.users] in the gateway config\n');
    });

    it('checks credentials before it reads the body: an oversized body without credentials gets 401, not 413', async () => {
      const response = await post(gateway, { body: xmlCall('system.client_version', ['x'.repeat(70 * 1024)]) });
      assert.equal(response.statusCode, 401);
      assert.deepEqual(challenges(response), [BASIC_CHALLENGE]);
    });
  });

  describe('a call the user\'s policy refuses', () => {
    for (const path of RPC_PATHS) {
      it(`is answered on ${path} with HTTP 200, text/xml and fault -32403 naming the method, the user and the policy`, async () => {
        const response = await post(gateway, { path, body: EXECUTE_CALL, headers: { authorization: VIEWER } });
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['content-type'], 'text/xml');
        assert.equal(response.headers['x-gateway-error'], 'GW_POLICY_DENIED');
        const fault = faultOf(response.rawPayload);
        assert.equal(fault.faultCode, -32403);
        assert.equal(fault.faultString, 'denied by the gateway: execute.throw is not allowed for user "viewer" (policy "readonly"): execute.throw is not in policy "readonly"');
      });
    }

    it('is refused without rtorrent: only a call the policy lets through finds the upstream socket missing (502)', async () => {
      const refused = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER } });
      assert.equal(refused.statusCode, 200);
      assert.equal(refused.headers['x-gateway-error'], 'GW_POLICY_DENIED');
      const allowed = await post(gateway, { body: VERSION_CALL, headers: { authorization: ADMIN } });
      assert.equal(allowed.statusCode, 502);
      assert.equal(allowed.headers['x-gateway-error'], 'GW_UPSTREAM_UNREACHABLE');
      assert.match(allowed.body, new RegExp(`SCGI socket ${escapeRegExp(gateway.upstream)} does not exist`));
    });

    it('leaves a warn line "call denied" with the user, the policy and the method', async () => {
      await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER } });
      const line = lastLogFor(gateway, (entry) => entry.msg === 'call denied');
      assert.equal(line?.level, WARN);
      assert.equal(line?.user, 'viewer');
      assert.equal(line?.policy, 'readonly');
      assert.deepEqual(line?.methods, ['execute.throw']);
    });
  });

  describe('methods and paths', () => {
    for (const path of RPC_PATHS) {
      it(`answers any method but POST on ${path} with 405 and Allow: POST, without asking for credentials`, async () => {
        for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'] as const) {
          const response = await gateway.app.inject({ method, url: path, headers: { host: '127.0.0.1:8000' } });
          assert.equal(response.statusCode, 405, method);
          assert.equal(response.headers.allow, 'POST', method);
          assert.equal(response.headers['x-gateway-error'], 'GW_METHOD_NOT_ALLOWED', method);
          assert.equal(response.headers['www-authenticate'], undefined, method);
          // Over a socket Node drops a HEAD answer's body; inject() does not, so only the others are read.
          if (method !== 'HEAD') assert.equal(response.body, `${method} is not allowed here: XML-RPC calls are POST requests\n`, method);
        }
      });
    }

    it('answers an unknown path with 404 naming it, and paths are case-sensitive and exact', async () => {
      for (const path of ['/rpc2', '/RPC2/', '/', '/RPC3', '/scgi/x']) {
        const response = await post(gateway, { path, headers: { authorization: ADMIN } });
        assert.equal(response.statusCode, 404, path);
        assert.equal(response.headers['x-gateway-error'], 'GW_NOT_FOUND', path);
        assert.equal(response.body, `no XML-RPC endpoint at ${path}\n`, path);
      }
    });

    it('answers 404 for an unknown path whatever the method, without asking for credentials', async () => {
      const response = await gateway.app.inject({ method: 'GET', url: '/index.html', headers: { host: '127.0.0.1:8000' } });
      assert.equal(response.statusCode, 404);
      assert.equal(response.headers['www-authenticate'], undefined);
    });
  });

  describe('request bodies', () => {
    it('answers a body that is not XML with 415 and names text/xml', async () => {
      for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'text/xmlx']) {
        const response = await post(gateway, { headers: { authorization: ADMIN, 'content-type': type } });
        assert.equal(response.statusCode, 415, type);
        assert.equal(response.headers['x-gateway-error'], 'GW_UNSUPPORTED_MEDIA_TYPE', type);
        assert.match(response.body, /text\/xml/, type);
      }
    });

    it('answers a body without Content-Type with 415, saying which types it takes', async () => {
      const response = await post(gateway, { headers: { authorization: ADMIN, 'content-type': undefined } });
      assert.equal(response.statusCode, 415);
      assert.equal(response.body, 'Content-Type must be text/xml or application/xml (an XML-RPC call)\n');
    });

    it('answers JSON with 415 while upstream.jsonrpc is off, naming the key', async () => {
      const response = await post(gateway, {
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute.throw', params: [''] }),
        headers: { authorization: VIEWER, 'content-type': 'application/json' },
      });
      assert.equal(response.statusCode, 415);
      assert.match(response.body, /JSON-RPC is not enabled for rtorrent at .* \(upstream\.jsonrpc\); send XML-RPC as text\/xml/);
    });

    it('reads text/xml and application/xml, with parameters and in any case', async () => {
      for (const type of ['text/xml', 'text/xml; charset=utf-8', 'application/xml', 'application/xml; charset=UTF-8', 'TEXT/XML']) {
        const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, 'content-type': type } });
        assertReachedPolicy(response, 'viewer', 'readonly');
      }
    });

    it('answers a body over server.body_limit with 413 and says so', async () => {
      const response = await post(gateway, { body: xmlCall('system.client_version', ['x'.repeat(70 * 1024)]), headers: { authorization: ADMIN } });
      assert.equal(response.statusCode, 413);
      assert.equal(response.headers['x-gateway-error'], 'GW_BODY_TOO_LARGE');
      assert.equal(response.body, 'request body is larger than the gateway\'s limit of 65536 bytes (server.body_limit)\n');
    });

    it('takes a body of exactly server.body_limit bytes, and refuses one byte more', async () => {
      const padded = (bytes: number): string => EXECUTE_CALL + ' '.repeat(bytes - Buffer.byteLength(EXECUTE_CALL));
      assertReachedPolicy(await post(gateway, { body: padded(65536), headers: { authorization: VIEWER } }), 'viewer', 'readonly');
      const over = await post(gateway, { body: padded(65537), headers: { authorization: VIEWER } });
      assert.equal(over.statusCode, 413);
    });

    it('answers a chunked body (no Content-Length) that grows past server.body_limit with 413', async () => {
      const chunks = Readable.from([Buffer.alloc(40 * 1024, 'x'), Buffer.alloc(40 * 1024, 'x')]);
      const response = await post(gateway, { body: chunks, headers: { authorization: ADMIN } });
      assert.equal(response.statusCode, 413);
      assert.match(response.body, /larger than the gateway's limit of 65536 bytes \(server\.body_limit\)/);
    });

    it('answers an empty body with 400', async () => {
      const response = await post(gateway, { body: '', headers: { authorization: ADMIN } });
      assert.equal(response.statusCode, 400);
      assert.equal(response.body, 'empty request body: expected an XML-RPC <methodCall>\n');
    });

    it('answers malformed XML with an XML-RPC fault that names the problem, without calling rtorrent', async () => {
      const response = await post(gateway, { body: '<methodCall><methodName>system.client_version</methodName>', headers: { authorization: ADMIN } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['x-gateway-error'], 'GW_XMLRPC_INVALID');
      const fault = faultOf(response.rawPayload);
      assert.equal(fault.faultCode, -32700);
      assert.match(fault.faultString, /^the request is not well-formed XML: unclosed tag: methodCall/);
    });
  });

  describe('cross-site defaults (no server.hosts, no server.allowed_origins)', () => {
    it('refuses a name in Host with 403, naming the key to add it to', async () => {
      const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, host: 'seedbox.example:8000' } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.body, 'Host "seedbox.example:8000" is not one of this gateway\'s names: add "seedbox.example" to server.hosts if clients use it\n');
    });

    it('refuses every Origin with 403, naming the key that lists trusted ones', async () => {
      const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, origin: 'https://ui.example.org' } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.body, 'requests from web pages are refused (Origin "https://ui.example.org"); list trusted origins in server.allowed_origins\n');
    });
  });

  describe('/healthz', () => {
    it('answers without credentials: 503 "unavailable" while rtorrent is not there, with no detail and Cache-Control: no-store', async () => {
      const response = await gateway.app.inject({ method: 'GET', url: '/healthz', headers: { host: '127.0.0.1:8000' } });
      assert.equal(response.statusCode, 503);
      assert.equal(response.body, 'unavailable\n');
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.equal(response.headers['www-authenticate'], undefined);
      assert.doesNotMatch(response.body, /socket|unix|ENOENT|refused/);
    });

    it('answers HEAD too, for load balancers that probe that way', async () => {
      const response = await gateway.app.inject({ method: 'HEAD', url: '/healthz', headers: { host: '127.0.0.1:8000' } });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['cache-control'], 'no-store');
    });

    it('answers a probe sent with another method with 405 and Allow: GET, HEAD', async () => {
      for (const method of ['POST', 'PUT', 'DELETE'] as const) {
        const response = await gateway.app.inject({ method, url: '/healthz', headers: { host: '127.0.0.1:8000' } });
        assert.equal(response.statusCode, 405, method);
        assert.equal(response.headers.allow, 'GET, HEAD', method);
        assert.equal(response.headers['x-gateway-error'], 'GW_METHOD_NOT_ALLOWED', method);
        assert.equal(response.body, `${method} is not allowed here: /healthz answers GET and HEAD\n`, method);
      }
    });
  });
});

describe('cross-site protections with server.hosts and server.allowed_origins', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await buildTestGateway('http-contracts-cross-site', {
      server: CROSS_SITE_SERVER_TOML,
    });
  });
  after(() => gateway?.close());

  for (const [what, headers, message] of REFUSED_CROSS_SITE) {
    it(`refuses ${what} with 403 and a plain-text reason`, async () => {
      const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, ...headers } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(response.headers['x-gateway-error'], 'GW_CROSS_SITE');
      assert.match(response.body, message);
    });
  }

  it('refuses them before authentication: a foreign Origin without credentials gets 403, not a 401 challenge', async () => {
    const response = await post(gateway, { headers: { origin: 'https://evil.example' } });
    assert.equal(response.statusCode, 403);
    assert.deepEqual(challenges(response), []);
  });

  it('logs a cross-site refusal at warn with its reason', async () => {
    await post(gateway, { headers: { 'sec-fetch-site': 'cross-site' } });
    const line = lastLogFor(gateway, (entry) => entry.outcome === 'cross_site');
    assert.equal(line?.level, WARN);
    assert.match(String(line?.problem), /Sec-Fetch-Site: cross-site/);
  });

  it('refuses an HTML form post (urlencoded, text/plain or multipart) with 415', async () => {
    for (const type of FORM_CONTENT_TYPES) {
      const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, 'content-type': type } });
      assert.equal(response.statusCode, 415, type);
    }
  });

  for (const [what, headers] of ALLOWED_CROSS_SITE) {
    it(`lets through ${what}`, async () => {
      const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: VIEWER, ...headers } });
      assertReachedPolicy(response, 'viewer', 'readonly');
    });
  }

  it('answers /healthz whatever the Host and Origin: probes come by IP, pod address or container name', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/healthz', headers: { host: 'rtorrent-gateway', origin: 'https://evil.example' } });
    assert.equal(response.statusCode, 503);
    assert.equal(response.body, 'unavailable\n');
  });
});

describe('HTTP Digest next to Basic (auth.htdigest)', () => {
  const REALM = 'rtorrent';
  const DIGEST_PASSWORD = 'digest-secret';
  const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
  let gateway: TestGateway;

  before(async () => {
    gateway = await buildTestGateway('http-contracts-digest', {
      users: { sonarr: { password: 'basic-secret', policy: 'standard' }, admin: USERS.admin! },
      // The line Apache's htdigest writes: user:realm:MD5(user:realm:password).
      htdigest: `sonarr:${REALM}:${md5(`sonarr:${REALM}:${DIGEST_PASSWORD}`)}\n`,
    });
  });
  after(() => gateway?.close());

  const param = (challenge: string, name: string): string => {
    const found = new RegExp(`${name}="([^"]*)"`).exec(challenge);
    assert.ok(found, `${name} in ${challenge}`);
    return found[1] as string;
  };

  /** What an RFC 7616 client answers to `challenge` with qop=auth and MD5, computed here rather than by the gateway's code. */
  const digestAnswer = (challenge: string, password: string, nc = '00000001'): string => {
    const nonce = param(challenge, 'nonce');
    const cnonce = 'Y2xpZW50LW5vbmNl';
    const ha1 = md5(`sonarr:${REALM}:${password}`);
    const ha2 = md5('POST:/RPC2');
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    return `Digest username="sonarr", realm="${REALM}", nonce="${nonce}", uri="/RPC2", algorithm=MD5, response="${response}", qop=auth, nc=${nc}, cnonce="${cnonce}", opaque="${param(challenge, 'opaque')}"`;
  };

  const freshChallenge = async (): Promise<string> => {
    const [digest] = challenges(await post(gateway));
    assert.ok(digest);
    return digest;
  };

  it('challenges a request without credentials with Digest first, then Basic, as two WWW-Authenticate values', async () => {
    const response = await post(gateway);
    assert.equal(response.statusCode, 401);
    const [digest, basic, ...rest] = challenges(response);
    assert.match(digest ?? '', /^Digest realm="rtorrent", qop="auth", algorithm=MD5, nonce="[^"]+", opaque="[^"]+"$/);
    assert.equal(basic, BASIC_CHALLENGE);
    assert.deepEqual(rest, []);
    assert.equal(response.body, 'authentication required (HTTP Digest or Basic)\n');
  });

  it('offers both challenges after a wrong Basic password too', async () => {
    const response = await post(gateway, { headers: { authorization: basicAuth('admin', 'wrong') } });
    assert.equal(response.statusCode, 401);
    const offered = challenges(response);
    assert.equal(offered.length, 2);
    assert.match(offered[0] ?? '', /^Digest /);
    assert.equal(offered[1], BASIC_CHALLENGE);
  });

  it('lets a correct Digest answer in and applies that user\'s policy', async () => {
    const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: digestAnswer(await freshChallenge(), DIGEST_PASSWORD) } });
    assertReachedPolicy(response, 'sonarr', 'standard');
  });

  it('refuses a wrong Digest password with 401 and a fresh challenge (not stale), and logs it at warn', async () => {
    const challenge = await freshChallenge();
    const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: digestAnswer(challenge, 'wrong') } });
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['x-gateway-error'], 'GW_UNAUTHENTICATED');
    const [digest, basic] = challenges(response);
    assert.match(digest ?? '', /^Digest /);
    assert.doesNotMatch(digest ?? '', /stale=true/);
    assert.notEqual(param(digest ?? '', 'nonce'), param(challenge, 'nonce'));
    assert.equal(basic, BASIC_CHALLENGE);
    const line = lastLogFor(gateway, (entry) => entry.status === 401 && entry.user === 'sonarr');
    assert.equal(line?.level, WARN);
  });

  it('answers a replayed Digest answer with 401 and stale=true, so the client retries on a new nonce without asking the user', async () => {
    const authorization = digestAnswer(await freshChallenge(), DIGEST_PASSWORD);
    assertReachedPolicy(await post(gateway, { body: EXECUTE_CALL, headers: { authorization } }), 'sonarr', 'standard');
    const replayed = await post(gateway, { body: EXECUTE_CALL, headers: { authorization } });
    assert.equal(replayed.statusCode, 401);
    const [digest] = challenges(replayed);
    assert.match(digest ?? '', /^Digest .*, stale=true$/);
  });

  it('still takes Basic from clients that only speak Basic', async () => {
    const response = await post(gateway, { body: EXECUTE_CALL, headers: { authorization: basicAuth('sonarr', 'basic-secret') } });
    assertReachedPolicy(response, 'sonarr', 'standard');
  });
});
