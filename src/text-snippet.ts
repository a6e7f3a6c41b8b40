/**
 * Client text quoted in an error is cut short: a huge tag name or method must not end up whole in
 * a fault response or a log line.
 */
export function clip(text: string, max = 40): string {
  if (text.length <= max) return text;
  // Do not cut a surrogate pair in half.
  const end = (text.charCodeAt(max - 1) & 0xfc00) === 0xd800 ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

/** Quoted and clipped, for messages. */
export function quoted(text: string): string {
  return JSON.stringify(clip(text));
}
