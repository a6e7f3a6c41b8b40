import type { MethodCall, XmlRpcValue } from '../xmlrpc/types.js';
import { xmlrpcCArguments } from './check.js';
import { takesTarget } from './command-names.js';
import { LOAD_METHODS } from './evaluators.js';
import type { AnswerShape } from '../answer-reshape.js';
import { NO_SUCH_TORRENT, ownerTagCommand, ownTorrentsFilter } from './owner-tag.js';

/**
 * A scoped user's call (scope = "own") as it is sent to rtorrent: lists narrowed to the user's own
 * torrents, new torrents tagged with their owner, and the info-hashes it targets collected so that
 * the ones the user does not own can be swapped for a hash no torrent has before sending
 * (call-decision.ts, upstream/owners.ts). The call was allowed by the policy first; this only
 * narrows it.
 */
export interface ScopedCall {
  /** The call itself when nothing had to change; a new one when commands were added (list filter, owner tag). */
  readonly call: MethodCall;
  /** Upper-case info-hashes the call targets directly (top level, system.multicall members). */
  readonly targets: ReadonlySet<string>;
  /**
   * Set when a list the client asked for as hashes or a count (download_list, view.size) was sent as
   * rows of d.hash=: the answer must be turned back (answer-reshape.ts).
   */
  readonly answer?: AnswerShape;
}

export interface ScopeOwner {
  readonly user: string;
  /** Where a load goes when it names no directory: the user's first download root, if any. */
  readonly directory: string | undefined;
}

export interface ScopeRefusal {
  readonly method: string;
  readonly reason: string;
}

const MULTICALL = 'system.multicall';
const FILTERED = 'd.multicall.filtered';

const EVERY_TORRENT = "covers every user's torrents";

/**
 * What a scoped user is refused where it stands (top level, system.multicall, JSON batch), with the
 * way to get the same answer for their own torrents. download_list and view.size as a call of their
 * own are narrowed instead (COUNTED_LISTS).
 */
const UNSCOPED: ReadonlyMap<string, string> = new Map([
  [FILTERED, `${EVERY_TORRENT}; use d.multicall2, which lists only your own torrents`],
  ['download_list', `${EVERY_TORRENT}; here use d.multicall2 with d.hash= (download_list is narrowed only as a call of its own)`],
  ['view.size', `${EVERY_TORRENT}; here count the rows of d.multicall2 (view.size is narrowed only as a call of its own)`],
  ['view.size_not_visible', `${EVERY_TORRENT}; count the rows of d.multicall2, which lists only your own torrents`],
  ['d.custom.keys', 'would show the owner tag; read the keys you set by name with d.custom'],
  ['d.custom.items', 'would show the owner tag; read the keys you set by name with d.custom'],
]);

/** Commands a scoped user may not reach from a command string: each walks or counts every torrent, or lists the tag. */
export const SCOPED_NESTED_REFUSED: ReadonlySet<string> = new Set([...UNSCOPED.keys(), 'd.multicall2', 'd.multicall']);

/** The lists narrowed by rewriting: d.multicall is 0.16's name for d.multicall2, with the same arguments. */
const NARROWED_LISTS: ReadonlySet<string> = new Set(['d.multicall2', 'd.multicall']);

const HASH_PREFIX = /^[0-9A-Fa-f]{40}/;
const text = (value: string): XmlRpcValue => ({ kind: 'string', value });

/** The info-hash a call targets, upper-cased without its :f/:t/:p suffix, if it targets one. */
function targetHash(call: MethodCall): string | undefined {
  const target = call.params[0];
  if (!takesTarget(call.methodName) || target?.kind !== 'string' || !HASH_PREFIX.test(target.value)) return undefined;
  return target.value.slice(0, 40).toUpperCase();
}

/**
 * A system.multicall with each member call mapped by `map`, or the call itself when no member
 * changed. Members were checked by the policy, so each is a {methodName, params} struct.
 */
function mapMembers(call: MethodCall, map: (member: MethodCall) => MethodCall): MethodCall {
  const items = call.params[0]?.kind === 'array' ? call.params[0].items : [];
  let changed = false;
  const mapped = items.map((item) => {
    const name = item.kind === 'struct' ? item.members.get('methodName') : undefined;
    const params = item.kind === 'struct' ? item.members.get('params') : undefined;
    if (name?.kind !== 'string' || params?.kind !== 'array') return item;
    const member = { methodName: name.value, params: params.items };
    const result = map(member);
    if (result === member) return item;
    changed = true;
    return multicallMember(result);
  });
  return changed ? { methodName: MULTICALL, params: [{ kind: 'array', items: mapped }] } : call;
}
const DIRECTORY_SETTERS = ['d.directory.set=', 'd.directory_base.set='];

/** Lists answered with hashes or a count, narrowed when sent as a call of their own. */
const COUNTED_LISTS: ReadonlyMap<string, AnswerShape> = new Map([
  ['download_list', 'hashes'],
  ['view.size', 'count'],
]);

export function scopeCall(call: MethodCall, owner: ScopeOwner): ScopedCall | ScopeRefusal {
  const targets = new Set<string>();
  const shape = COUNTED_LISTS.get(call.methodName);
  if (shape !== undefined) {
    const rows = ownHashRows(call, owner);
    return 'reason' in rows ? rows : { call: rows, targets, answer: shape };
  }
  if (call.methodName !== MULTICALL) {
    const scoped = scopeOne(call, owner, targets);
    return 'reason' in scoped ? scoped : { call: scoped, targets };
  }
  let refusal: ScopeRefusal | undefined;
  let index = 0;
  const scoped = mapMembers(call, (member) => {
    index++;
    if (refusal !== undefined) return member;
    const one = scopeOne(member, owner, targets);
    if (!('reason' in one)) return one;
    refusal = { method: one.method, reason: `system.multicall call ${index} (${member.methodName}): ${one.reason}` };
    return member;
  });
  return refusal ?? { call: scoped, targets };
}

function scopeOne(call: MethodCall, owner: ScopeOwner, targets: Set<string>): MethodCall | ScopeRefusal {
  const name = call.methodName;
  const why = UNSCOPED.get(name);
  if (why !== undefined) return { method: name, reason: `${name} ${why}` };
  if (NARROWED_LISTS.has(name)) return ownList(call, owner);
  if (LOAD_METHODS.has(name)) return ownLoad(call, owner);
  const hash = targetHash(call);
  if (hash !== undefined) targets.add(hash);
  return call;
}

/**
 * d.multicall2 or d.multicall(target, view, rows…) → d.multicall.filtered(target, view, filter,
 * rows…): the same rows, for the torrents tagged with the user's name. Present since 0.9.8; the
 * target is ignored by all three.
 */
function ownList(call: MethodCall, owner: ScopeOwner): MethodCall | ScopeRefusal {
  const [target, view, ...rows] = call.params;
  // xmlrpc-c would reshape arrays here; only the plain shape every client sends is rewritten.
  if (![target, view, ...rows].every((param) => param === undefined || param.kind === 'string')) {
    return { method: call.methodName, reason: `${call.methodName} takes plain string arguments from a user whose policy lists only their own torrents` };
  }
  return {
    methodName: FILTERED,
    params: [target ?? text(''), view ?? text(''), text(ownTorrentsFilter(owner.user)), ...rows],
  };
}

/**
 * download_list(target, view) and view.size(target, view) as d.multicall.filtered(target, view,
 * filter, "d.hash="): the user's own torrents of the view, one row each.
 */
function ownHashRows(call: MethodCall, owner: ScopeOwner): MethodCall | ScopeRefusal {
  const { methodName: name, params } = call;
  if (params.length > 2 || !params.every((param) => param.kind === 'string')) {
    return { method: name, reason: `${name} takes a target and a view name ("", "main") from a user whose policy lists only their own torrents` };
  }
  const [target, view] = params;
  return { methodName: FILTERED, params: [target ?? text(''), view ?? text(''), text(ownTorrentsFilter(owner.user)), text('d.hash=')] };
}

/**
 * A load sent in the flat shape every release reads alike (source, then one command per parameter),
 * followed by the owner tag and, when the user named no directory, their own download root.
 */
function ownLoad(call: MethodCall, owner: ScopeOwner): MethodCall {
  const [target, ...rest] = call.params;
  const args = xmlrpcCArguments(rest);
  const trailing = args.slice(1).map((arg) => (arg.kind === 'string' ? arg.value : arg.kind === 'base64' ? arg.value.toString('latin1') : ''));
  const extra: XmlRpcValue[] = [];
  if (owner.directory !== undefined && !trailing.some((command) => DIRECTORY_SETTERS.some((setter) => command.startsWith(setter)))) {
    extra.push(text(`d.directory.set=${owner.directory}`));
  }
  extra.push(text(ownerTagCommand(owner.user)));
  return { methodName: call.methodName, params: [target ?? text(''), ...args, ...extra] };
}

function multicallMember(call: MethodCall): XmlRpcValue {
  return {
    kind: 'struct',
    members: new Map<string, XmlRpcValue>([
      ['methodName', { kind: 'string', value: call.methodName }],
      ['params', { kind: 'array', items: call.params }],
    ]),
  };
}

/** The call with every target in `notOwned` replaced by a hash no torrent has (keeping a :f/:t/:p suffix). */
export function confineTargets(call: MethodCall, notOwned: ReadonlySet<string>): MethodCall {
  const swap = (one: MethodCall): MethodCall => {
    const hash = targetHash(one);
    if (hash === undefined || !notOwned.has(hash)) return one;
    const [target, ...rest] = one.params as [Extract<XmlRpcValue, { kind: 'string' }>, ...XmlRpcValue[]];
    return { methodName: one.methodName, params: [text(NO_SUCH_TORRENT + target.value.slice(40)), ...rest] };
  };
  return call.methodName === MULTICALL ? mapMembers(call, swap) : swap(call);
}
