/**
 * log.format = "text": pino's JSON line turned into one line a person reads, and `grep`, `awk` or
 * fail2ban can still split on spaces. A call reads like an access log:
 *
 *   2025-06-01T10:00:00.123Z INFO  192.0.2.7 admin d.multicall2 200 relayed in=412B out=18234B 3.41ms
 *   2025-06-01T10:00:01.456Z WARN  192.0.2.7 viewer d.erase 200 denied in=301B out=245B 0.52ms denial="…"
 *
 * and anything else as level, message, key=value:
 *
 *   2025-06-01T10:00:00.001Z INFO  rtorrent-gateway listening listen=http://0.0.0.0:8000 upstream=unix:/run/rtorrent/scgi.socket
 */

type Fields = Record<string, unknown>;

const LEVEL_NAMES: Readonly<Record<string, string>> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO ',
  warn: 'WARN ',
  error: 'ERROR',
  fatal: 'FATAL',
};

/** SGR colours, only ever written to a terminal: grey, green, yellow, red, magenta. */
const LEVEL_COLOURS: Readonly<Record<string, string>> = {
  trace: '90',
  debug: '90',
  info: '32',
  warn: '33',
  error: '31',
  fatal: '35',
};

/** Fields a call line shows in its columns, or leaves to the JSON format (the same on every line). */
const CALL_COLUMNS = new Set(['time', 'level', 'msg', 'name', 'reqId', 'transport', 'method', 'path', 'remote', 'listener', 'user', 'policy', 'methods', 'status', 'outcome', 'bytesIn', 'bytesOut', 'ms']);
/** Likewise for other lines: time, level and message lead; the process name is the same on every line. */
const MESSAGE_COLUMNS = new Set(['time', 'level', 'msg', 'name', 'reqId']);

/** A system.multicall can name hundreds of methods; the JSON format keeps them all. */
const METHODS_SHOWN = 3;

/** Characters a terminal or a log viewer may act on: C0 and C1 controls, DEL, line and paragraph separators. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;
/** The ones JSON.stringify leaves as they are. */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u2028\u2029]/g;
/** A value with one of these would split into two, or read as another key=value, without quotes (\s covers U+2028 and U+2029). */
const NEEDS_QUOTES = /[\s"=\\\x00-\x1f\x7f-\x9f]/;

function escapeChar(c: string): string {
  const json = JSON.stringify(c).slice(1, -1);
  return json !== c ? json : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Bare when it cannot be misread; JSON-quoted otherwise, with every unsafe character escaped, so
 * a user name or a message carrying a line break or a terminal escape cannot forge a line or
 * repaint the operator's terminal.
 */
function token(text: string): string {
  return text !== '' && !NEEDS_QUOTES.test(text) ? text : JSON.stringify(text).replace(UNSAFE_IN_JSON, escapeChar);
}

/** A message is shown unquoted, but never with an unsafe character. */
function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

function valueText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return token(value);
    case 'number':
    case 'boolean':
      return String(value);
    default:
      if (value === null) return 'null';
      if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) return token(value.join(','));
      return JSON.stringify(JSON.stringify(value));
  }
}

/** key=value pairs; a nested object (pino's `err`) as key.inner=value, its stack kept aside for the lines below. */
function pairs(fields: Fields, skip: ReadonlySet<string>, out: string[], stacks: string[]): void {
  for (const key in fields) {
    if (skip.has(key)) continue;
    const value = fields[key];
    if (value === undefined) continue;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const inner in value as Fields) {
        const innerValue = (value as Fields)[inner];
        if (inner === 'stack' && typeof innerValue === 'string') {
          if (innerValue !== '') stacks.push(innerValue);
        } else if (innerValue !== undefined && !(inner === 'type' && innerValue === 'Object')) {
          // pino's err serializer calls a plain object's type "Object", which tells a reader nothing.
          out.push(`${token(key)}.${token(inner)}=${valueText(innerValue)}`);
        }
      }
    } else {
      out.push(`${token(key)}=${valueText(value)}`);
    }
  }
}

function methodsText(methods: readonly unknown[]): string {
  const shown = methods.slice(0, METHODS_SHOWN).map(String).join(',');
  return token(methods.length > METHODS_SHOWN ? `${shown},+${methods.length - METHODS_SHOWN}` : shown);
}

/** A finished call, over HTTP or an SCGI listener: the request log's line (request-log.ts, scgi-listener/server.ts). */
function isCall(fields: Fields): boolean {
  return typeof fields.outcome === 'string' && Array.isArray(fields.methods);
}

function callColumns(fields: Fields): string {
  const remote = fields.remote ?? fields.listener;
  const methods = fields.methods as readonly unknown[];
  const what = methods.length > 0 ? methodsText(methods) : typeof fields.path === 'string' && fields.path !== '' ? token(fields.path) : '-';
  return [
    typeof remote === 'string' ? token(remote) : '-',
    typeof fields.user === 'string' ? token(fields.user) : '-',
    what,
    typeof fields.status === 'number' ? String(fields.status) : '-',
    token(String(fields.outcome)),
    `in=${Number(fields.bytesIn ?? 0)}B`,
    `out=${Number(fields.bytesOut ?? 0)}B`,
    `${Number(fields.ms ?? 0)}ms`,
  ].join(' ');
}

/** One pino JSON line (with a label as its level and an ISO time) as a text line, newline included. */
export function formatTextLine(json: string, colour: boolean): string {
  let fields: Fields;
  try {
    fields = JSON.parse(json) as Fields;
  } catch {
    // pino writes nothing else; should it ever, the line is worth more as it is than dropped.
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const label = String(fields.level);
  const levelName = LEVEL_NAMES[label] ?? token(label.toUpperCase());
  const time = typeof fields.time === 'string' ? fields.time : new Date().toISOString();
  const head = colour ? `\x1b[2m${time}\x1b[0m \x1b[${LEVEL_COLOURS[label] ?? '0'}m${levelName}\x1b[0m` : `${time} ${levelName}`;
  const parts = [head];
  const stacks: string[] = [];
  if (isCall(fields)) {
    parts.push(callColumns(fields));
    pairs(fields, CALL_COLUMNS, parts, stacks);
  } else {
    if (fields.msg !== undefined) parts.push(escapeUnsafe(String(fields.msg)));
    pairs(fields, MESSAGE_COLUMNS, parts, stacks);
  }
  let line = parts.join(' ');
  // A bug's stack trace, indented under its line, so no line of it can pass for a line of its own.
  for (const stack of stacks) for (const frame of stack.split('\n')) line += `\n    ${escapeUnsafe(frame)}`;
  return `${line}\n`;
}
