import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { acceptedEncoding, answerEncoding, CompressedRelay, compressWhole, GatherBuffers, SharedAnswerEncodings, varyOnAcceptEncoding, type CompressionSettings } from '../../src/http/compression.js';
import type { ResponseHead } from '../../src/upstream/response-head.js';

function head(status: number, headers: Array<[string, string]>): ResponseHead {
  return { status, reason: 'OK', headers, contentLength: undefined };
}

const XML_200 = head(200, [['content-type', 'text/xml']]);
const ON: CompressionSettings = { enabled: true, minBytes: 1024 };

function decode(coding: string | undefined, bytes: Buffer): Buffer {
  return coding === 'gzip' ? gunzipSync(bytes) : brotliDecompressSync(bytes);
}

describe('Accept-Encoding', () => {
  const codingFor = (header: string | string[] | undefined) => acceptedEncoding(header).coding;

  it('offers nothing to a client that sends no Accept-Encoding, or asks only for codings the gateway does not make', () => {
    assert.equal(codingFor(undefined), undefined);
    assert.equal(codingFor(''), undefined);
    assert.equal(codingFor('identity'), undefined);
    assert.equal(codingFor('deflate, zstd'), undefined);
  });

  it('takes gzip as Python, Go, .NET, OkHttp and fetch ask for it, in any case, and x-gzip as gzip', () => {
    assert.equal(codingFor('gzip'), 'gzip');
    assert.equal(codingFor('gzip, deflate'), 'gzip');
    assert.equal(codingFor('GZip'), 'gzip');
    assert.equal(codingFor('x-gzip'), 'gzip');
    assert.equal(codingFor(['deflate', 'gzip']), 'gzip', 'repeated headers count as one list');
  });

  it('prefers br when the client weighs both alike, and follows its weights otherwise', () => {
    assert.equal(codingFor('deflate, gzip, br, zstd'), 'br');
    assert.equal(codingFor('gzip;q=0.5, br;q=0.5'), 'br');
    assert.equal(codingFor('gzip, br;q=0.5'), 'gzip');
    assert.equal(codingFor('br;q=0.1, gzip;q=0.9'), 'gzip');
  });

  it('reads q=0 as "not this one", with or without decimals and blanks', () => {
    assert.equal(codingFor('gzip;q=0'), undefined);
    assert.equal(codingFor('gzip ; q=0.000'), undefined);
    assert.equal(codingFor('br;q=0, gzip'), 'gzip');
    assert.equal(codingFor('gzip;q=0, gzip'), undefined, 'the first mention counts');
  });

  it('counts an entry with a malformed weight as refused, so nothing is sent that was not clearly asked for', () => {
    assert.equal(codingFor('gzip;q=2'), undefined);
    assert.equal(codingFor('gzip;q=high'), undefined);
    assert.equal(codingFor('gzip;q=0.5000'), undefined);
    assert.equal(codingFor('gzip;level=9'), 'gzip', 'other parameters are ignored');
  });

  it('gives "*" to every coding not listed', () => {
    assert.equal(codingFor('*'), 'br');
    assert.equal(codingFor('*, br;q=0'), 'gzip');
    assert.equal(codingFor('*;q=0'), undefined);
  });

  it('keeps identity for a client that weighs it above the codings, but a lower weight alone still asks for one', () => {
    assert.equal(codingFor('gzip;q=0.5, identity'), undefined);
    assert.equal(codingFor('gzip;q=0.5, identity;q=0.8'), undefined);
    assert.equal(codingFor('gzip;q=0.5'), 'gzip');
    assert.equal(codingFor('gzip, identity'), 'gzip');
  });

  it('notes a client that refuses identity, with identity;q=0 or *;q=0 without an identity entry', () => {
    assert.deepEqual(acceptedEncoding('gzip, identity;q=0'), { coding: 'gzip', identityRefused: true });
    assert.deepEqual(acceptedEncoding('gzip, *;q=0'), { coding: 'gzip', identityRefused: true });
    assert.deepEqual(acceptedEncoding('gzip, identity, *;q=0'), { coding: 'gzip', identityRefused: false });
    assert.deepEqual(acceptedEncoding('gzip'), { coding: 'gzip', identityRefused: false });
  });
});

describe('which answers are compressed', () => {
  it('compresses a 200 XML-RPC or JSON-RPC answer from the threshold up, for a client that asks', () => {
    assert.deepEqual(answerEncoding(ON, 'gzip', XML_200, 1024), { coding: 'gzip', vary: true });
    assert.deepEqual(answerEncoding(ON, 'gzip', head(200, [['content-type', 'application/json; charset=utf-8']]), 5000), { coding: 'gzip', vary: true });
    assert.deepEqual(answerEncoding(ON, 'gzip', XML_200, undefined), { coding: 'gzip', vary: true }, 'a size rtorrent did not send cannot be weighed first');
  });

  it('leaves an answer below the threshold as it is, but still says the answer depends on Accept-Encoding', () => {
    assert.deepEqual(answerEncoding(ON, 'gzip', XML_200, 1023), { coding: undefined, vary: true });
  });

  it('compresses below the threshold for a client that refuses identity, but never an empty answer', () => {
    assert.deepEqual(answerEncoding(ON, 'gzip, identity;q=0', XML_200, 200), { coding: 'gzip', vary: true });
    assert.deepEqual(answerEncoding(ON, 'gzip, identity;q=0', XML_200, 0), { coding: undefined, vary: true });
  });

  it('never compresses for a client that did not ask', () => {
    assert.deepEqual(answerEncoding(ON, undefined, XML_200, 1_000_000), { coding: undefined, vary: true });
    assert.deepEqual(answerEncoding(ON, 'identity', XML_200, 1_000_000), { coding: undefined, vary: true });
  });

  it('relays other statuses, other types and answers rtorrent already encoded as they are, without Vary', () => {
    const asIs = { coding: undefined, vary: false };
    assert.deepEqual(answerEncoding(ON, 'gzip', head(500, [['content-type', 'text/xml']]), 5000), asIs);
    assert.deepEqual(answerEncoding(ON, 'gzip', head(200, [['content-type', 'text/html']]), 5000), asIs);
    assert.deepEqual(answerEncoding(ON, 'gzip', head(200, []), 5000), asIs);
    assert.deepEqual(answerEncoding(ON, 'gzip', head(200, [['content-type', 'text/xml'], ['content-encoding', 'gzip']]), 5000), asIs);
  });

  it('compresses nothing and adds no Vary with server.compress off', () => {
    assert.deepEqual(answerEncoding({ enabled: false, minBytes: 0 }, 'gzip', XML_200, 5000), { coding: undefined, vary: false });
  });

  it('adds Accept-Encoding to the Vary an answer carries, once', () => {
    assert.equal(varyOnAcceptEncoding(undefined), 'Accept-Encoding');
    assert.equal(varyOnAcceptEncoding('Origin'), 'Origin, Accept-Encoding');
    assert.equal(varyOnAcceptEncoding(['Origin', 'accept-encoding']), 'Origin, accept-encoding');
    assert.equal(varyOnAcceptEncoding('*'), '*');
  });
});

describe('compressing', () => {
  const xml = Buffer.from(`<?xml version="1.0"?><methodResponse><params><param><value><array><data>${'<value><string>Some.Show.S01E01.1080p.WEB-DL</string></value>'.repeat(3000)}</data></array></value></param></params></methodResponse>`);

  it('compresses whole answers, small and large, into bytes that decode to the original', async () => {
    for (const coding of ['gzip', 'br'] as const) {
      for (const body of [xml.subarray(0, 2000), xml]) {
        const packed = await compressWhole(body, coding);
        assert.ok(packed.length < body.length / 4, `${coding} of ${body.length} bytes: ${packed.length}`);
        assert.ok(decode(coding, packed).equals(body));
      }
    }
  });

  it('streams an answer through the encoder, one chunk at a time, into a complete coding', async () => {
    for (const coding of ['gzip', 'br'] as const) {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (chunk: Buffer) => chunks.push(chunk));
      const relay = new CompressedRelay(out, coding, xml.length, new GatherBuffers());
      for (let i = 0; i < xml.length; i += 16 * 1024) await new Promise<void>((resolve, reject) => relay.input.write(xml.subarray(i, i + 16 * 1024), (error) => (error ? reject(error) : resolve())));
      await relay.finish();
      const sent = Buffer.concat(chunks);
      assert.equal(relay.bytes, sent.length);
      assert.ok(decode(coding, sent).equals(xml));
    }
  });

  it('holds the next chunk back while the client reads nothing: what is buffered stays bounded', async () => {
    // Random bytes barely compress, so nearly every byte in is a byte out waiting for the client.
    const chunk = randomBytes(64 * 1024);
    const stalled = new Writable({ highWaterMark: 16 * 1024, write: () => undefined });
    const relay = new CompressedRelay(stalled, 'gzip', undefined, new GatherBuffers());
    let accepted = 0;
    const feed = async (): Promise<void> => {
      for (;;) {
        const error = await new Promise<Error | null | undefined>((resolve) => relay.input.write(chunk, resolve));
        if (error) return;
        accepted += chunk.length;
      }
    };
    void feed();
    let last = -1;
    while (accepted !== last) {
      last = accepted;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(accepted <= 512 * 1024, `${accepted} bytes taken in before the encoder stopped asking for more`);
    relay.abort();
  });

  it('ends a cut-short relay without the coding\'s end, so no client can take the part for the whole', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const relay = new CompressedRelay(out, 'gzip', undefined, new GatherBuffers());
    await new Promise<void>((resolve) => relay.input.write(xml, () => resolve()));
    relay.abort();
    await new Promise((resolve) => setImmediate(resolve));
    assert.throws(() => gunzipSync(Buffer.concat(chunks)), /unexpected end of file/);
  });
});

describe('answers shared between callers (SharedAnswerEncodings)', () => {
  it('compress a kept answer once per coding, however many callers receive it', async () => {
    const encodings = new SharedAnswerEncodings();
    const answer = Buffer.from('<methodResponse>'.padEnd(4096, 'x'));
    const first = encodings.compress(answer, 'gzip');
    assert.equal(encodings.compress(answer, 'gzip'), first, 'the second caller gets the same copy');
    assert.notEqual(encodings.compress(answer, 'br'), first, 'another coding is another copy');
    assert.deepEqual(gunzipSync(await first), answer);
  });

  it('keep copies per answer: equal bytes in another answer are compressed on their own', () => {
    const encodings = new SharedAnswerEncodings();
    const one = Buffer.from('a'.repeat(2048));
    assert.notEqual(encodings.compress(one, 'gzip'), encodings.compress(Buffer.from(one), 'gzip'));
  });
});
