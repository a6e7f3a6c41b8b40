/**
 * What the gateway asks rtorrent about itself: its release (for UNTRUSTED_CONNECTION) and the size of
 * its lists (for what a call costs). Both are asked rarely and shared by every caller.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamError } from '../../src/errors.js';
import type { ScgiResponse } from '../../src/upstream/scgi-client.js';
import { SHAPE_PROBE, UpstreamShape } from '../../src/upstream/shape.js';
import { UpstreamVersion, VERSION_PROBE } from '../../src/upstream/version.js';

const ADDRESS = { kind: 'unix', path: '/x', label: 'unix:/x' } as const;

function answer(xml: string): ScgiResponse {
  return { kind: 'whole', head: { status: 200, reason: 'OK', headers: [['content-type', 'text/xml']], contentLength: xml.length }, body: Buffer.from(xml) } as ScgiResponse;
}
const value = (inner: string): string => `<?xml version="1.0"?><methodResponse><params><param><value>${inner}</value></param></params></methodResponse>`;
const row = (inner: string): string => `<value><array><data><value>${inner}</value></data></array></value>`;

describe('the release rtorrent reports', () => {
  it('is asked once, shared by callers waiting at the same time, and asked again after forget()', async () => {
    const asked: Buffer[] = [];
    let release = '0.16.12';
    const version = new UpstreamVersion({ call: async (body) => (asked.push(body), answer(value(`<string>${release}</string>`))) });
    assert.deepEqual(await Promise.all([version.current(), version.current()]), ['0.16.12', '0.16.12']);
    assert.equal(await version.current(), '0.16.12');
    assert.equal(asked.length, 1);
    assert.ok(asked[0]?.equals(VERSION_PROBE));
    release = '0.16.20';
    version.forget();
    assert.equal(await version.current(), '0.16.20');
    assert.equal(asked.length, 2);
  });

  it('stays unknown for a minute when rtorrent cannot say, then asks again', async () => {
    let now = 0;
    let calls = 0;
    const version = new UpstreamVersion(
      {
        call: async () => {
          calls++;
          throw new UpstreamError('GW_UPSTREAM_UNREACHABLE', 'unix:/x', 'down');
        },
      },
      () => now,
    );
    assert.equal(await version.current(), undefined);
    assert.equal(await version.current(), undefined);
    assert.equal(calls, 1);
    now = 60_001;
    assert.equal(await version.current(), undefined);
    assert.equal(calls, 2);
  });
});

describe('the release, once known', () => {
  it('is asked again in the background once a minute old, so a restart as another release is noticed without a failed call', async () => {
    let now = 0;
    let release = '0.16.20';
    let asked = 0;
    let answerNow: () => void = () => undefined;
    const version = new UpstreamVersion(
      {
        call: async () => {
          asked++;
          if (asked > 1) await new Promise<void>((resolve) => (answerNow = resolve));
          return answer(value(`<string>${release}</string>`));
        },
      },
      () => now,
    );
    assert.equal(await version.current(), '0.16.20');
    now = 60_000;
    assert.equal(await version.current(), '0.16.20', 'not yet stale');
    assert.equal(asked, 1);
    release = '0.16.12';
    now = 60_001;
    assert.equal(await version.current(), '0.16.20', 'callers keep the answer they have while it is asked again');
    assert.equal(await version.current(), '0.16.20');
    assert.equal(asked, 2, 'asked once, however many callers');
    answerNow();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await version.current(), '0.16.12');
  });

  it('forgets a question asked before forget(): the next caller asks the rtorrent that is there now', async () => {
    let release = '0.9.8';
    let hold = false;
    const version = new UpstreamVersion({
      call: async () => {
        const answering = release;
        if (hold) await new Promise((resolve) => setTimeout(resolve, 20));
        return answer(value(`<string>${answering}</string>`));
      },
    });
    hold = true;
    const first = version.current();
    version.forget();
    hold = false;
    release = '0.16.20';
    assert.equal(await version.current(), '0.16.20');
    await first;
    assert.equal(await version.current(), '0.16.20', 'the older answer did not overwrite it');
  });
});

describe('the size of rtorrent\'s lists', () => {
  const shapeAnswer = (torrents: number): ScgiResponse =>
    answer(value(`<array><data>${[row('<string>0.16.20</string>'), row(`<i8>${torrents}</i8>`), row('<i8>12</i8>'), row('<i8>3</i8>'), row('<i8>50</i8>'), row('<i8>4096</i8>')].join('')}</data></array>`));

  it('reads the torrent count and the largest lists, and tells the version it learned', async () => {
    let told: string | undefined;
    const shape = new UpstreamShape({ address: ADDRESS, call: async (body) => (assert.ok(body.equals(SHAPE_PROBE)), shapeAnswer(7)) }, { onVersion: (version) => (told = version) });
    assert.deepEqual(await shape.current(), { version: '0.16.20', torrents: 7, files: 12, trackers: 3, peers: 50, chunks: 4096 });
    assert.equal(told, '0.16.20');
  });

  it('waits only for the first probe; later ones refresh in the background while the last answer serves', async () => {
    let now = 0;
    let torrents = 7;
    let calls = 0;
    const shape = new UpstreamShape({ address: ADDRESS, call: async () => (calls++, shapeAnswer(torrents)) }, { now: () => now, maxAgeMs: 30_000 });
    assert.equal((await shape.current()).torrents, 7);
    torrents = 9;
    now = 29_999;
    assert.equal((await shape.current()).torrents, 7);
    assert.equal(calls, 1);
    now = 30_000;
    assert.equal((await shape.current()).torrents, 7, 'the stale answer serves while a new one is asked for');
    await shape.refresh();
    assert.equal((await shape.current()).torrents, 9);
  });

  it('fails with an upstream error naming what it could not learn', async () => {
    const shape = new UpstreamShape({ address: ADDRESS, call: async () => answer(value('<array><data><value><struct><member><name>faultCode</name><value><i4>-506</i4></value></member><member><name>faultString</name><value><string>Method not defined</string></value></member></struct></value></data></array>')) });
    await assert.rejects(shape.current(), (error: unknown) => error instanceof UpstreamError && error.code === 'GW_UPSTREAM_BAD_RESPONSE' && /number of torrents.*Method not defined/.test(error.message));
  });
});
