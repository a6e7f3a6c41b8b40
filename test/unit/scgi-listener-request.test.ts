import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.js';
import { faultAnswer, relayedHead, textAnswer } from '../../src/scgi-listener/replies.js';
import { parseScgiHead, type ScgiHeadResult } from '../../src/scgi-listener/request.js';
import { parseResponseHead } from '../../src/upstream/response-head.js';

const LIMITS = { maxHeaderBytes: 2000, maxBodyBytes: 1024 };

/** A netstring head from name/value pairs, with a body appended. */
function scgi(pairs: ReadonlyArray<readonly [string, string]>, body = '', opts: { length?: string; comma?: string } = {}): Buffer {
  const block = Buffer.from(pairs.map(([k, v]) => `${k}\0${v}\0`).join(''), 'latin1');
  return Buffer.concat([Buffer.from(`${opts.length ?? block.length}:`, 'latin1'), block, Buffer.from(opts.comma ?? ','), Buffer.from(body)]);
}

function expectInvalid(result: ScgiHeadResult, problem: string, message: RegExp): void {
  assert.equal(result.state, 'invalid', JSON.stringify(result));
  if (result.state !== 'invalid') return;
  assert.equal(result.problem, problem);
  assert.match(result.message, message);
}

describe('SCGI listener: reading the request head', () => {
  it('reads what Flood sends (CONTENT_LENGTH, CONTENT_TYPE text/xml, SCGI 1) and finds the body', () => {
    const body = '<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName></methodCall>';
    const bytes = scgi([['CONTENT_LENGTH', String(body.length)], ['CONTENT_TYPE', 'text/xml'], ['SCGI', '1']], body);
    const result = parseScgiHead(bytes, LIMITS);
    assert.equal(result.state, 'complete');
    if (result.state !== 'complete') return;
    assert.equal(result.contentLength, body.length);
    assert.equal(bytes.subarray(result.bodyStart).toString(), body);
    assert.equal(result.headers.get('CONTENT_TYPE'), 'text/xml');
  });

  it('reads what ruTorrent sends (no CONTENT_TYPE, UNTRUSTED_CONNECTION)', () => {
    const result = parseScgiHead(scgi([['CONTENT_LENGTH', '5'], ['SCGI', '1'], ['UNTRUSTED_CONNECTION', '1']], 'hello'), LIMITS);
    assert.equal(result.state, 'complete');
  });

  it('waits for more bytes at every cut of a valid head', () => {
    const bytes = scgi([['CONTENT_LENGTH', '3'], ['SCGI', '1']], 'abc');
    const full = parseScgiHead(bytes, LIMITS);
    assert.equal(full.state, 'complete');
    const bodyStart = full.state === 'complete' ? full.bodyStart : 0;
    for (let cut = 0; cut < bodyStart; cut++) {
      assert.equal(parseScgiHead(bytes.subarray(0, cut), LIMITS).state, 'incomplete', `cut at ${cut}`);
    }
  });

  it('refuses lengths rtorrent would misread or that are not netstrings', () => {
    const pairs = [['CONTENT_LENGTH', '0']] as const;
    expectInvalid(parseScgiHead(scgi(pairs, '', { length: '017' }), LIMITS), 'malformed', /leading zero/);
    expectInvalid(parseScgiHead(scgi(pairs, '', { length: '0x11' }), LIMITS), 'malformed', /leading zero/);
    expectInvalid(parseScgiHead(scgi(pairs, '', { length: '+17' }), LIMITS), 'malformed', /netstring length/);
    expectInvalid(parseScgiHead(scgi(pairs, '', { length: ' 17' }), LIMITS), 'malformed', /netstring length/);
    expectInvalid(parseScgiHead(scgi(pairs, '', { length: '' }), LIMITS), 'malformed', /empty/);
    expectInvalid(parseScgiHead(Buffer.from('POST /RPC2 HTTP/1.1\r\n'), LIMITS), 'malformed', /netstring length/);
    // Seen at once, without waiting for the rest of a would-be 2000-byte block.
    expectInvalid(parseScgiHead(Buffer.from('1x'), LIMITS), 'malformed', /netstring length/);
  });

  it('refuses a header block over the limit as soon as the length says so', () => {
    expectInvalid(parseScgiHead(Buffer.from('2001:'), LIMITS), 'too_large', /2001 bytes exceeds .* 2000/);
    expectInvalid(parseScgiHead(Buffer.from('99999'), LIMITS), 'too_large', /longer than/);
  });

  it('refuses a block without the trailing comma', () => {
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0']], '', { comma: ' ' }), LIMITS), 'malformed', /not followed by ","/);
  });

  it('refuses CONTENT_LENGTH anywhere but first, as rtorrent does', () => {
    expectInvalid(parseScgiHead(scgi([['SCGI', '1'], ['CONTENT_LENGTH', '0']]), LIMITS), 'malformed', /must start with CONTENT_LENGTH/);
  });

  it('refuses CONTENT_LENGTH values that are not plain decimal', () => {
    for (const value of ['', '-1', '+5', '05', '0x10', '1e3', ' 5', '5 ', '99999999999999999999']) {
      expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', value]]), LIMITS), 'malformed', /CONTENT_LENGTH/);
    }
  });

  it('refuses a body over the limit with 413 before reading it', () => {
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '1025']]), LIMITS), 'too_large', /1025 exceeds .* 1024/);
  });

  it('refuses duplicate names, empty names, dangling names and a block not ending in NUL', () => {
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['HTTP_X', 'a'], ['HTTP_X', 'b']]), LIMITS), 'malformed', /"HTTP_X" appears twice/);
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['CONTENT_LENGTH', '0']]), LIMITS), 'malformed', /appears twice/);
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['', 'x']]), LIMITS), 'malformed', /empty name/);
    const dangling = Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x00', 'latin1');
    expectInvalid(parseScgiHead(Buffer.concat([Buffer.from(`${dangling.length}:`), dangling, Buffer.from(',')]), LIMITS), 'malformed', /without a value/);
    const unterminated = Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x001', 'latin1');
    expectInvalid(parseScgiHead(Buffer.concat([Buffer.from(`${unterminated.length}:`), unterminated, Buffer.from(',')]), LIMITS), 'malformed', /NUL/);
  });

  it('refuses an SCGI header other than "1"', () => {
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['SCGI', '2']]), LIMITS), 'malformed', /SCGI header must be "1"/);
  });

  it('takes text/xml (with parameters) or an empty CONTENT_TYPE, refuses JSON-RPC and other types with 415', () => {
    for (const type of ['text/xml', 'text/xml; charset=utf-8', 'TEXT/XML', '']) {
      assert.equal(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['CONTENT_TYPE', type]]), LIMITS).state, 'complete', type);
    }
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '2'], ['CONTENT_TYPE', 'application/json']], '{}'), LIMITS), 'unsupported_type', /JSON-RPC is not accepted/);
    expectInvalid(parseScgiHead(scgi([['CONTENT_LENGTH', '0'], ['CONTENT_TYPE', 'application/xml']]), LIMITS), 'unsupported_type', /"application\/xml" is not accepted/);
  });
});

describe('SCGI listener: answers', () => {
  it('re-serialises rtorrent\'s head byte for byte', () => {
    const original = 'Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 123\r\n\r\n';
    const parsed = parseResponseHead(Buffer.from(original));
    assert.equal(parsed.state, 'complete');
    if (parsed.state !== 'complete') return;
    assert.equal(relayedHead(parsed.head).toString('latin1'), original);
  });

  it('drops connection headers and nginx\'s X-Accel-* from a relayed head', () => {
    const parsed = parseResponseHead(Buffer.from('Status: 200 OK\r\nConnection: close\r\nX-Accel-Buffering: no\r\nContent-Type: text/xml\r\n\r\n'));
    assert.equal(parsed.state, 'complete');
    if (parsed.state !== 'complete') return;
    assert.equal(relayedHead(parsed.head).toString('latin1'), 'Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n');
  });

  it('answers a refusal as rtorrent answers a fault: 200, text/xml, exact Content-Length', () => {
    const answer = faultAnswer(new GatewayError('GW_POLICY_DENIED', 'denied by the gateway: execute.throw <is> not allowed'));
    const text = answer.toString('utf8');
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    assert.equal(head, `Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}`);
    assert.match(body, /<fault>.*<i4>-32403<\/i4>.*execute\.throw &lt;is&gt; not allowed/);
  });

  it('answers transport problems with a status line and text', () => {
    assert.equal(
      textAnswer(502, 'rtorrent is not running').toString(),
      'Status: 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n\r\nrtorrent is not running\n',
    );
  });
});
