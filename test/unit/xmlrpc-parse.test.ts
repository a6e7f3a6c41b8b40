import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedCallError, UnsupportedCallError } from '../../src/errors.js';
import { parseMethodCall, type ParseLimits } from '../../src/xmlrpc/parse.js';
import type { MethodCall, XmlRpcValue } from '../../src/xmlrpc/types.js';

const str = (value: string): XmlRpcValue => ({ kind: 'string', value });
const i4 = (value: number): XmlRpcValue => ({ kind: 'i4', value });
const i8 = (value: bigint): XmlRpcValue => ({ kind: 'i8', value });
const b64 = (value: Buffer): XmlRpcValue => ({ kind: 'base64', value });
const arr = (...items: XmlRpcValue[]): XmlRpcValue => ({ kind: 'array', items });
const struct = (...members: Array<[string, XmlRpcValue]>): XmlRpcValue => ({ kind: 'struct', members: new Map(members) });

/** A call to `name` whose params are the given raw <value>…</value> snippets. */
function call(name: string, ...values: string[]): string {
  const params = values.map((v) => `<param>${v}</param>`).join('');
  return `<methodCall><methodName>${name}</methodName><params>${params}</params></methodCall>`;
}
/** A call whose single param is `<value>${inner}</value>`. */
const one = (inner: string): string => call('x', `<value>${inner}</value>`);

function parse(xml: string | Buffer, limits?: ParseLimits): MethodCall {
  return parseMethodCall(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml, limits);
}

describe('parseMethodCall reads what rtorrent reads', () => {
  const cases: Array<[string, string | Buffer, MethodCall]> = [
    ['a call without <params> has no params', '<methodCall><methodName>system.client_version</methodName></methodCall>', { methodName: 'system.client_version', params: [] }],
    ['an empty <params/> has no params', '<methodCall><methodName>x</methodName><params/></methodCall>', { methodName: 'x', params: [] }],
    ['an XML declaration with UTF-8 is accepted', `<?xml version="1.0" encoding="utf-8"?>${call('x')}`, { methodName: 'x', params: [] }],
    ['an XML declaration with US-ASCII is accepted for ASCII bodies', `<?xml version='1.0' encoding='US-ASCII' standalone='yes'?>${call('x')}`, { methodName: 'x', params: [] }],
    ['numeric references are decoded as rtorrent decodes them: d&#46;erase is d.erase', call('d&#46;erase'), { methodName: 'd.erase', params: [] }],
    ['hexadecimal references are decoded too', call('d&#x2E;erase'), { methodName: 'd.erase', params: [] }],
    ['a CDATA method name is its text', call('<![CDATA[system.listMethods]]>'), { methodName: 'system.listMethods', params: [] }],
    ['comments vanish and the text around them joins, as in expat', call('d.<!-- hidden -->name'), { methodName: 'd.name', params: [] }],
    ['whitespace between elements and around the root is ignored', `<!-- hi -->\n<methodCall>\n <methodName>x</methodName>\n <params>\n  <param>\n   <value>\n    <i4>1</i4>\n   </value>\n  </param>\n </params>\n</methodCall>\n\n`, { methodName: 'x', params: [i4(1)] }],
    ['&amp;#100; decodes once', one('<string>&amp;#100;.name</string>'), { methodName: 'x', params: [str('&#100;.name')] }],
    ['the five predefined entities decode', one('<string>&lt;&gt;&amp;&quot;&apos;</string>'), { methodName: 'x', params: [str(`<>&"'`)] }],
    ['an untyped <value> is a string with its whitespace kept', one('  two words\t'), { methodName: 'x', params: [str('  two words\t')] }],
    ['<value></value> is the empty string', one(''), { methodName: 'x', params: [str('')] }],
    ['<value/> is the empty string', call('x', '<value/>'), { methodName: 'x', params: [str('')] }],
    ['whitespace around a typed child is not part of the value', one('\n  <string>s</string>\n'), { methodName: 'x', params: [str('s')] }],
    ['<string/> is the empty string', one('<string/>'), { methodName: 'x', params: [str('')] }],
    ['literal CRLF and CR become LF, but &#13; stays CR', one('<string>a\r\nb\rc&#13;d&#xD;&#10;</string>'), { methodName: 'x', params: [str('a\nb\nc\rd\r\n')] }],
    ['CDATA and text concatenate', one('<string>a<![CDATA[<&>]]>b</string>'), { methodName: 'x', params: [str('a<&>b')] }],
    ['non-BMP characters survive, literal or referenced', one('<string>𝄞&#x1D11E;</string>'), { methodName: 'x', params: [str('𝄞𝄞')] }],
    ['NEL and U+2028 are ordinary characters in XML 1.0', one('<string>\u0085\u2028</string>'), { methodName: 'x', params: [str('\u0085\u2028')] }],
    ['<int> and <i4> are both i4', call('x', '<value><int>7</int></value>', '<value><i4>-7</i4></value>'), { methodName: 'x', params: [i4(7), i4(-7)] }],
    ['i4 takes a sign and leading zeros like strtol', call('x', '<value><i4>+007</i4></value>', '<value><i4>-0</i4></value>'), { methodName: 'x', params: [i4(7), i4(0)] }],
    ['i4 edges are accepted', call('x', '<value><i4>-2147483648</i4></value>', '<value><i4>2147483647</i4></value>'), { methodName: 'x', params: [i4(-2147483648), i4(2147483647)] }],
    ['<i8> and <ex:i8> are both i8', call('x', '<value><i8>5</i8></value>', '<value><ex:i8>-5</ex:i8></value>'), { methodName: 'x', params: [i8(5n), i8(-5n)] }],
    ['i8 edges are accepted', call('x', '<value><i8>-9223372036854775808</i8></value>', '<value><i8>9223372036854775807</i8></value>', '<value><i8>-00000000000000000000001</i8></value>'), { methodName: 'x', params: [i8(-(2n ** 63n)), i8(2n ** 63n - 1n), i8(-1n)] }],
    ['base64 may be wrapped with spaces, tabs, CR and LF', one('<base64>\r\n  aGVs\tbG8g\nd29y\rbGQ=\n</base64>'), { methodName: 'x', params: [b64(Buffer.from('hello world'))] }],
    ['empty base64 is an empty buffer', one('<base64></base64>'), { methodName: 'x', params: [b64(Buffer.alloc(0))] }],
    ['base64 with one and two padding characters', call('x', '<value><base64>QUI=</base64></value>', '<value><base64>QQ==</base64></value>'), { methodName: 'x', params: [b64(Buffer.from('AB')), b64(Buffer.from('A'))] }],
    ['arrays nest and keep order', one('<array><data><value>a</value><value><array><data><value><i4>1</i4></value></data></array></value><value><array><data/></array></value></data></array>'), { methodName: 'x', params: [arr(str('a'), arr(i4(1)), arr())] }],
    ['structs read name then value, in document order', one('<struct><member><name>b</name><value>1</value></member><member><name> a </name><value><i4>2</i4></value></member></struct>'), { methodName: 'x', params: [struct(['b', str('1')], [' a ', i4(2)])] }],
    ['an empty struct is allowed', one('<struct/>'), { methodName: 'x', params: [struct()] }],
    [
      'a system.multicall request becomes an array of structs',
      call('system.multicall', '<value><array><data><value><struct><member><name>methodName</name><value><string>d.name</string></value></member><member><name>params</name><value><array><data><value><string>ABCD</string></value></data></array></value></member></struct></value></data></array></value>'),
      { methodName: 'system.multicall', params: [arr(struct(['methodName', str('d.name')], ['params', arr(str('ABCD'))]))] },
    ],
    ['method names may use every character the spec allows', call('Az09_.:/'), { methodName: 'Az09_.:/', params: [] }],
  ];
  for (const [behaviour, xml, expected] of cases) {
    it(behaviour, () => {
      assert.deepStrictEqual(parse(xml), expected);
    });
  }

  it('a typical ruTorrent d.multicall2 request reads as its strings', () => {
    const fields = ['d.hash=', 'd.name=', 'd.custom=addtime', 'cat="$t.multicall=d.hash=,t.scrape_complete=,cat={#}"'];
    const xml = call('d.multicall2', '<value><string></string></value>', '<value><string>main</string></value>', ...fields.map((f) => `<value><string>${f}</string></value>`));
    assert.deepStrictEqual(parse(xml), { methodName: 'd.multicall2', params: [str(''), str('main'), ...fields.map(str)] });
  });
});

describe('parseMethodCall refuses what it cannot read with certainty', () => {
  const lol = ['<!DOCTYPE lolz [', '<!ENTITY lol "lol">'];
  for (let i = 1; i <= 9; i++) lol.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
  lol.push(']>');
  const billionLaughs = `${lol.join('\n')}${call('&lol9;')}`;

  const cases: Array<[string, string | Buffer, RegExp]> = [
    ['a DOCTYPE is refused before any entity can expand', `<!DOCTYPE m [<!ENTITY x "system.client_version">]>${call('&x;')}`, /DOCTYPE/],
    ['billion laughs is refused at the DOCTYPE', billionLaughs, /DOCTYPE/],
    ['an external entity (XXE) is refused at the DOCTYPE', `<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>${call('x')}`, /DOCTYPE/],
    ['a DOCTYPE without entities is refused too', `<!DOCTYPE methodCall>${call('x')}`, /DOCTYPE/],
    ['an undefined HTML entity is refused', one('<string>&nbsp;</string>'), /undefined entity/],
    ['entity names are case-sensitive: &AMP; is undefined', one('<string>&AMP;</string>'), /undefined entity/],
    ['&#0; is not an XML character', one('<string>&#0;</string>'), /character/],
    ['a literal control character is not an XML character', one('<string>\u0001</string>'), /character/],
    ['"]]>" in text is refused as XML requires', one('<string>]]></string>'), /]]>/],
    ['a body that is not UTF-8 is refused', Buffer.from([...Buffer.from('<methodCall><methodName>'), 0xff, ...Buffer.from('</methodName></methodCall>')]), /UTF-8/],
    ['an encoded surrogate is not UTF-8', Buffer.from([...Buffer.from('<methodCall><methodName>'), 0xed, 0xa0, 0x80, ...Buffer.from('</methodName></methodCall>')]), /UTF-8/],
    ['an overlong encoding is not UTF-8', Buffer.from([...Buffer.from('<methodCall><methodName>'), 0xc0, 0xae, ...Buffer.from('</methodName></methodCall>')]), /UTF-8/],
    ['a byte order mark is refused', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(call('x'))]), /byte order mark/],
    ['an encoding other than UTF-8 or ASCII is refused', `<?xml version="1.0" encoding="ISO-8859-1"?>${call('x')}`, /encoding "ISO-8859-1"/],
    ['a UTF-16 label on a UTF-8 body is refused', `<?xml version="1.0" encoding="UTF-16"?>${call('x')}`, /encoding "UTF-16"/],
    ['an ASCII label on a non-ASCII body is refused', `<?xml version="1.0" encoding="us-ascii"?>${one('<string>é</string>')}`, /not ASCII/],
    ['XML 1.1 is refused', `<?xml version="1.1"?>${call('x')}`, /version 1\.0/],
    ['an XML declaration after whitespace is refused', ` <?xml version="1.0"?>${call('x')}`, /XML declaration/],
    ['a processing instruction is refused', `<?xml-stylesheet href="a"?>${call('x')}`, /processing instruction/],
    ['a processing instruction inside the call is refused', `<methodCall><?php x?><methodName>x</methodName></methodCall>`, /processing instruction/],
    ['attributes are refused', one('<string lang="en">x</string>'), /attributes/],
    ['namespace declarations are attributes and refused', `<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><methodName>x</methodName></methodCall>`, /attributes/],
    ['the root must be <methodCall>', '<methodResponse><params/></methodResponse>', /root element must be <methodCall>/],
    ['a second root element is refused', `${call('x')}${call('y')}`, /more than one root|only one root/],
    ['text after the root is refused', `${call('x')}junk`, /outside (of )?(the )?root/],
    ['text before the root is refused', `junk${call('x')}`, /outside (of )?(the )?root/],
    ['a truncated document is refused', call('x').slice(0, -5), /not well-formed/],
    ['an empty body is refused', '', /root element/],
    ['mismatched tags are refused', '<methodCall><methodName>x</methodCall></methodName>', /not well-formed/],
    ['two methodNames are refused', '<methodCall><methodName>x</methodName><methodName>y</methodName></methodCall>', /second <methodName>/],
    ['a missing methodName is refused', '<methodCall><params/></methodCall>', /<params> must come after <methodName>/],
    ['an empty methodCall is refused', '<methodCall/>', /no <methodName>/],
    ['two <params> are refused', '<methodCall><methodName>x</methodName><params/><params/></methodCall>', /second <params>/],
    ['an empty method name is refused', call(''), /<methodName> is empty/],
    ['a method name with a leading space is refused, not trimmed', call(' d.name'), /may contain only/],
    ['a method name with a trailing newline is refused', call('d.name\n'), /may contain only/],
    ['a method name spelled with &#32; is refused', call('d.name&#32;'), /may contain only/],
    ['&amp;#100;.name is not a method name', call('&amp;#100;.name'), /may contain only/],
    ['a method name with other punctuation is refused', call('d.name;execute'), /may contain only/],
    ['a methodName with a child element is refused', call('d.<b/>name'), /may hold only text/],
    ['an unknown element in <methodCall> is refused', '<methodCall><methodName>x</methodName><foo/></methodCall>', /<foo> is not allowed in <methodCall>/],
    ['a <value> directly in <params> is refused', '<methodCall><methodName>x</methodName><params><value>1</value></params></methodCall>', /<value> is not allowed in <params>/],
    ['text in <params> is refused', '<methodCall><methodName>x</methodName><params>junk</params></methodCall>', /text "junk" is not allowed in <params>/],
    ['text in <methodCall> is refused', '<methodCall>junk<methodName>x</methodName></methodCall>', /not allowed in <methodCall>/],
    ['a <param> without a value is refused', call('x', ''), /<param> has no <value>/],
    ['a <param> with two values is refused', call('x', '<value>a</value><value>b</value>'), /more than one <value>/],
    ['text before a typed child is refused', one('text<string>x</string>'), /mixes text/],
    ['text after a typed child is refused', one('<string>x</string>text'), /mixes text/],
    ['two typed children in a <value> are refused', one('<string>x</string><string>y</string>'), /more than one element/],
    ['a <value> inside a <value> is refused', one('<value>x</value>'), /not an XML-RPC value type/],
    ['an unknown type is refused', one('<float>1</float>'), /<float> is not an XML-RPC value type/],
    ['a string with a child element is refused', one('<string>a<b/></string>'), /may hold only text/],
    ['an array without <data> is refused', one('<array/>'), /<array> has no <data>/],
    ['an array with two <data> is refused', one('<array><data/><data/></array>'), /more than one <data>/],
    ['an array holding values outside <data> is refused', one('<array><value>x</value></array>'), /<value> is not allowed in <array>/],
    ['a struct holding something other than members is refused', one('<struct><name>a</name></struct>'), /<name> is not allowed in <struct>/],
    ['a duplicate struct member is refused, since xmlrpc-c would take the last', one('<struct><member><name>methodName</name><value>d.name</value></member><member><name>methodName</name><value>execute.throw</value></member></struct>'), /two members named "methodName"/],
    ['a member with its value before its name is refused', one('<struct><member><value>v</value><name>n</name></member></struct>'), /exactly <name> then <value>/],
    ['a member without a value is refused', one('<struct><member><name>n</name></member></struct>'), /exactly <name> then <value>/],
    ['a member with two names is refused', one('<struct><member><name>n</name><name>m</name><value>v</value></member></struct>'), /exactly <name> then <value>/],
    ['an empty i4 is refused', one('<i4></i4>'), /<i4> must be a decimal integer/],
    ['an i4 with leading whitespace is refused', one('<i4> 1</i4>'), /<i4> must be a decimal integer/],
    ['an i4 with trailing whitespace is refused', one('<i4>1 </i4>'), /<i4> must be a decimal integer/],
    ['a decimal point is not an i4', one('<int>1.0</int>'), /<i4> must be a decimal integer/],
    ['hexadecimal is not an i4', one('<i4>0x10</i4>'), /<i4> must be a decimal integer/],
    ['exponents are not an i4', one('<i4>1e3</i4>'), /<i4> must be a decimal integer/],
    ['ints out of range: 2147483648 is not an i4', one('<i4>2147483648</i4>'), /outside the signed 32-bit range/],
    ['ints out of range: -2147483649 is not an i4', one('<int>-2147483649</int>'), /outside the signed 32-bit range/],
    ['ints out of range: 9223372036854775808 is not an i8', one('<i8>9223372036854775808</i8>'), /outside the signed 64-bit range/],
    ['ints out of range: -9223372036854775809 is not an i8', one('<i8>-9223372036854775809</i8>'), /outside the signed 64-bit range/],
    ['ints out of range: a thousand digits are not an i8', one(`<i8>${'9'.repeat(1000)}</i8>`), /outside the signed 64-bit range/],
    ['an i8 with a sign alone is refused', one('<i8>-</i8>'), /<i8> must be a decimal integer/],
    ['sloppy base64: missing padding is refused', one('<base64>QQ</base64>'), /multiple of 4/],
    ['sloppy base64: non-zero bits under the padding are refused', one('<base64>QR==</base64>'), /not canonical/],
    ['sloppy base64: non-zero bits under one pad are refused', one('<base64>QUJ=</base64>'), /not canonical/],
    ['sloppy base64: three pads are refused', one('<base64>Q===</base64>'), /padding in the wrong place/],
    ['sloppy base64: padding in the middle is refused', one('<base64>QQ==QQ==</base64>'), /padding in the wrong place/],
    ['sloppy base64: "=" before data is refused', one('<base64>QQ=A</base64>'), /padding in the wrong place/],
    ['sloppy base64: the URL-safe alphabet is refused', one('<base64>-_-_</base64>'), /characters outside/],
    ['sloppy base64: junk characters are refused', one('<base64>QUJD!</base64>'), /characters outside/],
    ['sloppy base64: a no-break space is not base64 whitespace', one('<base64>QUJD\u00a0RA==</base64>'), /characters outside/],
    ['an unsupported type does not hide a malformed document', `${one('<boolean>1</boolean>')}<extra/>`, /root/],
  ];
  for (const [behaviour, xml, message] of cases) {
    it(behaviour, () => {
      assert.throws(
        () => parse(xml),
        (err: unknown) => {
          assert.ok(err instanceof MalformedCallError, `expected MalformedCallError, got ${String(err)}`);
          assert.equal(err.code, 'GW_XMLRPC_INVALID');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('errors quote only a short piece of what the client sent', () => {
    assert.throws(() => parse(`<${'a'.repeat(100_000)}/>`), (err: unknown) => err instanceof MalformedCallError && err.message.length < 200);
    assert.throws(() => parse(one(`<i4>${'1'.repeat(100_000)}</i4>`)), (err: unknown) => err instanceof MalformedCallError && err.message.length < 200);
  });

  it('errors say where in the document the problem is', () => {
    assert.throws(() => parse('<methodCall>\n<methodName>x</methodName>\n<params>\n<param><value><i4>x</i4></value></param></params></methodCall>'), /line 4, column \d+/);
    assert.throws(() => parse('<methodCall>\n\n<methodName>&nbsp;</methodName></methodCall>'), /line 3, column \d+/);
  });
});

describe('types rtorrent does not take are refused as unsupported', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['boolean', '<boolean>1</boolean>', /<boolean>.*0 or 1 as <i4>/],
    ['double', '<double>1.5</double>', /<double>/],
    ['dateTime.iso8601', '<dateTime.iso8601>20240101T00:00:00</dateTime.iso8601>', /<dateTime\.iso8601>.*<i8>/],
    ['nil', '<nil/>', /<nil>.*empty <string>/],
    ['ex:nil', '<ex:nil/>', /<ex:nil>/],
    ['ex:float', '<ex:float>1.5</ex:float>', /<ex:float>.*extension/],
    ['ex:i1', '<ex:i1>1</ex:i1>', /<ex:i1>.*<i4>/],
    ['i2', '<i2>1</i2>', /<i2>.*<i4>/],
  ];
  for (const [type, inner, message] of cases) {
    it(`<${type}> is refused as unsupported, naming the type`, () => {
      assert.throws(
        () => parse(one(inner)),
        (err: unknown) => {
          assert.ok(err instanceof UnsupportedCallError, `expected UnsupportedCallError, got ${String(err)}`);
          assert.equal(err.code, 'GW_XMLRPC_UNSUPPORTED');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('an unsupported type deep inside arrays and structs is found', () => {
    const xml = one('<array><data><value><struct><member><name>a</name><value><boolean>0</boolean></value></member></struct></value></data></array>');
    assert.throws(() => parse(xml), UnsupportedCallError);
  });

  it('the first unsupported type is the one named', () => {
    assert.throws(() => parse(call('x', '<value><double>1</double></value>', '<value><boolean>1</boolean></value>')), /<double>/);
  });
});

describe('limits hold without deep recursion', () => {
  const nested = (depth: number): string =>
    one(`${'<array><data><value>'.repeat(depth - 1)}<array><data/></array>${'</value></data></array>'.repeat(depth - 1)}`);

  it('32 nested arrays are accepted by default', () => {
    const result = parse(nested(32));
    let depth = 0;
    let v: XmlRpcValue | undefined = result.params[0];
    while (v?.kind === 'array') {
      depth++;
      v = v.items[0];
    }
    assert.equal(depth, 32);
  });

  it('33 nested arrays are refused by default', () => {
    assert.throws(() => parse(nested(33)), /nested more than 32 deep/);
  });

  it('structs count towards the same depth', () => {
    const inner = '<struct><member><name>a</name><value>'.repeat(3) + 'x' + '</value></member></struct>'.repeat(3);
    assert.throws(() => parse(one(inner), { maxDepth: 2 }), /nested more than 2 deep/);
    assert.doesNotThrow(() => parse(one(inner), { maxDepth: 3 }));
  });

  it('200000-deep arrays fail fast with a clean MalformedCallError', () => {
    const start = performance.now();
    assert.throws(() => parse(nested(200_000)), MalformedCallError);
    assert.ok(performance.now() - start < 1000, 'took longer than a second');
  });

  it('200000-deep values fail fast with a clean MalformedCallError', () => {
    const start = performance.now();
    assert.throws(() => parse(one(`${'<value>'.repeat(200_000)}${'</value>'.repeat(200_000)}`)), MalformedCallError);
    assert.ok(performance.now() - start < 1000, 'took longer than a second');
  });

  it('200000-deep elements inside an unsupported type do not overflow the stack', () => {
    assert.throws(() => parse(one(`<nil>${'<a>'.repeat(200_000)}${'</a>'.repeat(200_000)}</nil>`)), UnsupportedCallError);
  });

  it('the number of values is bounded', () => {
    const xml = one(`<array><data>${'<value/>'.repeat(10)}</data></array>`);
    assert.doesNotThrow(() => parse(xml, { maxValues: 11 }));
    assert.throws(() => parse(xml, { maxValues: 10 }), /more than 10 values/);
  });

  it('string length is bounded in bytes when asked', () => {
    assert.doesNotThrow(() => parse(one('<string>éé</string>'), { maxStringBytes: 4 }));
    assert.throws(() => parse(one('<string>ééé</string>'), { maxStringBytes: 4 }), /longer than 4 bytes/);
    assert.throws(() => parse(one('ééé'), { maxStringBytes: 4 }), /longer than 4 bytes/);
    assert.throws(() => parse(one('<struct><member><name>ééé</name><value/></member></struct>'), { maxStringBytes: 4 }), /longer than 4 bytes/);
    assert.throws(() => parse(one('<base64>QUJDREU=</base64>'), { maxStringBytes: 4 }), /longer than 4 bytes/);
  });
});
