/**
 * Large <base64> values (a .torrent in load.raw_start) are read from the request's bytes and written
 * into the canonical request's bytes without passing through the XML parser as text. That is only a
 * way of reading: every body must be read, or refused, exactly as the ordinary path reads it.
 * `<base64 >` (a space in the tag) is the same element to XML but is not set aside, so it gives the
 * ordinary reading to compare with.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { LARGE_BASE64_BYTES, setAsideLargeBase64 } from '../../src/xmlrpc/base64-bytes.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { parseMethodCall } from '../../src/xmlrpc/parse.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';

const torrent = randomBytes(LARGE_BASE64_BYTES + 1000);
const digits = torrent.toString('base64');

function body(content: string, tag = 'base64'): Buffer {
  return Buffer.from(`<?xml version="1.0"?><methodCall><methodName>load.raw_start</methodName><params><param><value><string></string></value></param><param><value><${tag}>${content}</base64></value></param></params></methodCall>`);
}

/** The call, or the refusal with its line (`<base64 >` moves later columns on its line by one). */
function reading(bytes: Buffer): MethodCall | string {
  try {
    return parseMethodCall(bytes);
  } catch (error) {
    return (error as Error).message.replace(/, column \d+\)/, ')');
  }
}

describe('a large <base64> value', () => {
  const contents: Array<[string, string]> = [
    ['canonical, on one line', digits],
    ['wrapped at 76 characters, as Python sends it', digits.replace(/(.{76})/g, '$1\n')],
    ['with CR LF line ends and tabs', digits.replace(/(.{64})/g, '$1\r\n\t')],
    ['cut short of its padding', digits.slice(0, -2)],
    ['with padding in the middle', `${digits.slice(0, 100)}==${digits.slice(102)}`],
    ['with non-zero bits under the padding', digits.replace(/.(=+)$/, (_match, pads: string) => `${pads.length === 1 ? 'B' : 'R'}${pads}`)],
    ['with a character outside the alphabet', `${digits.slice(0, 100)}*${digits.slice(101)}`],
    ['with a character reference', `&#65;${digits.slice(1)}`],
    ['with a control character', `${digits.slice(0, 100)}\u0001${digits.slice(101)}`],
    ['that looks like a stand-in', `~${'A'.repeat(LARGE_BASE64_BYTES)}~0~`],
  ];
  for (const [what, content] of contents) {
    it(`is read ${what} exactly as the ordinary path reads it`, () => {
      // Only digits and white space are set aside; the rest goes the ordinary way in both.
      assert.equal(setAsideLargeBase64(body(content)) !== undefined, /^[A-Za-z0-9+/=\s]*$/.test(content));
      assert.deepEqual(reading(body(content)), reading(body(content, 'base64 ')));
    });
  }

  it('comes back from the canonical encoding byte for byte', () => {
    const call = parseMethodCall(body(digits));
    const encoded = encodeMethodCall(call);
    assert.ok(encoded.includes(Buffer.from(`<value><base64>${digits}</base64></value>`)));
    assert.deepEqual(parseMethodCall(encoded), call);
    const value = call.params[1];
    assert.ok(value?.kind === 'base64' && value.value.equals(torrent));
  });

  it('inside CDATA is text of the string it stands in, not a value', () => {
    const inCdata = Buffer.from(body(digits.slice(0, 8)).toString().replace('<value><string></string></value>', `<value><string><![CDATA[<base64>${digits}</base64>]]></string></value>`));
    const call = reading(inCdata);
    assert.ok(typeof call !== 'string', call as string);
    assert.deepEqual(call.params[0], { kind: 'string', value: `<base64>${digits}</base64>` });
  });

  it('names the line of a problem after it as the ordinary reading does', () => {
    const wrapped = digits.replace(/(.{76})/g, '$1\n');
    const broken = Buffer.from(body(wrapped).toString().replace('</params>', '<bogus/></params>'));
    const message = reading(broken);
    assert.equal(typeof message, 'string');
    assert.ok((message as string).includes(`line ${wrapped.split('\n').length})`), message as string);
  });

  it('is found in time linear in the body, however many "<base64>" it opens', () => {
    const many = Buffer.from(`<?xml version="1.0"?><methodCall><methodName>x</methodName><params>${'<base64>'.repeat(200_000)}</base64></params></methodCall>`);
    const started = performance.now();
    assert.throws(() => parseMethodCall(many));
    // Quadratic, this was minutes; linear, it is milliseconds. The bound leaves room for a busy machine.
    assert.ok(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
  });

  it('inside a comment is left to the comment', () => {
    const commented = Buffer.from(body(digits.slice(0, 8)).toString().replace('<methodName>', `<!-- <base64>${digits}</base64> --><methodName>`));
    assert.deepEqual(reading(commented), reading(body(digits.slice(0, 8))));
  });
});
