import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DEMO_USERS } from '../../scripts/demo.js';
import { requireBinary, waitForExit } from '../helpers/processes.js';
import { freePort, REPO_ROOT, runCli, stopCli, type CliProcess } from './ops-support.js';

const run = promisify(execFile);
const ready = requireBinary('rtorrent') !== undefined && requireBinary('curl') !== undefined && requireBinary('python3') !== undefined;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run demo', { skip: !ready && 'rtorrent, curl or python3 not installed' }, () => {
  let demo: CliProcess | undefined;
  after(async () => {
    if (demo) await stopCli(demo);
  });

  it('starts rtorrent and the gateway, prints lines that work when pasted, and cleans up on Ctrl-C', async () => {
    const port = await freePort();
    demo = runCli([], { command: [process.execPath, '--import', 'tsx', 'scripts/demo.ts'], cwd: REPO_ROOT, env: { DEMO_PORT: String(port), HOME: process.env.HOME } });
    const deadline = Date.now() + 30_000;
    while (!demo.output().includes('Press Ctrl-C') && Date.now() < deadline && demo.child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const output = demo.output();
    assert.match(output, /Press Ctrl-C/, output);

    const pasted = output.split('\n').filter((line) => /^ {2}(curl|python3) /.test(line)).map((line) => line.trim());
    assert.equal(pasted.length, 5, output);
    const results = [];
    for (const line of pasted) results.push((await run('sh', ['-c', line])).stdout);
    assert.match(results[0] ?? '', /<string>0\.9\.8<\/string>/);
    assert.equal(results[1], '0.9.8\n');
    assert.match(results[2] ?? '', /<fault>.*execute\.throw is not allowed for user "viewer"/s);
    assert.equal(results[3], 'ok\n');
    assert.match(results[4] ?? '', /rtorrent_gateway_requests_total\{transport="http",user="admin",method="system\.client_version",outcome="relayed"\} 2/);
    assert.ok(pasted[0]?.includes(`admin:${DEMO_USERS.admin.password}`));

    const rtorrentPid = Number(/rtorrent \(pid (\d+)\)/.exec(output)?.[1]);
    const tempDir = /config (\S+)\/gateway\.toml/.exec(output)?.[1] ?? '';
    assert.ok(existsSync(tempDir));
    demo.child.kill('SIGINT');
    assert.ok(await waitForExit(demo.child, 15_000), 'the demo exits on Ctrl-C');
    assert.equal(demo.child.exitCode, 0);
    assert.equal(existsSync(tempDir), false, 'the temp dir is removed');
    assert.equal(isAlive(rtorrentPid), false, 'rtorrent is stopped');
    assert.match(demo.output(), /Removed /);
  });
});
