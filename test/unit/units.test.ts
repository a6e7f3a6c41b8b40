import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseSize } from '../../src/config/units.js';

describe('durations', () => {
  const cases: Array<[string | number, number | undefined]> = [
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['60', 60_000],
    [60, 60_000],
    [' 2s ', 2000],
    ['2S', 2000],
    ['2 minutes', undefined],
    ['-1s', undefined],
    ['', undefined],
    ['s', undefined],
    ['1d', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`reads ${JSON.stringify(input)} as ${expected === undefined ? 'not a duration' : `${expected} ms`}`, () => {
      assert.equal(parseDuration(input), expected);
    });
  }
});

describe('sizes', () => {
  const cases: Array<[string | number, number | undefined]> = [
    ['16MiB', 16 * 1024 * 1024],
    ['16m', 16 * 1024 * 1024],
    ['512k', 512 * 1024],
    ['512KB', 512 * 1024],
    ['1048576', 1048576],
    [1048576, 1048576],
    ['1g', 1024 ** 3],
    ['12 parsecs', undefined],
    ['-5', undefined],
    [1.5, undefined],
  ];
  for (const [input, expected] of cases) {
    it(`reads ${JSON.stringify(input)} as ${expected === undefined ? 'not a size' : `${expected} bytes`}`, () => {
      assert.equal(parseSize(input), expected);
    });
  }
});
