/**
 * Where values sit in a JSON-RPC answer's text, so that one value can be replaced and every other
 * byte rtorrent sent kept as it was (JSON.parse would round integers past 2^53 and respell numbers).
 * The caller has checked the whole text with JSON.parse first, so it is well-formed.
 */
import type { TextRange } from '../xmlrpc/text-range.js';

const WHITE_SPACE = /[ \t\r\n]/;

function skipWhiteSpace(text: string, from: number): number {
  let at = from;
  while (at < text.length && WHITE_SPACE.test(text[at] as string)) at++;
  return at;
}

function stringEnd(text: string, from: number): number {
  let at = from + 1;
  while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
  return at + 1;
}

/** The value starting at `from` (after white space). */
function valueRange(text: string, from: number): TextRange {
  const start = skipWhiteSpace(text, from);
  const first = text[start];
  if (first === '"') return { start, end: stringEnd(text, start) };
  if (first !== '[' && first !== '{') {
    let end = start;
    while (end < text.length && !/[\s,\]}]/.test(text[end] as string)) end++;
    return { start, end };
  }
  let depth = 0;
  let at = start;
  do {
    const character = text[at];
    if (character === '"') {
      at = stringEnd(text, at);
      continue;
    }
    if (character === '[' || character === '{') depth++;
    else if (character === ']' || character === '}') depth--;
    at++;
  } while (depth > 0);
  return { start, end: at };
}

/** The items of the array that starts at `from`; undefined when the value there is not an array. */
export function arrayItems(text: string, from = 0): TextRange[] | undefined {
  const start = skipWhiteSpace(text, from);
  if (text[start] !== '[') return undefined;
  const items: TextRange[] = [];
  let at = skipWhiteSpace(text, start + 1);
  if (text[at] === ']') return items;
  for (;;) {
    const item = valueRange(text, at);
    items.push(item);
    at = skipWhiteSpace(text, item.end);
    if (text[at] !== ',') return items;
    at++;
  }
}

/** The value of `key` in the object that starts at `from`; undefined when absent or not an object. */
export function memberValue(text: string, from: number, key: string): TextRange | undefined {
  const start = skipWhiteSpace(text, from);
  if (text[start] !== '{') return undefined;
  let at = skipWhiteSpace(text, start + 1);
  while (text[at] === '"') {
    const nameEnd = stringEnd(text, at);
    const name = JSON.parse(text.slice(at, nameEnd)) as string;
    const colon = skipWhiteSpace(text, nameEnd);
    const value = valueRange(text, colon + 1);
    if (name === key) return value;
    at = skipWhiteSpace(text, value.end);
    if (text[at] !== ',') return undefined;
    at = skipWhiteSpace(text, at + 1);
  }
  return undefined;
}
