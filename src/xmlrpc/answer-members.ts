/**
 * Where each member's answer sits in rtorrent's answer to a system.multicall: the <value> items of the
 * array that is the response's one value, as character ranges of the text. The caller has read the
 * whole answer with the strict parser first, so the text is well-formed; XML-RPC has no attributes,
 * comments, CDATA or DOCTYPE, and an answer holding any is refused here, which leaves every "<" the
 * start of a tag.
 */
import type { TextRange } from './text-range.js';

const TAG = /<(\/?)([^\s/>]+)[^>]*?(\/?)>/g;
const ITEM_PATH = ['methodResponse', 'params', 'param', 'value', 'array', 'data'];

function atItemDepth(stack: readonly string[]): boolean {
  return stack.length === ITEM_PATH.length && ITEM_PATH.every((name, depth) => stack[depth] === name);
}

export function multicallAnswerRanges(xml: string): TextRange[] {
  if (xml.includes('<!')) throw new Error('the answer holds a comment, CDATA or a DOCTYPE');
  const stack: string[] = [];
  const ranges: TextRange[] = [];
  let start = -1;
  for (const match of xml.matchAll(TAG)) {
    const [tag, closing, name = '', selfClosing] = match;
    const at = match.index;
    if (name.startsWith('?')) continue;
    if (/["']/.test(tag)) throw new Error(`the answer's <${name}> has attributes`);
    if (closing === '/') {
      stack.pop();
      if (start >= 0 && atItemDepth(stack)) {
        ranges.push({ start, end: at + tag.length });
        start = -1;
      }
      continue;
    }
    const item = name === 'value' && atItemDepth(stack);
    if (selfClosing === '/') {
      if (item) ranges.push({ start: at, end: at + tag.length });
      continue;
    }
    if (item) start = at;
    stack.push(name);
  }
  return ranges;
}
