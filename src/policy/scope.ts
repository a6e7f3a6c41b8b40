import type { MethodCall, XmlRpcValue } from '../xmlrpc/types.js';
import { xmlrpcCArguments } from './check.js';
import { takesTarget } from './command-names.js';
import { LOAD_METHODS } from './evaluators.js';
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
   * rows of d.hash=, as the call itself or as members of its system.multicall: those answers are
   * turned back (answer-reshape.ts).
   */
  readonly answer?: CallReshape;
}

/** What a counted list's answer is turned back into (answer-reshape.ts): the hashes, or their number. */
export type AnswerShape = 'hashes' | 'count';

/** What of one call's answer is turned back: its whole value, or members of its system.multicall by position. */
export type CallReshape = { readonly whole: AnswerShape } | { readonly members: ReadonlyMap<number, AnswerShape> };

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

/** What a scoped user is refused where it stands (top level, system.multicall, JSON batch), and why. */
const UNSCOPED: ReadonlyMap<string, string> = new Map([
  [
    'view.size_not_visible',
    `${EVERY_TORRENT}: rtorrent has no way to walk the torrents a view hides, so it cannot be narrowed; count the rows of d.multicall2 on "main" and on the view instead`,
  ],
  ['d.custom.keys', 'would show the owner tag; read the keys you set by name with d.custom'],
  ['d.custom.items', 'would show the owner tag; read the keys you set by name with d.custom'],
]);

/** The lists narrowed by rewriting: d.multicall is 0.16's name for d.multicall2, with the same arguments. */
const NARROWED_LISTS: ReadonlySet<string> = new Set(['d.multicall2', 'd.multicall']);

/** Lists answered with hashes or a count, sent as rows of d.hash= and turned back (answer-reshape.ts). */
const COUNTED_LISTS: ReadonlyMap<string, AnswerShape> = new Map([
  ['download_list', 'hashes'],
  ['view.size', 'count'],
]);

/**
 * Commands a scoped user may not reach from a command string: each walks or counts every torrent, or
 * lists the owner tag, and the gateway narrows only the calls it sees.
 */
export const SCOPED_NESTED_REFUSED: ReadonlySet<string> = new Set([...UNSCOPED.keys(), ...NARROWED_LISTS, ...COUNTED_LISTS.keys(), FILTERED]);

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
function mapMembers(call: MethodCall, map: (member: MethodCall, position: number) => MethodCall): MethodCall {
  const items = call.params[0]?.kind === 'array' ? call.params[0].items : [];
  let changed = false;
  const mapped = items.map((item, position) => {
    const name = item.kind === 'struct' ? item.members.get('methodName') : undefined;
    const params = item.kind === 'struct' ? item.members.get('params') : undefined;
    if (name?.kind !== 'string' || params?.kind !== 'array') return item;
    const member = { methodName: name.value, params: params.items };
    const result = map(member, position);
    if (result === member) return item;
    changed = true;
    return multicallMember(result);
  });
  return changed ? { methodName: MULTICALL, params: [{ kind: 'array', items: mapped }] } : call;
}

const DIRECTORY_SETTERS = ['d.directory.set=', 'd.directory_base.set='];

export function scopeCall(call: MethodCall, owner: ScopeOwner): ScopedCall | ScopeRefusal {
  const targets = new Set<string>();
  if (call.methodName !== MULTICALL) {
    const scoped = scopeOne(call, owner, targets);
    if ('reason' in scoped) return scoped;
    return { call: scoped.call, targets, ...(scoped.shape === undefined ? {} : { answer: { whole: scoped.shape } }) };
  }
  let refusal: ScopeRefusal | undefined;
  const shapes = new Map<number, AnswerShape>();
  const scoped = mapMembers(call, (member, position) => {
    if (refusal !== undefined) return member;
    const one = scopeOne(member, owner, targets);
    if ('reason' in one) {
      refusal = { method: one.method, reason: `system.multicall call ${position + 1} (${member.methodName}): ${one.reason}` };
      return member;
    }
    if (one.shape !== undefined) shapes.set(position, one.shape);
    return one.call;
  });
  return refusal ?? { call: scoped, targets, ...(shapes.size === 0 ? {} : { answer: { members: shapes } }) };
}

function scopeOne(call: MethodCall, owner: ScopeOwner, targets: Set<string>): { call: MethodCall; shape?: AnswerShape } | ScopeRefusal {
  const name = call.methodName;
  const why = UNSCOPED.get(name);
  if (why !== undefined) return { method: name, reason: `${name} ${why}` };
  const shape = COUNTED_LISTS.get(name);
  if (shape !== undefined) {
    const rows = ownHashRows(call, owner);
    return 'reason' in rows ? rows : { call: rows, shape };
  }
  if (NARROWED_LISTS.has(name)) return wrap(ownList(call, owner));
  if (name === FILTERED) return wrap(ownFiltered(call, owner));
  if (LOAD_METHODS.has(name)) return { call: ownLoad(call, owner) };
  const hash = targetHash(call);
  if (hash !== undefined) targets.add(hash);
  return { call };
}

function wrap(scoped: MethodCall | ScopeRefusal): { call: MethodCall } | ScopeRefusal {
  return 'reason' in scoped ? scoped : { call: scoped };
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
 * The user's own d.multicall.filtered(target, view, filter, rows…): their filter and the owner filter,
 * both to hold. rtorrent evaluates a filter with parse_command_single, and `and` evaluates each string
 * of its list the same way, so the user's filter goes there as one quoted string, read back character
 * for character. One thing alone would read differently inside the list: a string starting with "$"
 * is run once, when the list is parsed. A leading space stops that and changes nothing else, since
 * rtorrent skips it before reading a command.
 */
function ownFiltered(call: MethodCall, owner: ScopeOwner): MethodCall | ScopeRefusal {
  const [target, view, filter, ...rows] = call.params;
  if (filter?.kind !== 'string' || ![target, view, ...rows].every((param) => param === undefined || param.kind === 'string')) {
    return { method: FILTERED, reason: `${FILTERED} takes a view, a filter and commands as plain strings from a user whose policy lists only their own torrents` };
  }
  const quoted = ` ${filter.value}`.replace(/[\\"]/g, (character) => `\\${character}`);
  return {
    methodName: FILTERED,
    params: [target ?? text(''), view ?? text(''), text(`and={"${ownTorrentsFilter(owner.user)}","${quoted}"}`), ...rows],
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
