/**
 * Where a scoped user's ownership of a torrent is kept: one d.custom key on the torrent, written by
 * the gateway when the user adds it. Scoped users can neither read nor write this key, so a tenant
 * cannot claim, disown or discover whose a torrent is; an admin (policy full) reassigns a torrent
 * with d.custom.set(hash, "gateway.owner", user).
 */
export const OWNER_KEY = 'gateway.owner';

/** d.custom commands whose first argument is the key they read or write. */
export const KEYED_CUSTOM_COMMANDS: ReadonlySet<string> = new Set(['d.custom', 'd.custom.set', 'd.custom_throw', 'd.custom.if_z']);

/**
 * Names a scoped user owns torrents under. They end up inside command strings (the list filter and
 * the tag written on load) and in paths ({user} in download_roots), so only characters that mean
 * nothing to either are taken.
 */
export const SCOPED_USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Why a key argument is refused for a scoped user, or null. */
export function ownerTagRefusal(name: string, args: readonly string[]): string | null {
  if (!KEYED_CUSTOM_COMMANDS.has(name)) return null;
  const [key] = args;
  if (key === undefined) return `${name} needs a key`;
  return key === OWNER_KEY ? `${name} "${OWNER_KEY}" is the owner tag, which only the gateway and admins read and write` : null;
}

/**
 * The command-string filter that keeps a user's own torrents: rtorrent evaluates it for every torrent
 * of the view (d.multicall.filtered), comparing the tag with the user's name.
 */
export function ownTorrentsFilter(user: string): string {
  return `equal={d.custom=${OWNER_KEY},cat=${user}}`;
}

/** The load trailing command that tags a new torrent with its owner. */
export function ownerTagCommand(user: string): string {
  return `d.custom.set=${OWNER_KEY},${user}`;
}

/**
 * What a target that is not the caller's becomes: a hash no torrent has, so rtorrent itself answers
 * exactly as it does for any unknown hash, in every release, in system.multicall and JSON batches alike.
 */
export const NO_SUCH_TORRENT = '0000000000000000000000000000000000000000';
