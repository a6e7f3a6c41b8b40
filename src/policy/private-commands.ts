/**
 * Private rtorrent commands called directly. XML-RPC answers "not defined" for them, but JSON-RPC on
 * 0.16.20 and older runs them (private-commands.data.ts): system.shutdown and scgi_local, say, are
 * reachable there even for a policy that denies system.shutdown.normal and network.scgi.open_local.
 * Only `full` passes them on; every other policy refuses them over both protocols, so a JSON-RPC
 * call and its XML-RPC twin always get the same verdict. Command strings may still name them, as
 * rtorrent's own configuration does; the policy's rules for nested commands decide those.
 */
import { PRIVATE_IN_0_16_20 } from './private-commands.data.js';

export const PRIVATE_COMMANDS: ReadonlySet<string> = new Set(PRIVATE_IN_0_16_20);

export function isPrivateCommand(name: string): boolean {
  return PRIVATE_COMMANDS.has(name);
}

/** Why a direct call of `name` is refused, or null when rtorrent exports it. */
export function privateCommandReason(name: string): string | null {
  if (!PRIVATE_COMMANDS.has(name)) return null;
  return (
    `${name} is private in rtorrent: XML-RPC does not define it, but JSON-RPC on 0.16.20 and older runs it anyway, ` +
    'so only the full policy may call it directly'
  );
}
