import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * What the gateway's systemd unit sets, read from its files the way systemd layers them: the unit
 * (an installed copy before the one shipped in systemd/), then its drop-ins, the last assignment
 * winning. Only for advice: `--check` runs outside the unit and cannot see its sandbox otherwise.
 */

const UNIT = 'rtorrent-gateway.service';
/** The unit as shipped with the package, next to dist/ and src/. */
export const SHIPPED_UNIT = new URL(`../../systemd/${UNIT}`, import.meta.url).pathname;
/** Where systemd looks, most important first. */
const SYSTEM_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** The unit file in use and its drop-ins, in the order systemd applies them. */
export function unitFiles(shipped: string = SHIPPED_UNIT, dirs: readonly string[] = SYSTEM_DIRS): string[] {
  const unit = dirs.map((dir) => join(dir, UNIT)).find((file) => existsSync(file)) ?? shipped;
  const dropIns = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(join(dir, `${UNIT}.d`));
    } catch {
      continue;
    }
    // A drop-in of the same name in a more important directory hides the others.
    for (const name of names) if (name.endsWith('.conf') && !dropIns.has(name)) dropIns.set(name, join(dir, `${UNIT}.d`, name));
  }
  return [unit, ...[...dropIns.keys()].sort().map((name) => dropIns.get(name) as string)];
}

export interface UnitSetting {
  readonly value: string;
  /** The file whose assignment is in effect. */
  readonly file: string;
}

/** The value of `key` in [Service] after every file has been applied; undefined when none sets it. */
export function unitSetting(files: readonly string[], key: string): UnitSetting | undefined {
  let found: UnitSetting | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line.startsWith('[')) section = line;
      else if (section === '[Service]' && line.startsWith(`${key}=`)) found = { value: line.slice(key.length + 1).trim(), file };
    }
  }
  return found;
}

/** What ProtectHome=yes and =tmpfs put out of the service's sight (systemd.exec(5)). */
const PROTECTED_HOMES = ['/home', '/root', '/run/user'];

export function underProtectedHome(path: string): boolean {
  return PROTECTED_HOMES.some((home) => path === home || path.startsWith(`${home}/`));
}

/**
 * Advice when the unit would hide `path` from the service; undefined when it would not (no
 * ProtectHome=, or "read-only": connecting to a socket works on a read-only mount).
 */
export function protectHomeAdvice(path: string, files: readonly string[] = unitFiles()): string | undefined {
  if (!underProtectedHome(path)) return undefined;
  const setting = unitSetting(files, 'ProtectHome');
  if (setting === undefined || !['yes', 'true', 'on', '1', 'tmpfs'].includes(setting.value.toLowerCase())) return undefined;
  const where = setting.file === SHIPPED_UNIT ? `the shipped systemd unit (systemd/${basename(setting.file)})` : `the systemd unit (${setting.file})`;
  return (
    `${path} is under ${PROTECTED_HOMES.find((home) => path.startsWith(home))}, which ${where} hides from the service with ProtectHome=${setting.value}: ` +
    `add ProtectHome=read-only in a drop-in (systemctl edit rtorrent-gateway), or move the socket to /run/rtorrent (README, "Socket permissions")`
  );
}
