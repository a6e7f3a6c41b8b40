/** A stretch of an answer's text, by character: where one value starts and ends. */
export interface TextRange {
  readonly start: number;
  readonly end: number;
}

/** The text with each range replaced; ranges must not overlap. */
export function spliced(text: string, replacements: ReadonlyArray<TextRange & { readonly text: string }>): string {
  const ordered = [...replacements].sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const replacement of ordered) {
    out += text.slice(at, replacement.start) + replacement.text;
    at = replacement.end;
  }
  return out + text.slice(at);
}
