/** The README's Layout names every directory and top-level module of src/, so a newcomer finds each job's home. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { it } from 'node:test';

it('the README\'s Layout names every directory and top-level module of src/', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const layout = /## Layout\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(layout, 'README.md has a Layout block');
  const named = new Set(layout.split('\n').flatMap((line) => (line.split(/\s{2,}/)[0] ?? '').split(',').map((entry) => entry.trim().replace(/^src\//, ''))));
  const entries = readdirSync(new URL('../../src/', import.meta.url), { withFileTypes: true }).map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
  assert.deepEqual(entries.filter((entry) => !named.has(entry)), []);
});
