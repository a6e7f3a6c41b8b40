import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allows, blockingDirectory, describeOwnership, directoriesTo, permissionFix, type Identity, type Ownership } from '../../src/ops/path-access.js';

const DIR = 0o040000;
const SOCKET = 0o140000;
const ROOT = 0;
const RTORRENT = 1001;
const GATEWAY = 998;
const NOBODY = 65534;

/** The usual layout: /run open to all, /run/rtorrent entered only by rtorrent's group. */
const TREE: ReadonlyMap<string, Ownership> = new Map([
  ['/', { mode: DIR | 0o755, uid: ROOT, gid: ROOT }],
  ['/run', { mode: DIR | 0o755, uid: ROOT, gid: ROOT }],
  ['/run/rtorrent', { mode: DIR | 0o750, uid: RTORRENT, gid: RTORRENT }],
  ['/run/rtorrent/scgi.socket', { mode: SOCKET | 0o770, uid: RTORRENT, gid: RTORRENT }],
]);

function stat(path: string): Ownership {
  const found = TREE.get(path);
  if (found === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return found;
}

function user(uid: number, gids: number[], caps: Partial<Pick<Identity, 'overridesPermissions' | 'readsAndSearchesAll'>> = {}): Identity {
  return { uid, gids, overridesPermissions: false, readsAndSearchesAll: false, ...caps };
}

const gatewayInGroup = user(GATEWAY, [GATEWAY, RTORRENT]);
const gatewayAlone = user(GATEWAY, [GATEWAY]);
const nobody = user(NOBODY, [NOBODY]);

describe('the permission walk to a socket', () => {
  it('lists the directories from the root down to the socket\'s own', () => {
    assert.deepEqual(directoriesTo('/run/rtorrent/scgi.socket'), ['/', '/run', '/run/rtorrent']);
  });

  it('lets a member of the socket\'s group through every directory and write to the socket', () => {
    assert.equal(blockingDirectory('/run/rtorrent/scgi.socket', gatewayInGroup, stat), undefined);
    assert.equal(allows(stat('/run/rtorrent/scgi.socket'), gatewayInGroup, 'write'), true);
  });

  it('stops a user outside the group at the directory it may not search, not at the socket', () => {
    const blocked = blockingDirectory('/run/rtorrent/scgi.socket', gatewayAlone, stat);
    assert.equal(blocked?.directory, '/run/rtorrent');
    assert.equal(blockingDirectory('/run/rtorrent/scgi.socket', nobody, stat)?.directory, '/run/rtorrent');
  });

  it('uses the owner\'s bits for the owner even when the group\'s would allow more, as the kernel does', () => {
    const ownerLockedOut = { mode: DIR | 0o070, uid: GATEWAY, gid: RTORRENT };
    assert.equal(allows(ownerLockedOut, gatewayInGroup, 'search'), false);
  });

  it('lets root through with CAP_DAC_OVERRIDE, and holds root without it to the bits like anyone', () => {
    assert.equal(blockingDirectory('/run/rtorrent/scgi.socket', user(ROOT, [ROOT], { overridesPermissions: true }), stat), undefined);
    assert.equal(blockingDirectory('/run/rtorrent/scgi.socket', user(ROOT, [ROOT]), stat)?.directory, '/run/rtorrent');
  });

  it('lets CAP_DAC_READ_SEARCH search and read but not write', () => {
    const reader = user(NOBODY, [NOBODY], { readsAndSearchesAll: true });
    assert.equal(blockingDirectory('/run/rtorrent/scgi.socket', reader, stat), undefined);
    assert.equal(allows(stat('/run/rtorrent/scgi.socket'), reader, 'write'), false);
  });

  it('stops at a directory that does not exist without blaming permissions', () => {
    assert.equal(blockingDirectory('/run/elsewhere/deeper/scgi.socket', nobody, stat), undefined);
  });
});

describe('what a refusal is shown as, and its fix', () => {
  it('shows modes and owners as ls does', () => {
    assert.match(describeOwnership(stat('/run/rtorrent')), /^drwxr-x--- \S+:\S+$/);
    assert.match(describeOwnership(stat('/run/rtorrent/scgi.socket')), /^srwxrwx--- /);
  });

  it('suggests joining the group when the group already has the permission', () => {
    assert.match(permissionFix('/run/rtorrent', stat('/run/rtorrent'), gatewayAlone, 'search'), /^add \S+ to group \S+ \(SupplementaryGroups=/);
  });

  it('suggests the group bit when the user is in the group but the group lacks it', () => {
    const readOnlySocket = { mode: SOCKET | 0o750, uid: RTORRENT, gid: RTORRENT };
    assert.equal(permissionFix('/run/rtorrent/scgi.socket', readOnlySocket, gatewayInGroup, 'write'), 'chmod g+w /run/rtorrent/scgi.socket');
  });

  it('suggests both when neither is in place', () => {
    const privateDir = { mode: DIR | 0o700, uid: RTORRENT, gid: RTORRENT };
    assert.match(permissionFix('/home/rtorrent', privateDir, gatewayAlone, 'search'), /^chmod g\+x \/home\/rtorrent, and add \S+ to group /);
  });
});
