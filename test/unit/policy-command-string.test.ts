import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type CsObject, parseCommandString } from '../../src/policy/command-string.js';

/** A compact rendering of the parse tree: "name=[args]" with s"", {list}, (fn) / ((fn)). */
function show(object: CsObject): string {
  switch (object.type) {
    case 'string':
      return JSON.stringify(object.value);
    case 'list':
      return `{${object.items.map(show).join(',')}}`;
    case 'function': {
      const open = '('.repeat(object.level);
      const close = ')'.repeat(object.level);
      return `${open}${object.name}${object.args === null ? '' : `;${object.args.map(show).join(',')}`}${close}`;
    }
  }
}

function parsed(text: string): string {
  const result = parseCommandString(text);
  if (!result.ok) return `ERROR ${result.error}`;
  return result.commands.map((command) => `${command.name}=${show(command.args)}`).join(' | ');
}

describe('the command-string parser follows rtorrent grammar (parse.cc, parse_commands.cc)', () => {
  const table: [string, string, string][] = [
    ['an empty argument is one empty string', 'd.name=', 'd.name=""'],
    ['commas make a list', 'cat=a,b', 'cat={"a","b"}'],
    ['a lone {…} is the argument list itself', 'cat={a,b}', 'cat={"a","b"}'],
    ['a {…} among other arguments stays a nested list', 'cat=a,{b,c}', 'cat={"a",{"b","c"}}'],
    ['blanks and ; belong to strings inside {…}', 'cat={a b;c}', 'cat={"a b;c"}'],
    ['quotes keep commas and semicolons', 'cat="a,b;c"', 'cat="a,b;c"'],
    ['a backslash keeps the next character and drops itself', 'cat=a\\,b', 'cat="a,b"'],
    ['a backslash escapes inside quotes too', 'cat="a\\"b"', 'cat="a\\"b"'],
    ['a quote in the middle of a word is literal', 'cat=a"b', 'cat="a\\"b"'],
    ['leading blanks and blanks before = are allowed', ' \tcat =x', 'cat="x"'],
    ['; separates commands', 'cat=a;value=1', 'cat="a" | value="1"'],
    ['a newline separates commands', 'cat=a\nvalue=1', 'cat="a" | value="1"'],
    ['a trailing separator ends the string', 'cat=a ;', 'cat="a"'],
    ['(name,args) is a function called while parsing', 'cat=(d.name)', 'cat=(d.name)'],
    ['function arguments are a list', 'cat=(d.custom,addtime)', 'cat=(d.custom;"addtime")'],
    ['double parentheses quote a function once', 'branch=((d.is_open)),x=', 'branch={((d.is_open)),"x="}'],
    ['triple parentheses quote a function twice', 'cat=(((d.name)))', 'cat=(((d.name)))'],
    ['a quoted function name is decoded', 'cat=("execute.throw",sh)', 'cat=(execute.throw;"sh")'],
    ['an escaped function name is decoded', 'cat=(exe\\cute.throw,sh)', 'cat=(execute.throw;"sh")'],
    ['blanks in a function name are kept (rtorrent then fails the lookup)', 'cat=( d.name)', 'cat=( d.name)'],
    ['a $ string stays a string for the scanner', 'cat=$d.name=', 'cat="$d.name="'],
    ['an escaped $ decodes to $', 'cat=\\$d.name=', 'cat="$d.name="'],
    ['a quoted $ decodes to $', 'cat="$d.name=,x"', 'cat="$d.name=,x"'],
    ['an empty string has no commands', '', ''],
    ['blanks only have no commands', '  \t ', ''],
  ];
  for (const [behaviour, input, expected] of table) {
    test(behaviour, () => assert.equal(parsed(input), expected));
  }

  const errors: [string, string, RegExp][] = [
    ['junk after an unquoted word with a blank', 'cat=a b', /junk at end of input/],
    ['junk after a quoted string', 'cat="a"b', /junk at end of input/],
    ['a carriage return ends a word and then counts as junk', 'cat=a\rb', /control character U\+000D/],
    ['a missing =', 'd.name', /could not find '='/],
    ['a name that does not start with a letter', '1cat=', /invalid start of command name/],
    ['$ at a command start', '$cat=', /invalid start of command name/],
    ['an empty command between separators', 'cat=a;;cat=b', /invalid start of command name/],
    ['a missing closing quote', 'cat="abc', /missing closing quote/],
    ['an escape at the end', 'cat=abc\\', /escape character at end of input/],
    ['an unclosed list', 'cat={a,b', /could not find closing '}'/],
    ['an unclosed function', 'cat=(d.name', /could not find closing '\)'/],
    ['mismatched parentheses', 'cat=((d.name)', /parentheses mismatch/],
    ['four parentheses', 'cat=((((d.name))))', /more than 3 parentheses/],
    ["'#' at a command start (rtorrent spins on it in multi-command strings)", 'cat=a;#x', /'#'/],
    ["'#' as the whole string", '#', /'#'/],
    ['NUL', 'cat=a\u0000execute.throw=x', /control character U\+0000/],
    ['a 128-character command name', `${'a'.repeat(128)}=`, /longer than 127/],
    ['deep list nesting', `cat=${'{'.repeat(40)}${'}'.repeat(40)}`, /nest deeper/],
    ['very long strings', `cat=${'a'.repeat(20000)}`, /longer than/],
  ];
  for (const [behaviour, input, expected] of errors) {
    test(`refuses ${behaviour}`, () => {
      const result = parseCommandString(input);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.error, expected);
    });
  }

  test('a 127-character command name is still a name', () => {
    assert.equal(parsed(`${'a'.repeat(127)}=x`), `${'a'.repeat(127)}="x"`);
  });

  test("'#' inside a list or a quoted string is data", () => {
    assert.equal(parsed('cat={#}'), 'cat={"#"}');
    assert.equal(parsed('cat="#"'), 'cat="#"');
  });
});

describe('the command-string parser is total', () => {
  const grammarCharacters = fc.constantFrom(
    ...'abcdexyz.=_ ,;"\\{}()$#\t\n01'.split(''),
    'cat=', 'd.name=', 'execute.throw=', '(cat,', '((', '))', '{"', '"}', '\\\\',
  );
  const grammarStrings = fc.array(grammarCharacters, { maxLength: 60 }).map((parts) => parts.join(''));

  test('never throws and answers quickly on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), grammarStrings), (text) => {
        // The quickest of three tries: one may be preempted or meet a collection on a busy machine.
        let elapsedMs = Number.POSITIVE_INFINITY;
        for (let attempt = 0; attempt < 3 && elapsedMs >= 50; attempt++) {
          const started = process.hrtime.bigint();
          const result = parseCommandString(text);
          elapsedMs = Math.min(elapsedMs, Number(process.hrtime.bigint() - started) / 1e6);
          assert.equal(typeof result.ok, 'boolean');
        }
        assert.ok(elapsedMs < 50, `took ${elapsedMs} ms`);
      }),
      { numRuns: 3000 },
    );
  });

  test('stays linear on long hostile input', () => {
    const hostile = [
      `cat=${'\\'.repeat(16000)}`,
      `cat=${'"'.repeat(16000)}`,
      `cat=${'(cat,'.repeat(3000)}`,
      `${'cat=a;'.repeat(2700)}`,
      `cat=${'{a,'.repeat(31)}${'}'.repeat(31)}`,
    ];
    for (const text of hostile) {
      const started = process.hrtime.bigint();
      parseCommandString(text);
      assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 100);
    }
  });
});
