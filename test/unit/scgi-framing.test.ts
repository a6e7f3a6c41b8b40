import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeScgiHead, RTORRENT_MAX_HEADER_BYTES } from '../../src/upstream/scgi-request.js';
import { parseResponseHead } from '../../src/upstream/response-head.js';

function pairsOf(head: Buffer): { length: number; pairs: Array<[string, string]>; trailer: string } {
  const text = head.toString('latin1');
  const colon = text.indexOf(':');
  const length = Number(text.slice(0, colon));
  const payload = text.slice(colon + 1, colon + 1 + length);
  const fields = payload.split('\0');
  assert.equal(fields.pop(), '', 'the payload ends with a NUL');
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
  return { length, pairs, trailer: text.slice(colon + 1 + length) };
}

describe('SCGI request head', () => {
  it('is a netstring whose length counts the bytes of the pairs, in plain decimal', () => {
    const head = encodeScgiHead(123, { requestUri: '/RPC2', remoteAddr: '127.0.0.1' });
    const text = head.toString('latin1');
    const { length, trailer } = pairsOf(head);
    assert.match(text, /^[1-9]\d*:/, 'no leading zero: rtorrent 0.9.8 reads it with strtol base 0');
    assert.equal(Buffer.byteLength(text) - text.indexOf(':') - 2, length);
    assert.equal(trailer, ',');
  });

  it('puts CONTENT_LENGTH first with the byte length of the body, then SCGI=1', () => {
    const { pairs } = pairsOf(encodeScgiHead(70000, { requestUri: '/RPC2', remoteAddr: '::1' }));
    assert.deepEqual(pairs[0], ['CONTENT_LENGTH', '70000']);
    assert.deepEqual(pairs[1], ['SCGI', '1']);
  });

  it('always says CONTENT_TYPE=text/xml and never forwards client headers or Accept-Encoding', () => {
    const { pairs } = pairsOf(encodeScgiHead(10, { requestUri: '/scgi', remoteAddr: '10.0.0.1' }));
    const names = pairs.map(([name]) => name);
    assert.deepEqual(Object.fromEntries(pairs).CONTENT_TYPE, 'text/xml');
    assert.deepEqual(names, ['CONTENT_LENGTH', 'SCGI', 'REQUEST_METHOD', 'REQUEST_URI', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'CONTENT_TYPE']);
    assert.ok(!names.some((name) => name.startsWith('HTTP_') || name.includes('ENCODING')));
    assert.equal(new Set(names).size, names.length, 'SCGI forbids duplicate names');
  });

  it('adds UNTRUSTED_CONNECTION=1 only when asked, and never any other value', () => {
    const untrusted = Object.fromEntries(pairsOf(encodeScgiHead(10, { requestUri: '/RPC2', remoteAddr: '::1', untrusted: true })).pairs);
    assert.equal(untrusted.UNTRUSTED_CONNECTION, '1');
    const trusted = pairsOf(encodeScgiHead(10, { requestUri: '/RPC2', remoteAddr: '::1', untrusted: false })).pairs;
    assert.ok(!trusted.some(([name]) => name === 'UNTRUSTED_CONNECTION'), 'trusted is the absence of the pair');
  });

  it('stays under rtorrent\'s 2000-byte head limit even for an absurd request URI', () => {
    const head = encodeScgiHead(10, { requestUri: `/${'a'.repeat(5000)}`, remoteAddr: '127.0.0.1' });
    assert.ok(pairsOf(head).length <= RTORRENT_MAX_HEADER_BYTES);
  });

  it('drops values that could break the framing (NUL, spaces, control characters)', () => {
    const { pairs } = pairsOf(encodeScgiHead(10, { requestUri: '/RPC2\0X', remoteAddr: 'a b' }));
    const map = Object.fromEntries(pairs);
    assert.equal(map.REQUEST_URI, '/RPC2');
    assert.equal(map.REMOTE_ADDR, '');
  });
});

describe('SCGI response head', () => {
  const rtorrentHead = 'Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\n';

  it('reads rtorrent\'s CGI head: status, type and length, with the body starting after the blank line', () => {
    const buffer = Buffer.from(`${rtorrentHead}<xml>`);
    const result = parseResponseHead(buffer);
    assert.equal(result.state, 'complete');
    if (result.state !== 'complete') return;
    assert.equal(result.head.status, 200);
    assert.equal(result.head.contentLength, 5);
    assert.deepEqual(result.head.headers, [['content-type', 'text/xml'], ['content-length', '5']]);
    assert.equal(buffer.subarray(result.bodyStart).toString(), '<xml>');
  });

  it('waits for more bytes when the head is split across chunks, at every split point', () => {
    const full = Buffer.from(`${rtorrentHead}<xml>`);
    const headLength = Buffer.byteLength(rtorrentHead);
    for (let cut = 0; cut < headLength; cut++) {
      assert.equal(parseResponseHead(full.subarray(0, cut)).state, 'incomplete', `cut at ${cut}`);
    }
    assert.equal(parseResponseHead(full.subarray(0, headLength)).state, 'complete');
  });

  it('takes the status the nginx way: Status header, else an HTTP status line, else 200', () => {
    const cases: Array<[string, number]> = [
      ['Status: 404 Not Found\r\n\r\n', 404],
      ['HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\n\r\n', 201],
      ['Content-Type: text/xml\r\n\r\n', 200],
      ['Location: /x\r\n\r\n', 302],
      ['Status: 200 OK\n\n', 200],
    ];
    for (const [text, status] of cases) {
      const result = parseResponseHead(Buffer.from(text));
      assert.equal(result.state, 'complete', text);
      if (result.state === 'complete') assert.equal(result.head.status, status, text);
    }
  });

  it('refuses heads nginx would call invalid (502)', () => {
    for (const text of ['Status: abc\r\n\r\n', 'no colon here\r\n\r\n', 'Content-Length: -1\r\n\r\n', 'Content-Length: 1\r\nContent-Length: 2\r\n\r\n', 'Status: 999 Odd\r\n\r\n']) {
      assert.equal(parseResponseHead(Buffer.from(text)).state, 'invalid', text);
    }
  });
});
