/**
 * Which rtorrent releases would accept a call with UNTRUSTED_CONNECTION=1. rtorrent ≥ 0.16.9 then
 * checks every command the call reaches, nested ones included, against its own safe list, a second
 * wall behind the policy; but the list grew from release to release, so a call is sent untrusted
 * only to a release whose list holds all of it (untrusted-safe.data.ts). Older releases ignore the
 * header, and are not sent it.
 */
import { XMLRPC_BUILTINS } from './command-names.js';
import { type SafeWindow, UNTRUSTED_SAFE_SINCE } from './untrusted-safe.data.js';
import { compareVersions, parseVersion } from '../rtorrent-version.js';

export type { SafeWindow } from './untrusted-safe.data.js';

/** UNTRUSTED_CONNECTION first appeared in rtorrent 0.16.9. */
const FIRST_UNTRUSTED_RELEASE = '0.16.9';

/**
 * The releases whose safe list holds every reached name, or undefined. xmlrpc-c's own system.*
 * methods never pass through rtorrent's command map, so its untrusted check does not apply to them.
 */
export function untrustedWindow(reached: ReadonlySet<string>): SafeWindow | undefined {
  if (reached.size === 0) return undefined;
  let window: SafeWindow | undefined = { from: FIRST_UNTRUSTED_RELEASE };
  for (const name of reached) {
    if (XMLRPC_BUILTINS.has(name)) continue;
    window = intersectWindows(window, UNTRUSTED_SAFE_SINCE.get(name));
    if (window === undefined) return undefined;
  }
  return window;
}

/** The releases in both windows (a JSON-RPC batch goes to rtorrent as one request). */
export function intersectWindows(a: SafeWindow | undefined, b: SafeWindow | undefined): SafeWindow | undefined {
  if (a === undefined || b === undefined) return undefined;
  const from = compareVersions(a.from, b.from) >= 0 ? a.from : b.from;
  const to = a.to === undefined ? b.to : b.to === undefined || compareVersions(a.to, b.to) <= 0 ? a.to : b.to;
  if (to === undefined) return { from };
  return compareVersions(from, to) <= 0 ? { from, to } : undefined;
}

/** Whether `version` (system.client_version) takes a call with this window untrusted. */
export function acceptsUntrusted(window: SafeWindow | undefined, version: string | undefined): boolean {
  if (window === undefined || version === undefined || parseVersion(version) === undefined) return false;
  return compareVersions(version, window.from) >= 0 && (window.to === undefined || compareVersions(version, window.to) <= 0);
}
