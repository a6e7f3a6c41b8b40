import type { MethodCall, XmlRpcValue } from '../xmlrpc/types.js';
import { xmlrpcCArguments } from './check.js';
import { NO_TARGET_IN_0_9_8, XMLRPC_BUILTINS } from './command-names.js';
import { LOAD_METHODS } from './evaluators.js';
import type { AnswerShape } from '../answer-reshape.js';
import { ownerTagCommand, ownTorrentsFilter } from './owner-tag.js';

/**
 * A scoped user's call (scope = "own") as it is sent to rtorrent: lists narrowed to the user's own
 * torrents, new torrents tagged with their owner, and the info-hashes it targets collected so that
 * the ones the user does not own can be swapped for a hash no torrent has before sending
 * (call-decision.ts, upstream/owners.ts). The call was allowed by the policy first; this only
 * narrows it.
 */
export interface ScopedCall {
  readonly call: MethodCall;
  /** Upper-case info-hashes the call targets directly (top level, system.multicall members). */
  readonly targets: ReadonlySet<string>;
  /**
   * Commands were added (a list filter, the owner tag): what rtorrent's untrusted mode would make
   * of them was not weighed, so such a call is sent trusted, as checked.
   */
  readonly rewritten: boolean;
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

/**
 * Lists of every torrent that cannot be narrowed by rewriting the call. Refused with the way to get
 * the same answer for one's own torrents.
 */
const UNSCOPED_LISTS: ReadonlyMap<string, string> = new Map([
  [FILTERED, 'use d.multicall2, which lists only your own torrents'],
  ['download_list', 'use d.multicall2 with d.hash=, which lists only your own torrents (download_list is narrowed only as a call of its own)'],
  ['view.size', 'count the rows of d.multicall2, which lists only your own torrents (view.size is narrowed only as a call of its own)'],
  ['view.size_not_visible', 'count the rows of d.multicall2, which lists only your own torrents'],
  ['d.custom.keys', 'read the keys you set by name with d.custom'],
  ['d.custom.items', 'read the keys you set by name with d.custom'],
]);

/** Commands a scoped user may not reach from a command string: each walks or counts every torrent, or lists the tag. */
export const SCOPED_NESTED_REFUSED: ReadonlySet<string> = new Set([...UNSCOPED_LISTS.keys(), 'd.multicall2', 'd.multicall']);

/** The lists narrowed by rewriting: d.multicall is 0.16's name for d.multicall2, with the same arguments. */
const NARROWED_LISTS: ReadonlySet<string> = new Set(['d.multicall2', 'd.multicall']);

const HASH_PREFIX = /^[0-9A-Fa-f]{40}/;
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
    return 'reason' in rows ? rows : { call: rows, targets, rewritten: true, answer: shape };
  }
  if (call.methodName !== MULTICALL) {
    const scoped = scopeOne(call, owner, targets);
    return 'reason' in scoped ? scoped : { call: scoped, targets, rewritten: scoped !== call };
  }
  // The policy has already refused every other shape of system.multicall.
  const members = call.params[0]?.kind === 'array' ? call.params[0].items : [];
  const rewritten: XmlRpcValue[] = [];
  let changed = false;
  for (const [index, member] of members.entries()) {
    if (member.kind !== 'struct') return { method: MULTICALL, reason: `system.multicall call ${index + 1} is not a struct` };
    const name = member.members.get('methodName');
    const params = member.members.get('params');
    if (name?.kind !== 'string' || params?.kind !== 'array') return { method: MULTICALL, reason: `system.multicall call ${index + 1} is malformed` };
    const original = { methodName: name.value, params: params.items };
    const scoped = scopeOne(original, owner, targets);
    if ('reason' in scoped) return { method: scoped.method, reason: `system.multicall call ${index + 1} (${name.value}): ${scoped.reason}` };
    changed ||= scoped !== original;
    rewritten.push(scoped === original ? member : multicallMember(scoped));
  }
  if (!changed) return { call, targets, rewritten: false };
  return { call: { methodName: MULTICALL, params: [{ kind: 'array', items: rewritten }] }, targets, rewritten: true };
}

function scopeOne(call: MethodCall, owner: ScopeOwner, targets: Set<string>): MethodCall | ScopeRefusal {
  const { methodName: name, params } = call;
  const instead = UNSCOPED_LISTS.get(name);
  if (instead !== undefined) return { method: name, reason: `${name} covers every user's torrents; ${instead}` };
  if (NARROWED_LISTS.has(name)) return ownList(call, owner);
  if (LOAD_METHODS.has(name)) return ownLoad(call, owner);
  const target = params[0];
  const hasTarget = !XMLRPC_BUILTINS.has(name) && !NO_TARGET_IN_0_9_8.has(name);
  if (hasTarget && target?.kind === 'string' && HASH_PREFIX.test(target.value)) targets.add(target.value.slice(0, 40).toUpperCase());
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
  const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
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
  const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
  return { methodName: FILTERED, params: [target ?? text(''), view ?? text(''), text(ownTorrentsFilter(owner.user)), text('d.hash=')] };
}

/**
 * A load sent in the flat shape every release reads alike (source, then one command per parameter),
 * followed by the owner tag and, when the user named no directory, their own download root.
 */
function ownLoad(call: MethodCall, owner: ScopeOwner): MethodCall {
  const [target, ...rest] = call.params;
  const args = xmlrpcCArguments(rest);
  const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
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
export function confineTargets(call: MethodCall, notOwned: ReadonlySet<string>, noSuchTorrent: string): MethodCall {
  const swap = (one: MethodCall): MethodCall => {
    const [target, ...rest] = one.params;
    if (target?.kind !== 'string' || !HASH_PREFIX.test(target.value) || !notOwned.has(target.value.slice(0, 40).toUpperCase())) return one;
    if (XMLRPC_BUILTINS.has(one.methodName) || NO_TARGET_IN_0_9_8.has(one.methodName)) return one;
    return { methodName: one.methodName, params: [{ kind: 'string', value: noSuchTorrent + target.value.slice(40) }, ...rest] };
  };
  if (call.methodName !== MULTICALL) return swap(call);
  const members = call.params[0]?.kind === 'array' ? call.params[0].items : [];
  return {
    methodName: MULTICALL,
    params: [
      {
        kind: 'array',
        items: members.map((member) => {
          if (member.kind !== 'struct') return member;
          const name = member.members.get('methodName');
          const params = member.members.get('params');
          if (name?.kind !== 'string' || params?.kind !== 'array') return member;
          return multicallMember(swap({ methodName: name.value, params: params.items }));
        }),
      },
    ],
  };
}
