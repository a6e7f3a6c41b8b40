/**
 * JSON-RPC requests get the same verdicts as their XML-RPC twins: each call below is written as an
 * XML-RPC body and as a JSON-RPC body, both are parsed by their own reader, and the same policy
 * must allow both or refuse both, for the same offending method.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeJsonRpcRequest } from '../../src/jsonrpc/encode.js';
import { parseJsonRpcRequest, refusedCharacter } from '../../src/jsonrpc/parse.js';
import { BUILTIN_POLICY_NAMES, compilePolicies, type CompiledPolicy, type PolicyVerdict } from '../../src/policy/index.js';
import { encodeMethodCall } from '../../src/xmlrpc/encode.js';
import { parseMethodCall } from '../../src/xmlrpc/parse.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';
import { fuzzParameters } from '../fuzz/fuzz-runs.js';

type Param = string | number | Param[] | { struct: Array<[string, Param]> };

const policies = compilePolicies({});
const standard = policies.get('standard') as CompiledPolicy;

/** XML-RPC text written by hand (not by the gateway's encoder), ints as <i4> as clients send them. */
function xmlValue(param: Param): string {
  if (typeof param === 'string') {
    const text = param.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\r/g, '&#13;');
    return `<value><string>${text}</string></value>`;
  }
  if (typeof param === 'number') return `<value><i4>${param}</i4></value>`;
  if (Array.isArray(param)) return `<value><array><data>${param.map(xmlValue).join('')}</data></array></value>`;
  const members = param.struct.map(([name, member]) => `<member><name>${name}</name>${xmlValue(member)}</member>`);
  return `<value><struct>${members.join('')}</struct></value>`;
}

function xmlBody(method: string, params: Param[] = []): Buffer {
  const inner = params.map((param) => `<param>${xmlValue(param)}</param>`).join('');
  return Buffer.from(`<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${inner}</params></methodCall>`);
}

function jsonValue(param: Param): string {
  if (typeof param === 'string' || typeof param === 'number') return JSON.stringify(param);
  if (Array.isArray(param)) return `[${param.map(jsonValue).join(',')}]`;
  // Written out member by member so that the order is exactly the listed one.
  return `{${param.struct.map(([name, member]) => `${JSON.stringify(name)}:${jsonValue(member)}`).join(',')}}`;
}

/** `params` undefined: the JSON call has no "params" member, the XML call an empty <params>. */
function jsonCall(method: string, params: Param[] | undefined, id: number | undefined = 1): string {
  const idPart = id === undefined ? '' : `"id":${id},`;
  const paramsPart = params === undefined ? '' : `,"params":[${params.map(jsonValue).join(',')}]`;
  return `{"jsonrpc":"2.0",${idPart}"method":${JSON.stringify(method)}${paramsPart}}`;
}

const member = (methodName: string, ...params: Param[]): Param => ({ struct: [['methodName', methodName], ['params', params]] });

const H = 'DD8255ECDC7CA55FB0BBF81323D87062DB1F6D1C';
const MAGNET = 'magnet:?xt=urn:btih:dd8255ecdc7ca55fb0bbf81323d87062db1f6d1c&dn=ubuntu';
const EXEC = 'execute.throw=sh,-c,id';

function same(xml: PolicyVerdict, json: PolicyVerdict): void {
  assert.equal(json.allowed, xml.allowed, `XML-RPC ${xml.allowed ? 'allowed' : 'refused'}, JSON-RPC ${json.allowed ? 'allowed' : 'refused'}`);
  if (!xml.allowed && !json.allowed) assert.equal(json.method, xml.method);
}

type Row = [behaviour: string, method: string, params: Param[] | undefined, allowed: boolean];

const ROWS: Row[] = [
  // d.multicall2 getters, as ruTorrent and Flood send them
  ['d.multicall2 with getters', 'd.multicall2', ['', 'main', 'd.hash=', 'd.name=', 'd.size_bytes=', 'd.custom1='], true],
  ['d.multicall2 with ruTorrent\'s tracker cat', 'd.multicall2', ['', 'main', 'd.hash=', 'cat="$t.multicall=d.hash=,t.scrape_complete=,cat={#}"'], true],
  ['f.multicall getters', 'f.multicall', [H, '', 'f.path=', 'f.size_bytes='], true],
  ['a download getter', 'd.name', [H], true],
  ['a setter with an integer', 'd.priority.set', [H, 2], true],
  ['a global getter without params', 'system.client_version', undefined, true],
  ['a global getter with the "" target', 'system.client_version', [''], true],
  // execute and friends
  ['execute.throw', 'execute.throw', ['', 'sh', '-c', 'id'], false],
  ['execute.throw without params', 'execute.throw', undefined, false],
  ['d.multicall2 with an execute command', 'd.multicall2', ['', 'main', 'd.name=', EXEC], false],
  ['d.multicall2 with $execute inside cat', 'd.multicall2', ['', 'main', `cat=$${EXEC}`], false],
  ['d.multicall2 with $execute in a nested cat', 'd.multicall2', ['', 'main', `cat="$cat=$${EXEC}"`], false],
  ['d.multicall2 with the command wrapped in an array', 'd.multicall2', ['', 'main', [EXEC]], false],
  ['d.multicall2 with the view and command in one array', 'd.multicall2', ['', ['main', EXEC]], false],
  ['d.multicall2 without params', 'd.multicall2', undefined, true],
  ['method.insert', 'method.insert', ['', 'x', 'simple', EXEC], false],
  // load.* with trailing commands
  ['load.start of a magnet', 'load.start', ['', MAGNET], true],
  ['load.start with an allowed trailing setter', 'load.start', ['', MAGNET, 'd.custom1.set=tv', 'd.priority.set=2'], true],
  ['load.start with an execute trailing command', 'load.start', ['', MAGNET, EXEC], false],
  ['load.start with $execute in a trailing setter', 'load.start', ['', MAGNET, `d.custom1.set=$${EXEC}`], false],
  ['load.start with a directory but no download roots', 'load.start', ['', MAGNET, 'd.directory.set=/etc'], false],
  ['load.start of a local file', 'load.start', ['', '/etc/passwd'], false],
  ['load.start without a source', 'load.start', [''], false],
  ['load.start without params', 'load.start', undefined, false],
  // system.multicall (JSON-RPC has none in rtorrent, but the verdict must not differ)
  ['system.multicall of getters', 'system.multicall', [[member('d.name', H), member('system.client_version')]], true],
  ['system.multicall with execute.throw', 'system.multicall', [[member('d.name', H), member('execute.throw', '', 'sh')]], false],
  ['system.multicall with params before methodName', 'system.multicall', [[{ struct: [['params', [H]], ['methodName', 'd.name']] }]], false],
  ['system.multicall with an extra member', 'system.multicall', [[{ struct: [['methodName', 'd.name'], ['params', [H]], ['x', 'execute.throw']] }]], false],
  ['nested system.multicall', 'system.multicall', [[member('system.multicall', [member('d.name', H)])]], false],
  ['system.multicall without params', 'system.multicall', undefined, false],
  // shapes
  ['a struct parameter outside system.multicall', 'd.name', [H, { struct: [['a', 'b']] }], false],
  ['an invalid target', 'd.name', ['not-a-hash'], false],
  ['a method not in the policy', 'import', ['', '/tmp/x.rc'], false],
];

describe('JSON-RPC calls get the verdict of their XML-RPC twin (standard policy)', () => {
  for (const [behaviour, method, params, allowed] of ROWS) {
    it(`${behaviour}: ${allowed ? 'allowed' : 'refused'}`, () => {
      const xml = standard.check(parseMethodCall(xmlBody(method, params)));
      const request = parseJsonRpcRequest(Buffer.from(jsonCall(method, params)));
      const json = standard.check((request.calls[0] as (typeof request.calls)[number]).call);
      assert.equal(xml.allowed, allowed, xml.allowed ? 'XML-RPC twin allowed' : `XML-RPC twin refused: ${xml.reason}`);
      same(xml, json);
      // A notification is checked exactly like a request.
      const notification = parseJsonRpcRequest(Buffer.from(jsonCall(method, params, undefined)));
      same(xml, standard.check((notification.calls[0] as (typeof notification.calls)[number]).call));
    });
  }

  it('every call of a batch gets its twin\'s verdict; the batch passes only if all do', () => {
    const body = Buffer.from(`[${ROWS.map(([, method, params], index) => jsonCall(method, params, index % 2 === 0 ? index : undefined)).join(',')}]`);
    const request = parseJsonRpcRequest(body);
    assert.equal(request.calls.length, ROWS.length);
    request.calls.forEach((c, index) => {
      const [, method, params] = ROWS[index] as Row;
      same(standard.check(parseMethodCall(xmlBody(method, params))), standard.check(c.call));
    });
  });

  it('escapes do not hide anything: \\u0024execute in JSON is $execute in XML', () => {
    const xml = standard.check(parseMethodCall(xmlBody('d.multicall2', ['', 'main', `cat=&#36;${EXEC}`])));
    const json = parseJsonRpcRequest(Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"d.multicall2","params":["","main","cat=\\u0024${EXEC}"]}`));
    assert.equal(xml.allowed, false);
    same(xml, standard.check((json.calls[0] as (typeof json.calls)[number]).call));
  });

  it('every built-in policy agrees on every row', () => {
    for (const name of BUILTIN_POLICY_NAMES) {
      const policy = policies.get(name) as CompiledPolicy;
      for (const [, method, params] of ROWS) {
        const request = parseJsonRpcRequest(Buffer.from(jsonCall(method, params)));
        same(policy.check(parseMethodCall(xmlBody(method, params))), policy.check((request.calls[0] as (typeof request.calls)[number]).call));
      }
    }
  });
});

describe('twin verdicts for generated calls', () => {
  // Strings from a vocabulary of targets, views and command strings, so that the policy's
  // interesting paths are reached, plus arbitrary text.
  const vocabulary = fc.constantFrom('', H, `${H}:f0`, 'main', 'd.name=', EXEC, `cat=$${EXEC}`, 'd.custom1.set=x', MAGNET, '/etc/passwd', 'cat={#}', 'methodName', 'params');
  const text = fc.oneof(vocabulary, fc.string({ maxLength: 8 }).filter((s) => refusedCharacter(s) === null));
  const value: fc.Arbitrary<XmlRpcValue> = fc.letrec<{ v: XmlRpcValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      text.map((s): XmlRpcValue => ({ kind: 'string', value: s })),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n): XmlRpcValue => ({ kind: 'i8', value: n })),
      fc.array(tie('v'), { maxLength: 3 }).map((items): XmlRpcValue => ({ kind: 'array', items })),
      fc
        .uniqueArray(fc.tuple(text, tie('v')), { maxLength: 2, selector: ([key]) => key })
        .map((members): XmlRpcValue => ({ kind: 'struct', members: new Map(members) })),
    ),
  })).v;
  const methodName = fc.constantFrom('d.multicall2', 'd.multicall.filtered', 'f.multicall', 't.multicall', 'd.name', 'd.custom1.set', 'd.priority.set',
    'execute.throw', 'load.start', 'load.normal', 'system.multicall', 'system.client_version', 'cat', 'method.insert', 'd.erase', 'import');
  const call: fc.Arbitrary<MethodCall> = fc.record({ methodName, params: fc.array(value, { maxLength: 5 }) }, { noNullPrototype: true });

  it('the same tree sent both ways gets the same verdict under every built-in policy', () => {
    let allowedByStandard = 0;
    const parameters = fuzzParameters();
    fc.assert(
      fc.property(call, (tree) => {
        const xml = parseMethodCall(encodeMethodCall(tree));
        const json = parseJsonRpcRequest(encodeJsonRpcRequest({ batch: false, calls: [{ id: 1, call: tree }] }));
        for (const name of BUILTIN_POLICY_NAMES) {
          const policy = policies.get(name) as CompiledPolicy;
          const verdict = policy.check(xml);
          same(verdict, policy.check((json.calls[0] as (typeof json.calls)[number]).call));
          if (name === 'standard' && verdict.allowed) allowedByStandard++;
        }
      }),
      parameters,
    );
    // Both outcomes must be exercised, or the property says little.
    if (parameters.numRuns >= 100) {
      assert.ok(allowedByStandard > parameters.numRuns / 20, `only ${allowedByStandard} allowed`);
      assert.ok(allowedByStandard < parameters.numRuns, 'nothing refused');
    }
  });
});
