import { z } from 'zod';
import { envName, OVERRIDABLE_KEYS } from './keys.js';
import { defOf, fixedKeyPaths, isRequired, keysOf, schemaAt, unwrap, type Path, type Schema } from './schema-walk.js';

/**
 * Validation issues in the words of the config file: each names the key as it is written in TOML
 * and what it should hold, never the validator's own codes. The schema is the one source of what a
 * key takes, so the words for a key's kind (a duration, an address) are asked of the schema itself.
 */

type Issue = z.core.$ZodIssue;

export interface IssueContext {
  /** The schema the issues came from, to look up the keys and kinds it takes. */
  readonly schema: Schema;
  /** The config file, if any. */
  readonly file: string | undefined;
  /** Which flag or variable set a dotted key ("flag --listen"), from applyOverrides. */
  readonly sources: ReadonlyMap<string, string>;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `server.paths[1]`, `access.users."j doe".policy`: the key as the file spells it. */
export function tomlPath(path: Path): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') {
      text += `[${segment}]`;
      continue;
    }
    const key = String(segment);
    const written = BARE_KEY.test(key) ? key : JSON.stringify(key);
    text += text === '' ? written : `.${written}`;
  }
  return text;
}

/**
 * What a key takes, in the schema's own words: a value of the right type that no key accepts (the
 * empty string) draws the transform's "… is not a duration such as …" message.
 */
function whatItTakes(schema: Schema | undefined): string | undefined {
  if (schema === undefined) return undefined;
  const result = z.safeParse(schema, '', { reportInput: true });
  if (result.success) return undefined;
  for (const issue of result.error.issues) {
    const match = /^"" is not (.+)$/.exec(issue.message);
    if (match) return match[1];
  }
  return undefined;
}

// --- words for values and types ----------------------------------------------------------------

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a table',
  record: 'a table',
  date: 'a date',
};

function typeWords(expected: string): string {
  return TYPE_WORDS[expected] ?? expected;
}

function shorten(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The value as the file would show it, and its kind: `5 (a number)`, `"/RPC2" (a string)`. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `${shorten(JSON.stringify(value))} (a string)`;
  if (typeof value === 'number') return `${value} (a number)`;
  if (typeof value === 'boolean') return `${value} (a boolean)`;
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return `${shorten(JSON.stringify(value))} (a list)`;
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
}

// --- near misses -------------------------------------------------------------------------------

/** Optimal string alignment distance: a swapped pair of letters ("lsiten") counts as one edit. */
function editDistance(a: string, b: string): number {
  const cols = b.length + 1;
  const d = new Array<number>((a.length + 1) * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] as number;
  for (let i = 0; i <= a.length; i++) d[i * cols] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/** Flags spell keys with "-", the file with "_"; case is a common slip too. */
function normalise(word: string): string {
  return word.toLowerCase().replaceAll('-', '_');
}

/** The candidate closest to `word`, when it is close enough to be the one meant. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const wanted = normalise(word);
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalise(candidate));
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  if (best !== undefined && best.distance <= Math.max(1, Math.floor(wanted.length / 3))) return best.candidate;
  // A word spelled out in full where the key takes its short form ("warning" for "warn"), or the reverse.
  return candidates.find((candidate) => {
    const other = normalise(candidate);
    return Math.min(other.length, wanted.length) >= 3 && (other.startsWith(wanted) || wanted.startsWith(other));
  });
}

function unknownKey(schema: Schema, parent: Path, key: string): string {
  const siblings = keysOf(schemaAt(schema, parent));
  const near = closest(key, siblings);
  let suggestion: string | undefined = near === undefined ? undefined : tomlPath([...parent, near]);
  if (suggestion === undefined) {
    // A key put in the wrong table: `[server] timeout`, `[users]` for [access.users].
    const elsewhere = fixedKeyPaths(schema).filter((path) => normalise(path[path.length - 1] as string) === normalise(key));
    if (elsewhere.length > 0) suggestion = elsewhere.map((path) => tomlPath(path)).join(' or ');
  }
  return `unknown key ${tomlPath([...parent, key])}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`;
}

// --- one issue, in words -----------------------------------------------------------------------

/** Where a key can be set besides the file, for a required key that is missing. */
function otherWays(path: Path): string {
  const dotted = path.map(String).join('.');
  const leaf = OVERRIDABLE_KEYS.find((candidate) => candidate.dotted === dotted);
  if (leaf === undefined) return '';
  return ` (or give --${leaf.flag ?? dotted} or ${envName(leaf)})`;
}

function missing(schema: Schema, path: Path): Array<{ path: Path; text: string }> {
  const here = schemaAt(schema, path);
  const def = here === undefined ? undefined : defOf(unwrap(here));
  // A whole table missing: name the keys it needs, which is what has to be written.
  if (def?.type === 'object') {
    const required = Object.entries((def as z.core.$ZodObjectDef).shape).filter(([, child]) => isRequired(child));
    if (required.length > 0) return required.flatMap(([key]) => missing(schema, [...path, key]));
  }
  return [{ path, text: `required key is missing${otherWays(path)}` }];
}

function invalidType(schema: Schema, issue: z.core.$ZodIssueInvalidType): string {
  const takes = whatItTakes(schemaAt(schema, issue.path)) ?? typeWords(issue.expected);
  const hint = issue.expected === 'array' && (typeof issue.input === 'string' || typeof issue.input === 'number') ? `; write it as [${JSON.stringify(issue.input)}]` : '';
  return `expected ${takes}, got ${describeValue(issue.input)}${hint}`;
}

function bound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small';
  const limit = Number(small ? issue.minimum : issue.maximum);
  const word = issue.exact ? 'exactly' : issue.inclusive === false ? (small ? 'more than' : 'less than') : small ? 'at least' : 'at most';
  switch (issue.origin) {
    case 'array':
    case 'set': {
      const count = Array.isArray(issue.input) ? issue.input.length : undefined;
      const got = count === 0 ? 'an empty list' : count === undefined ? describeValue(issue.input) : `${count} ${count === 1 ? 'item' : 'items'}`;
      return `expected ${word} ${limit} ${limit === 1 ? 'item' : 'items'}, got ${got}`;
    }
    case 'string':
      if (small && limit === 1) return 'must not be empty';
      return `expected ${word} ${limit} characters, got ${describeValue(issue.input)}`;
    default:
      return `expected ${word} ${limit}, got ${describeValue(issue.input)}`;
  }
}

/** A value that may be written two ways: the way the value was meant is the one that got furthest. */
function invalidUnion(schema: Schema, issue: z.core.$ZodIssueInvalidUnion): Array<{ path: Path; text: string }> {
  const firsts = issue.errors.map((branch) => branch[0]).filter((first): first is Issue => first !== undefined);
  const typeMismatches = firsts.filter((first) => first.code === 'invalid_type' && first.path.length === 0) as z.core.$ZodIssueInvalidType[];
  if (firsts.length > 0 && typeMismatches.length === firsts.length) {
    const takes = whatItTakes(schemaAt(schema, issue.path)) ?? typeMismatches.map((first) => typeWords(first.expected)).join(' or ');
    return [{ path: issue.path, text: `expected ${takes}, got ${describeValue(issue.input)}` }];
  }
  let furthest: Issue | undefined;
  for (const first of firsts) {
    if (first.code === 'invalid_type' && first.path.length === 0) continue;
    if (furthest === undefined || first.path.length > furthest.path.length) furthest = first;
  }
  if (furthest === undefined) return [{ path: issue.path, text: `got ${describeValue(issue.input)}, which is none of the forms this key takes` }];
  return describeIssue(schema, { ...furthest, path: [...issue.path, ...furthest.path] } as Issue);
}

/** Zod's own wording starts with "Invalid"; the schema's custom messages are already plain. */
function ownWords(issue: Issue, otherwise: string): string {
  return /^Invalid\b/.test(issue.message) ? otherwise : issue.message;
}

function describeIssue(schema: Schema, issue: Issue): Array<{ path: Path; text: string }> {
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...issue.path, key], text: unknownKey(schema, issue.path, key) }));
    case 'invalid_type':
      if (issue.input === undefined) return missing(schema, issue.path);
      return [{ path: issue.path, text: invalidType(schema, issue) }];
    case 'invalid_union':
      return invalidUnion(schema, issue);
    case 'invalid_value': {
      const options = issue.values.map((value) => JSON.stringify(value));
      const near = typeof issue.input === 'string' ? closest(issue.input, issue.values.map(String)) : undefined;
      const guess = near === undefined ? '' : ` (did you mean "${near}"?)`;
      const got = typeof issue.input === 'string' ? JSON.stringify(issue.input) : describeValue(issue.input);
      return [{ path: issue.path, text: `expected one of ${options.join(', ')}, got ${got}${guess}` }];
    }
    case 'too_small':
    case 'too_big':
      return [{ path: issue.path, text: bound(issue) }];
    case 'invalid_format':
      return [{ path: issue.path, text: ownWords(issue, `got ${describeValue(issue.input)}, which is not in the form this key takes`) }];
    case 'not_multiple_of':
      return [{ path: issue.path, text: `expected a multiple of ${issue.divisor}, got ${describeValue(issue.input)}` }];
    case 'invalid_key': {
      const reasons = issue.issues.map((inner) => inner.message).join('; ');
      return [{ path: issue.path, text: `not a valid name: ${reasons}` }];
    }
    default:
      return [{ path: issue.path, text: issue.message }];
  }
}

/** Where a key's value came from: the flag or variable that set it, else the file. */
function origin(path: Path, text: string, context: IssueContext): string {
  const fallback = context.file ?? 'configuration (no --config file given)';
  // Flags and variables set only keys the schema knows: an unknown one was written in the file.
  if (text.startsWith('unknown key ')) return fallback;
  const dotted = path.map(String);
  // Users from --user are set as a whole table: its entries come from the same flag.
  const source = context.sources.get(dotted.join('.')) ?? context.sources.get(dotted.slice(0, 2).join('.'));
  return source ?? fallback;
}

/**
 * One line per problem, each naming where it came from, the key and what is wrong with it:
 * `gateway.toml: upstream.timeout: expected a duration …, got true (a boolean)`,
 * `gateway.toml: unknown key server.lsiten (did you mean server.listen?)`.
 */
export function describeIssues(issues: readonly Issue[], context: IssueContext): string[] {
  return issues.flatMap((issue) =>
    describeIssue(context.schema, issue).map(({ path, text }) => {
      const where = origin(path, text, context);
      // An unknown key names itself; everything else leads with its key.
      if (text.startsWith('unknown key ')) return `${where}: ${text}`;
      return `${where}: ${path.length === 0 ? '(top level)' : tomlPath(path)}: ${text}`;
    }),
  );
}
