import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { buildRuntime } from '../../src/ops/runtime.js';
import { VerifiedCredentialCache } from '../../src/auth/credential-cache.js';
import pino from 'pino';

const dir = mkdtempSync(join(tmpdir(), 'gw-limits-config-'));
let counter = 0;
const HTPASSWD = join(dir, 'htpasswd');
writeFileSync(HTPASSWD, 'alice:$2b$04$abcdefghijklmnopqrstuuTqAqPqTc8tDEBfHxg4OaZ1I/9lIK8q2\n');
const BASE = `[upstream]\nscgi = "unix:/run/rtorrent/scgi.socket"\n[auth]\nhtpasswd = "${HTPASSWD}"\n`;

function load(toml: string) {
  const file = join(dir, `gateway-${counter++}.toml`);
  writeFileSync(file, BASE + toml);
  return loadConfig({ file });
}

/** The ```toml blocks of a document, in order. */
function tomlBlocks(path: string): string[] {
  return [...readFileSync(new URL(path, import.meta.url), 'utf8').matchAll(/```toml\n([\s\S]*?)```/g)].map((match) => match[1] as string);
}

describe('[limits], policies and users: what a call may cost', () => {
  it('defaults: 400 000 cells, 64 MiB answers, patterns of 64 characters with one *, 4 KiB stored, 8 in flight, 20 a second after 40', () => {
    assert.deepEqual(load('').limits.policies, {
      maxAnswerCells: 400_000,
      maxAnswerBytes: 64 * 1024 * 1024,
      maxPatternLength: 64,
      maxPatternWildcards: 1,
      maxStoredValueBytes: 4096,
      callsInFlight: 8,
      callRate: 20,
      callBurst: 40,
    });
  });

  it('takes sizes as sizes and refuses nonsense with the key named', () => {
    const config = load('[limits]\nmax_answer_bytes = "1MiB"\nmax_stored_value_bytes = 512\ncall_rate = 0.5\n');
    assert.equal(config.limits.policies.maxAnswerBytes, 1024 * 1024);
    assert.equal(config.limits.policies.maxStoredValueBytes, 512);
    assert.equal(config.limits.policies.callRate, 0.5);
    for (const [toml, key] of [
      ['[limits]\nmax_answer_cells = 0\n', 'limits.max_answer_cells'],
      ['[limits]\ncalls_in_flight = -1\n', 'limits.calls_in_flight'],
      ['[limits]\ncall_burst = 0\n', 'limits.call_burst'],
      ['[policies.x]\nextends = "readonly"\nmax_answer_bytes = "lots"\n', 'policies.x.max_answer_bytes'],
      ['[access.users.alice]\npolicy = "readonly"\ncall_rate = "fast"\n', 'access.users.alice.call_rate'],
    ] as const) {
      assert.throws(() => load(toml), (error: unknown) => error instanceof ConfigError && error.message.includes(key), key);
    }
  });

  it("gives each user the budget of their own entry, else their policy's, else [limits]'s; full has none", async () => {
    const config = load(
      '[limits]\ncall_rate = 7\n' +
        '[policies.ui]\nextends = "standard"\ncalls_in_flight = 3\n' +
        '[access.users]\nalice = "ui"\nbob = "full"\ncarol = "readonly"\n' +
        '[access.users.dave]\npolicy = "ui"\ncalls_in_flight = 0\ncall_burst = 2\n',
    );
    const runtime = await buildRuntime(config, { cache: new VerifiedCredentialCache(), logger: pino({ level: 'silent' }) });
    const budget = (user: string) => runtime.budgetOf(user, runtime.policies.get(config.access.users.get(user)!.policy)!);
    assert.deepEqual(budget('alice'), {
      callsInFlight: { value: 3, key: 'policies.ui.calls_in_flight' },
      callRate: { value: 7, key: 'limits.call_rate' },
      callBurst: { value: 40, key: 'limits.call_burst' },
    });
    assert.deepEqual(budget('bob'), { callsInFlight: undefined, callRate: undefined, callBurst: { value: 40, key: 'limits.call_burst' } });
    assert.equal(budget('carol').callsInFlight?.key, 'limits.calls_in_flight');
    assert.deepEqual(budget('dave'), {
      callsInFlight: undefined,
      callRate: { value: 7, key: 'limits.call_rate' },
      callBurst: { value: 2, key: 'access.users.dave.call_burst' },
    });
  });

  it('the policy examples in docs/policies.md load as written', async () => {
    const blocks = tomlBlocks('../../docs/policies.md');
    assert.ok(blocks.length >= 2);
    for (const block of blocks) {
      const config = load(block);
      await buildRuntime(config, { cache: new VerifiedCredentialCache(), logger: pino({ level: 'silent' }) });
    }
  });
});
