import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compilePolicies } from '../../src/policy/index.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

const policies = compilePolicies({});
const standard = policies.get('standard')!;
const text = (value: string): XmlRpcValue => ({ kind: 'string', value });
const multicall2 = (...rows: string[]): MethodCall => ({ methodName: 'd.multicall2', params: [text(''), text('main'), ...rows.map(text)] });

const EXECUTE_FAMILY = ['execute', 'execute2', 'execute.throw', 'execute.throw.bg', 'execute.nothrow', 'execute.nothrow.bg', 'execute.raw',
  'execute.raw.bg', 'execute.raw_nothrow', 'execute.raw_nothrow.bg', 'execute.capture', 'execute.capture_nothrow', 'lua.execute.str'];
const HARMLESS = ['d.name', 'd.hash', 'cat', 'd.custom1', 'value', 'd.size_bytes'];

type Context = 'command' | 'block' | 'func';
/** A command string with a hole for a command name; filling it with any name keeps the grammar. */
type Template = (name: string) => string;

const delimiters: Record<Context, RegExp> = { command: /[,; \t\n\r]/, block: /[,}]/, func: /[,)]/ };

/** Prints a string value so that rtorrent's parser decodes it back to `value`. */
const printed = (context: Context) =>
  fc.constantFrom('quoted', 'escaped', 'plain').map((mode) => (value: string): string => {
    if (mode === 'quoted' || (mode === 'plain' && (delimiters[context].test(value) || /^["{(]|\\/.test(value)))) {
      return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    }
    if (mode === 'escaped') return [...value].map((c) => (/[A-Za-z0-9._=]/.test(c) ? c : `\\${c}`)).join('');
    return value;
  });

const blanks = fc.constantFrom('', ' ', '\t', ' \t ');
const separator = fc.constantFrom(';', '\n', ' ;', ';\t');
const harmlessCommand = fc.constantFrom(...HARMLESS.map((name) => `${name}=`), 'cat=a,b', 'd.custom=addtime', 'cat={x,y}');
const plainArgs = fc.constantFrom('', 'sh,-c,id', 'sh', '"a b",c');

/** The name is the command itself, among harmless ones. */
const direct: fc.Arbitrary<Template> = fc
  .tuple(fc.array(harmlessCommand, { maxLength: 2 }), fc.array(harmlessCommand, { maxLength: 2 }), separator, blanks, plainArgs)
  .map(([before, after, sep, blank, args]) => (name: string) => [...before, `${blank}${name}${blank}=${args}`, ...after].join(sep));

const templates: fc.Arbitrary<Template> = fc.letrec<{ template: Template }>((tie) => ({
  template: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    direct,
    // $… in an argument of a harmless command, as the lone list, or nested in a list
    fc.tuple(tie('template'), printed('command'), printed('block'), fc.constantFrom('arg', 'lone-list', 'nested-list', 'func-arg'))
      .map(([inner, printCommand, printBlock, where]) => (name: string) => {
        const inline = `$${inner(name)}`;
        if (where === 'arg') return `cat=a,${printCommand(inline)}`;
        if (where === 'lone-list') return `cat={${printBlock(inline)}}`;
        if (where === 'nested-list') return `cat=a,{b,${printBlock(inline)}}`;
        return `cat=((cat,${printBlock(inline)}))`;
      }),
    // a function call at any quote level, with a quoted or escaped name
    fc.tuple(fc.integer({ min: 1, max: 3 }), printed('func'), fc.constantFrom('', ',sh,-c,id'), fc.constantFrom('d.name', 'cat'))
      .map(([level, printName, args, host]) => (name: string) => `${host}=x,${'('.repeat(level)}${printName(name)}${args}${')'.repeat(level)}`),
    // a command string that an evaluator runs, possibly as an element of a list branch
    fc.tuple(tie('template'), printed('command'), printed('block'), fc.constantFrom('branch', 'and', 'or', 'branch-list', 'equal'))
      .map(([inner, printCommand, printBlock, evaluator]) => (name: string) => {
        if (evaluator === 'branch-list') return `branch=d.name=,{d.hash=,${printBlock(inner(name))}}`;
        return `${evaluator}=d.name=,${printCommand(inner(name))}`;
      }),
    // a nested multicall row
    fc.tuple(tie('template'), printed('command'), fc.constantFrom('t.multicall', 'f.multicall', 'd.multicall2'))
      .map(([inner, printCommand, multicall]) => (name: string) => `${multicall}=main,${printCommand(inner(name))}`),
  ),
})).template;

describe('the scanner against grammar-shaped command strings', () => {
  test('any command string that reaches an execute-family name is denied under standard', () => {
    fc.assert(
      fc.property(templates, fc.constantFrom(...EXECUTE_FAMILY), (template, exec) => {
        const row = template(exec);
        const verdict = standard.check(multicall2('d.hash=', row));
        assert.equal(verdict.allowed, false, `allowed: ${JSON.stringify(row)}`);
      }),
      { numRuns: 1500 },
    );
  });

  test('the same strings with a harmless name are read and allowed (or refused only for what they cost), so the denials above are about the name', () => {
    fc.assert(
      fc.property(templates, fc.constantFrom(...HARMLESS), (template, harmless) => {
        const row = template(harmless);
        const verdict = standard.check(multicall2(row));
        // Nested multicall rows are refused for their cost (src/policy/cost.ts), whatever they run.
        assert.ok(verdict.allowed || verdict.costly === true, `${JSON.stringify(row)}: ${verdict.allowed ? '' : verdict.reason}`);
      }),
      { numRuns: 1500 },
    );
  });

  test('when it is denied for the name, the denial names the execute command', () => {
    fc.assert(
      fc.property(templates, fc.constantFrom(...EXECUTE_FAMILY), (template, exec) => {
        const verdict = standard.check(multicall2(template(exec)));
        if (!verdict.allowed) assert.ok(verdict.method === exec || /at run time|deeper than/.test(verdict.reason), verdict.reason);
      }),
      { numRuns: 500 },
    );
  });

  test('check never throws and stays fast on arbitrary strings in every evaluated position', () => {
    const hostile = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.array(fc.constantFrom(...'$(){},;"\\ \n#=abcde.'.split(''), 'execute.throw', 'cat=', 'branch=', '$cat='), { maxLength: 80 }).map((parts) => parts.join('')),
    );
    const methods = ['d.multicall2', 'branch', 'load.start', 'f.multicall', 'and'];
    fc.assert(
      fc.property(fc.constantFrom(...methods), fc.array(hostile, { minLength: 1, maxLength: 4 }), (method, rows) => {
        const call = { methodName: method, params: [text(''), text(method === 'load.start' ? 'magnet:?x' : 'main'), ...rows.map(text)] };
        // The fastest of up to three runs: a slow input is slow every time, a busy machine's pause is not.
        let fastestMs = Number.POSITIVE_INFINITY;
        for (let attempt = 0; attempt < 3 && fastestMs >= 50; attempt++) {
          const started = process.hrtime.bigint();
          const verdict = policies.get('standard')!.check(call);
          fastestMs = Math.min(fastestMs, Number(process.hrtime.bigint() - started) / 1e6);
          assert.equal(typeof verdict.allowed, 'boolean');
        }
        assert.ok(fastestMs < 50, `took ${fastestMs} ms`);
      }),
      { numRuns: 1500 },
    );
  });
});
