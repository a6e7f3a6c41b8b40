/**
 * Every TOML example in the README and docs/ is a configuration the gateway accepts, checked the way
 * `rtorrent-gateway --check` checks a file (load, then build without listening). Examples are
 * fragments, so each is laid over a minimal configuration: the required keys, and every user the
 * example names (as an SCGI listener's user) given a policy unless the example gives one. Files the
 * example points at (htpasswd) are replaced by one that exists.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { parse, stringify } from 'smol-toml';
import { loadConfig } from '../../src/config/load.js';
import { buildGateway } from '../../src/gateway.js';
import { makeTempDir, removeTempDir } from '../helpers/processes.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCUMENTS = ['README.md', 'gateway.example.toml', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function merge(base: Table, over: Table): Table {
  const merged: Table = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = isTable(value) && isTable(merged[key]) ? merge(merged[key] as Table, value) : value;
  return merged;
}

/** The ```toml blocks of a Markdown file, or the whole file for a .toml one, with where each starts. */
function examples(document: string): Array<{ line: number; text: string }> {
  const text = readFileSync(join(ROOT, document), 'utf8');
  if (document.endsWith('.toml')) return [{ line: 1, text }];
  const found: Array<{ line: number; text: string }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```toml') continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1]?.trim() !== '```') i++;
    found.push({ line: start + 1, text: lines.slice(start, i + 1).join('\n') });
    i++;
  }
  return found;
}

describe('the TOML examples of the documentation', () => {
  const dir = makeTempDir('documented-config');
  after(() => removeTempDir(dir));
  const htpasswd = join(dir, 'htpasswd');
  writeFileSync(htpasswd, `admin:${bcrypt.hashSync('x', 4)}\n`);

  for (const document of DOCUMENTS) {
    for (const example of examples(document)) {
      it(`${document}:${example.line} is accepted as a configuration`, async () => {
        let fragment: Table;
        try {
          fragment = parse(example.text) as Table;
        } catch (error) {
          assert.fail(`not valid TOML: ${(error as Error).message}`);
        }
        const base: Table = {
          server: { listen: '127.0.0.1:0' },
          upstream: { scgi: 'unix:/run/rtorrent/scgi.socket' },
          auth: { htpasswd },
          access: { users: { admin: 'full' } },
        };
        const listeners = (isTable(fragment.scgi) && Array.isArray(fragment.scgi.listeners) ? fragment.scgi.listeners : []) as Table[];
        const named = Object.fromEntries(listeners.map((listener) => [String(listener.user), 'standard']));
        const config = merge(merge(base, { access: { users: named } }), fragment);
        // Files the example points at stand for the operator's own.
        (config.auth as Table).htpasswd = htpasswd;
        delete (config.auth as Table).htdigest;
        const file = join(dir, `example-${example.line}.toml`);
        writeFileSync(file, stringify(config));
        const app = await buildGateway(loadConfig({ file }), { logger: pino({ level: 'silent' }) });
        await app.close();
      });
    }
  }
});
