import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { basicAuth, post } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { xmlCall } from '../helpers/scgi-direct.js';
import { withStack } from '../helpers/stack.js';

const run = promisify(execFile);
const haveTools = requireBinary('rtorrent') !== undefined && requireBinary('htdigest') !== undefined && requireBinary('curl') !== undefined;
const VERSION = xmlCall('system.client_version');

describe('HTTP Digest next to Basic (auth.htdigest)', { skip: !haveTools && 'rtorrent, htdigest (apache2-utils) or curl not installed' }, () => {
  const stack = withStack({
    rtorrent: { name: 'digest' },
    gateway: (_rtorrent, dir) => {
      const htdigest = join(dir, 'htdigest');
      // Apache's own tool writes the file, as an admin would.
      execFileSync('sh', ['-c', `printf 'sonarr-secret\\nsonarr-secret\\n' | htdigest -c ${htdigest} rtorrent sonarr`]);
      return {
        users: {
          sonarr: { password: 'basic-secret', policy: 'standard' },
          admin: { password: 'admin-secret', policy: 'full' },
        },
        authToml: `htdigest = "${htdigest}"`,
      };
    },
  });

  it('offers Digest first, then Basic, in two WWW-Authenticate headers', async () => {
    const response = await post(stack.url(), VERSION);
    assert.equal(response.status, 401);
    const header = response.headers.get('www-authenticate') ?? '';
    assert.match(header, /^Digest realm="rtorrent", qop="auth", algorithm=MD5, nonce="[^"]+", opaque="[^"]+".*, Basic realm="rtorrent", charset="UTF-8"$/);
  });

  it('lets curl --digest in with the htdigest password', async () => {
    const { stdout } = await run('curl', ['-sS', '--digest', '-u', 'sonarr:sonarr-secret', '-H', 'Content-Type: text/xml', '--data-binary', VERSION, stack.url()]);
    assert.match(stdout, /<string>0\.9\.8<\/string>/);
  });

  it('lets Python urllib with HTTPDigestAuthHandler in', async () => {
    const script = [
      'import sys, urllib.request',
      'mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()',
      'mgr.add_password(None, sys.argv[1], "sonarr", "sonarr-secret")',
      'opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))',
      'req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "text/xml"})',
      'print(opener.open(req).read().decode())',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, stack.url(), VERSION]);
    assert.match(stdout, /0\.9\.8/);
  });

  it('refuses a wrong Digest password with 401 and a fresh challenge, and logs it at warn', async () => {
    const result = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'sonarr:wrong', '-H', 'Content-Type: text/xml', '--data-binary', VERSION, stack.url()]);
    assert.equal(result.stdout, '401');
    assert.ok(stack.gateway.logs.some((line) => line.status === 401 && line.user === 'sonarr' && line.level === 40));
  });

  it('still takes Basic from clients that only speak Basic', async () => {
    const response = await post(stack.url(), VERSION, { authorization: basicAuth('admin', 'admin-secret') });
    assert.equal(response.status, 200);
  });

  it('applies the Digest user\'s policy: execute.throw refused for standard', async () => {
    const { stdout } = await run('curl', ['-sS', '--digest', '-u', 'sonarr:sonarr-secret', '-H', 'Content-Type: text/xml', '--data-binary', xmlCall('execute.throw', ['', 'true']), stack.url()]);
    assert.match(stdout, /<fault>[\s\S]*execute\.throw is not allowed for user "sonarr"/);
  });
});
