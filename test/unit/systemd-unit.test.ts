import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { protectHomeAdvice, SHIPPED_UNIT, underProtectedHome, unitFiles, unitSetting } from '../../src/ops/systemd-unit.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-unit-'));

describe('what the systemd unit hides from the service', () => {
  it('the shipped unit sets ProtectHome=yes, so a socket under /home gets advice naming the fix', () => {
    assert.equal(unitSetting([SHIPPED_UNIT], 'ProtectHome')?.value, 'yes');
    const advice = protectHomeAdvice('/home/rtorrent/scgi.socket', [SHIPPED_UNIT]);
    assert.match(advice ?? '', /under \/home, which the shipped systemd unit \(systemd\/rtorrent-gateway\.service\) hides from the service with ProtectHome=yes: add ProtectHome=read-only in a drop-in/);
  });

  it('gives no advice for a socket outside /home, /root and /run/user', () => {
    assert.equal(protectHomeAdvice('/run/rtorrent/scgi.socket', [SHIPPED_UNIT]), undefined);
    assert.deepEqual(['/home/a/s', '/root/s', '/run/user/1000/s', '/homework/s'].map(underProtectedHome), [true, true, true, false]);
  });

  it('follows a drop-in that sets ProtectHome=read-only, where connecting still works', () => {
    const dropIn = join(dir, 'home.conf');
    writeFileSync(dropIn, '[Service]\nProtectHome=read-only\n');
    assert.deepEqual(unitSetting([SHIPPED_UNIT, dropIn], 'ProtectHome'), { value: 'read-only', file: dropIn });
    assert.equal(protectHomeAdvice('/home/rtorrent/scgi.socket', [SHIPPED_UNIT, dropIn]), undefined);
  });

  it('finds an installed unit before the shipped one, then its drop-ins in name order', () => {
    const etc = join(dir, 'etc');
    mkdirSync(join(etc, 'rtorrent-gateway.service.d'), { recursive: true });
    writeFileSync(join(etc, 'rtorrent-gateway.service'), '[Service]\nProtectHome=tmpfs\n');
    writeFileSync(join(etc, 'rtorrent-gateway.service.d', 'b.conf'), '');
    writeFileSync(join(etc, 'rtorrent-gateway.service.d', 'a.conf'), '');
    assert.deepEqual(unitFiles(SHIPPED_UNIT, [etc, join(dir, 'none')]), [
      join(etc, 'rtorrent-gateway.service'),
      join(etc, 'rtorrent-gateway.service.d', 'a.conf'),
      join(etc, 'rtorrent-gateway.service.d', 'b.conf'),
    ]);
    assert.deepEqual(unitFiles(SHIPPED_UNIT, [join(dir, 'none')]), [SHIPPED_UNIT]);
    assert.match(protectHomeAdvice('/home/x/scgi.socket', unitFiles(SHIPPED_UNIT, [etc])) ?? '', /the systemd unit \(.*etc\/rtorrent-gateway\.service\) hides .* ProtectHome=tmpfs/);
  });
});
