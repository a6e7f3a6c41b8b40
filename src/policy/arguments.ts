import path from 'node:path';
import { RAW_LOAD_METHODS } from './evaluators.js';
import { KEYED_CUSTOM_COMMANDS, ownerTagRefusal } from './owner-tag.js';

/**
 * Rules for arguments whose value matters, not just the command name: where data may be written,
 * what a load may read, which file a download is tied to, and how large rtorrent's XML limit may grow.
 */

/**
 * "" (generic), an info-hash, or an info-hash routed to a file, tracker or peer
 * (src/rpc/rpc_manager.cc:31-110). rtorrent itself reads only the first 40 characters and ignores the
 * rest (src/core/download_list.cc:84-94); trailing junk is refused here so that what is logged is what
 * runs.
 */
const TARGET = /^(?:[0-9A-Fa-f]{40}(?::(?:[ft][0-9]{1,6}|p[0-9A-Fa-f]{40}))?)?$/;

export function isValidTarget(target: string): boolean {
  return TARGET.test(target);
}

export const LOAD_SOURCES = ['magnet', 'http', 'https', 'ftp', 'data', 'raw', 'file'] as const;
export type LoadSource = (typeof LOAD_SOURCES)[number];

/** What a policy may load when it does not say: no local files, no ftp. */
export const DEFAULT_LOAD_SOURCES: readonly LoadSource[] = ['magnet', 'http', 'https', 'data', 'raw'];

/** xmlrpc-c's default request limit (XMLRPC_XML_SIZE_LIMIT_DEFAULT); lowering it breaks every client. */
export const MIN_XMLRPC_SIZE_LIMIT = 512 * 1024;
/** rtorrent's own setter refuses 64 MiB and above (xmlrpc_c.cc:531-536); ruTorrent asks for exactly this. */
export const MAX_XMLRPC_SIZE_LIMIT = 64 * 1024 * 1024 - 1;
/** rtorrent closes SCGI bodies over 16 MiB (src/rpc/scgi_task.h:19); the default body limit. */
export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

/** Commands that have a rule here; their arguments must be literal to be checked. */
export const ARGUMENT_RULE_COMMANDS: ReadonlySet<string> = new Set([
  'd.directory.set',
  'd.directory_base.set',
  'd.tied_to_file.set',
  'network.xmlrpc.size_limit.set',
]);

export interface ArgumentLimits {
  readonly policy: string;
  /** normalised absolute directories without a trailing slash; empty = none configured */
  readonly downloadRoots: readonly string[];
  readonly loadSources: ReadonlySet<LoadSource>;
  /** scope = "own": the owner tag is out of reach (owner-tag.ts). */
  readonly scoped: boolean;
}

/** Normalises a configured root; returns null if it is not a usable root. */
export function normaliseRoot(root: string): string | null {
  if (!root.startsWith('/') || hasDotDot(root) || hasControl(root)) return null;
  const normalised = path.posix.normalize(root).replace(/\/+$/, '');
  return normalised === '' ? null : normalised;
}

function hasDotDot(p: string): boolean {
  return p.split('/').includes('..');
}

function hasControl(p: string): boolean {
  return /[\u0000-\u001f\u007f]/.test(p);
}

/**
 * Checks a path against the policy's download roots. Lexical only: the gateway does not touch the
 * filesystem on the request path, so roots must not contain symlinks that users could point elsewhere.
 */
function checkConfinedPath(what: string, value: string, limits: ArgumentLimits): string | null {
  if (limits.downloadRoots.length === 0) {
    return `${what} is refused because policy "${limits.policy}" has no download_roots; define a policy with download_roots to let users choose where data goes`;
  }
  if (!value.startsWith('/')) return `${what} needs an absolute path, not "${value}"`;
  if (hasDotDot(value)) return `${what} path "${value}" contains a ".." segment`;
  if (hasControl(value)) return `${what} path contains a control character`;
  const normalised = path.posix.normalize(value).replace(/\/+$/, '') || '/';
  for (const root of limits.downloadRoots) {
    if (normalised === root || normalised.startsWith(`${root}/`)) return null;
  }
  return `${what} path "${value}" is outside the download roots of policy "${limits.policy}" (${limits.downloadRoots.join(', ')})`;
}

/** Checks the literal arguments (after the target) of a command listed in ARGUMENT_RULE_COMMANDS. */
export function checkRuleArguments(name: string, args: readonly (string | number)[], limits: ArgumentLimits): string | null {
  if (limits.scoped && KEYED_CUSTOM_COMMANDS.has(name)) return ownerTagRefusal(name, args.map(String));
  switch (name) {
    case 'd.directory.set':
    case 'd.directory_base.set': {
      // Data lands where the directory points and the torrent chooses the file names, e.g. a torrent
      // holding authorized_keys into ~/.ssh (rtorrent issue #859; src/command_download.cc:145-153).
      const [dir] = args;
      if (args.length !== 1 || typeof dir !== 'string') return `${name} takes exactly one path`;
      return checkConfinedPath(name, dir, limits);
    }
    case 'd.tied_to_file.set': {
      // erase runs d.delete_tied on the tied path (src/command_download.cc:131-143, src/main.cc:229),
      // so any value other than "" is an unlink of the user's choosing.
      if (args.length !== 1 || args[0] !== '') return `${name} only accepts "" (untie); a path would let d.erase delete that file`;
      return null;
    }
    case 'network.xmlrpc.size_limit.set': {
      const [raw] = args;
      const value = args.length === 1 && raw !== undefined ? sizeValue(raw) : null;
      if (value === null) return `${name} takes one size in bytes`;
      // Values above the gateway's body limit are accepted and clamped to it before forwarding
      // (clamp.ts): ruTorrent's start-up multicall asks for 64 MiB - 1, and no body larger than
      // the gateway's limit ever reaches rtorrent anyway.
      if (value < MIN_XMLRPC_SIZE_LIMIT || value > MAX_XMLRPC_SIZE_LIMIT) {
        return `${name} accepts ${MIN_XMLRPC_SIZE_LIMIT} to ${MAX_XMLRPC_SIZE_LIMIT} bytes, not ${value}`;
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * What checkRuleArguments lets through for `name` under a policy's download roots, in words, for
 * explaining a policy; null for commands without a rule. Keep in step with checkRuleArguments.
 */
export function describeRuleArguments(name: string, downloadRoots: readonly string[]): string | null {
  switch (name) {
    case 'd.directory.set':
    case 'd.directory_base.set':
      return downloadRoots.length === 0
        ? 'refused: the policy has no download_roots'
        : `one absolute path inside download_roots (${downloadRoots.join(', ')}), without ".." segments`;
    case 'd.tied_to_file.set':
      return 'only "" (untie)';
    case 'network.xmlrpc.size_limit.set':
      return `${MIN_XMLRPC_SIZE_LIMIT} to ${MAX_XMLRPC_SIZE_LIMIT} bytes, lowered to the gateway's body limit before it is sent`;
    default:
      return null;
  }
}

/** What checkLoadSource lets a load.* source be, in words, for explaining a policy. Keep in step with it. */
export function describeLoadSources(sources: ReadonlySet<LoadSource>, downloadRoots: readonly string[]): string {
  const kinds = [...sources].map((kind) => (kind === 'file' ? `local files inside download_roots (${downloadRoots.join(', ')})` : kind));
  return kinds.length === 0 ? 'nothing' : kinds.join(', ');
}

/** rtorrent reads sizes with strtoll base 0 and a k/m/g suffix (parse.cc parse_value_nothrow). */
export function sizeValue(raw: string | number): number | null {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : null;
  const match = /^([1-9][0-9]{0,12})([kKmMgG]?)$/.exec(raw);
  if (match === null) return null;
  const shift = { '': 0, k: 10, m: 20, g: 30 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * 2 ** shift;
}

const DATA_URI = /^data:[A-Za-z0-9.+/-]*;base64,[A-Za-z0-9+/=\r\n]*$/;
const GLOB_OR_TILDE = /[*?[\]{}~\\]/;

/**
 * Classifies and checks the first argument of load.*. The prefixes are rtorrent's own, case-sensitive
 * strncmp tests (src/core/download_factory.cc:31-62, src/core/manager.cc:171-184); anything else is a
 * local path, which rtorrent glob-expands and ties to the download so that erasing deletes it
 * (src/core/manager.cc:187-213,364-381).
 */
export function checkLoadSource(method: string, source: string, limits: ArgumentLimits): string | null {
  let kind: LoadSource;
  if (RAW_LOAD_METHODS.has(method)) kind = 'raw';
  else if (source.startsWith('magnet:?')) kind = 'magnet';
  else if (source.startsWith('http://')) kind = 'http';
  else if (source.startsWith('https://')) kind = 'https';
  else if (source.startsWith('ftp://')) kind = 'ftp';
  else if (source.startsWith('data:')) {
    // 0.9.8 has no data: URIs and would treat the text as a relative path; only the exact base64
    // shape is taken, which holds no glob characters either way.
    if (!DATA_URI.test(source)) return `${method} data: source must be data:<type>;base64,<torrent>`;
    kind = 'data';
  } else kind = 'file';

  if (!limits.loadSources.has(kind)) {
    const allowed = [...limits.loadSources].join(', ');
    const what = kind === 'file' ? 'a local file' : `source type "${kind}"`;
    return `${method} from ${what} is not allowed in policy "${limits.policy}" (allowed: ${allowed}); see load_sources`;
  }
  if (kind === 'file') {
    if (GLOB_OR_TILDE.test(source)) return `${method} local path "${source}" contains glob, tilde or escape characters`;
    return checkConfinedPath(`${method} local path`, source, limits);
  }
  return null;
}
