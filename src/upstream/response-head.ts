/**
 * rtorrent answers with a CGI-style head ("Status: 200 OK", "Content-Type", "Content-Length",
 * blank line). We read it the way nginx's scgi module does, so clients see the same status:
 * a "Status:" header's first three digits, else an "HTTP/1.x NNN" status line, else 200.
 */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Lower-cased names, in arrival order; Status itself is not included. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly contentLength: number | undefined;
}

export type HeadParseResult =
  | { readonly state: 'incomplete' }
  | { readonly state: 'complete'; readonly head: ResponseHead; readonly bodyStart: number }
  | { readonly state: 'invalid'; readonly reason: string };

const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/;

/** Finds the end of the head: CRLF CRLF, or bare LF LF as nginx also accepts. */
function findHeadEnd(buffer: Buffer): { end: number; bodyStart: number } | undefined {
  for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) {
    const end = buffer[i - 1] === 13 ? i - 1 : i;
    if (buffer[i + 1] === 10) return { end, bodyStart: i + 2 };
    if (buffer[i + 1] === 13 && buffer[i + 2] === 10) return { end, bodyStart: i + 3 };
  }
  return undefined;
}

export function parseResponseHead(buffer: Buffer): HeadParseResult {
  const found = findHeadEnd(buffer);
  if (!found) return { state: 'incomplete' };
  const lines = buffer.toString('latin1', 0, found.end).split(/\r?\n/);
  let status: number | undefined;
  let reason = '';
  const headers: Array<readonly [string, string]> = [];
  let contentLength: number | undefined;

  const statusLine = STATUS_LINE.exec(lines[0] ?? '');
  if (statusLine) {
    status = Number(statusLine[1]);
    reason = statusLine[2] ?? '';
    lines.shift();
  }
  for (const line of lines) {
    const match = HEADER_LINE.exec(line);
    if (!match) return { state: 'invalid', reason: `malformed header line ${JSON.stringify(line.slice(0, 80))}` };
    const name = (match[1] as string).toLowerCase();
    const value = match[2] as string;
    if (name === 'status') {
      const code = /^(\d{3})(?: (.*))?$/.exec(value);
      if (!code) return { state: 'invalid', reason: `invalid Status ${JSON.stringify(value.slice(0, 40))}` };
      status = Number(code[1]);
      reason = code[2] ?? '';
      continue;
    }
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== Number(value))) {
        return { state: 'invalid', reason: `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}` };
      }
      contentLength = Number(value);
    }
    headers.push([name, value]);
  }
  if (status === undefined) status = headers.some(([name]) => name === 'location') ? 302 : 200;
  if (status < 100 || status > 599) return { state: 'invalid', reason: `invalid status ${status}` };
  return { state: 'complete', head: { status, reason, headers, contentLength }, bodyStart: found.bodyStart };
}

/** Headers about rtorrent's connection rather than its answer, and nginx's private ones. */
const CONNECTION_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** The headers of rtorrent's answer a client is given, whichever transport relays it. */
export function answerHeaders(head: ResponseHead): ReadonlyArray<readonly [string, string]> {
  return head.headers.filter(([name]) => !CONNECTION_HEADERS.has(name) && !name.startsWith('x-accel-'));
}
