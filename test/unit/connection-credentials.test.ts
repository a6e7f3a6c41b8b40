import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { CONNECTION_TRUST_MS, ConnectionCredentials } from '../../src/auth/connection-credentials.js';

const HEADER = `Basic ${Buffer.from('admin:admin-secret').toString('base64')}`;

describe('ConnectionCredentials: the header a keep-alive connection last got through with', () => {
  it('recognises the same header on the same connection, for the same authenticator', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    const authenticator = {};
    assert.equal(credentials.userFor(socket, HEADER, authenticator), undefined);
    credentials.remember(socket, HEADER, 'admin', authenticator);
    assert.equal(credentials.userFor(socket, HEADER, authenticator), 'admin');
  });

  it('does not recognise another header on that connection, so it is checked in full', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    const authenticator = {};
    credentials.remember(socket, HEADER, 'admin', authenticator);
    assert.equal(credentials.userFor(socket, `Basic ${Buffer.from('admin:guess').toString('base64')}`, authenticator), undefined);
    assert.equal(credentials.userFor(socket, HEADER.toLowerCase(), authenticator), undefined);
  });

  it('drops the remembered header once another one arrives on the connection', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    const authenticator = {};
    credentials.remember(socket, HEADER, 'admin', authenticator);
    assert.equal(credentials.userFor(socket, `Basic ${Buffer.from('viewer:viewer-secret').toString('base64')}`, authenticator), undefined);
    assert.equal(credentials.userFor(socket, HEADER, authenticator), undefined);
  });

  it('forgets a connection\'s header when the connection closes', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    const authenticator = {};
    credentials.remember(socket, HEADER, 'admin', authenticator);
    socket.emit('close', false);
    assert.equal(credentials.userFor(socket, HEADER, authenticator), undefined);
    assert.equal(socket.listenerCount('close'), 0);
  });

  it('adds one close listener per connection, however often its users alternate (a proxy)', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    const authenticator = {};
    const viewer = `Basic ${Buffer.from('viewer:viewer-secret').toString('base64')}`;
    for (let i = 0; i < 20; i++) {
      const [header, user] = i % 2 === 0 ? [HEADER, 'admin'] : [viewer, 'viewer'];
      assert.equal(credentials.userFor(socket, header, authenticator), undefined);
      credentials.remember(socket, header, user, authenticator);
    }
    assert.equal(socket.listenerCount('close'), 1);
  });

  it('does not carry a header over to another connection', () => {
    const credentials = new ConnectionCredentials();
    const authenticator = {};
    credentials.remember(new Socket(), HEADER, 'admin', authenticator);
    assert.equal(credentials.userFor(new Socket(), HEADER, authenticator), undefined);
  });

  it('forgets everything a previous authenticator verified: a reload re-checks every open connection', () => {
    const credentials = new ConnectionCredentials();
    const socket = new Socket();
    credentials.remember(socket, HEADER, 'admin', {});
    assert.equal(credentials.userFor(socket, HEADER, {}), undefined);
  });

  it('trusts a verification for CONNECTION_TRUST_MS, then asks for a new check', () => {
    let now = 1_000_000;
    const credentials = new ConnectionCredentials(() => now);
    const socket = new Socket();
    const authenticator = {};
    credentials.remember(socket, HEADER, 'admin', authenticator);
    now += CONNECTION_TRUST_MS - 1;
    assert.equal(credentials.userFor(socket, HEADER, authenticator), 'admin');
    now += 1;
    assert.equal(credentials.userFor(socket, HEADER, authenticator), undefined);
  });
});
