/**
 * Strict reader for the SCGI request head a client sends us (protocol.md §1): a netstring
 * `<len>:<NUL-separated pairs>,` with CONTENT_LENGTH first, then exactly CONTENT_LENGTH body bytes.
 *
 * rtorrent itself is lax here (0.9.8 reads the length with strtol base 0, so "0x7d0" or "03720"
 * are accepted, ignores the ',' and every pair after CONTENT_LENGTH), but we are the gatekeeper:
 * anything we cannot read one way only is refused, and what goes upstream is our own head anyway.
 */

export interface ScgiRequestLimits {
  /** Largest netstring payload; rtorrent's max_header_size is 2000 (scgi_task.h). */
  readonly maxHeaderBytes: number;
  /** Largest CONTENT_LENGTH. */
  readonly maxBodyBytes: number;
}

/** Which answer a refused head gets: 400 for framing, 413 for size, 415 for a body type we do not take. */
export type ScgiHeadProblem = 'malformed' | 'too_large' | 'unsupported_type';

export type ScgiHeadResult =
  | { readonly state: 'incomplete' }
  | {
      readonly state: 'complete';
      /** Names and values as latin1 strings, so every byte survives for logging. */
      readonly headers: ReadonlyMap<string, string>;
      readonly contentLength: number;
      /** Offset of the first body byte in the buffer that was parsed. */
      readonly bodyStart: number;
    }
  | { readonly state: 'invalid'; readonly problem: ScgiHeadProblem; readonly message: string };

const COLON = 0x3a;
const COMMA = 0x2c;
const NUL = 0x00;
// Decimal without sign or leading zeros; 16 digits is far beyond any body limit and still exact.
const CONTENT_LENGTH_RE = /^(?:0|[1-9][0-9]{0,15})$/;

function invalid(problem: ScgiHeadProblem, message: string): ScgiHeadResult {
  return { state: 'invalid', problem, message };
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/** Printable form of a header value for messages: latin1, control bytes escaped, capped. */
function shown(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/**
 * CONTENT_TYPE decides how rtorrent ≥ 0.15.2 reads the body (protocol.md §3.3). We only take
 * XML-RPC: "text/xml", with or without parameters, or empty/absent as 0.9.8-era clients send it.
 * JSON-RPC is refused until the policy engine can check it.
 */
function checkContentType(value: string): ScgiHeadResult | undefined {
  if (value === '') return undefined;
  const media = (value.split(';', 1)[0] ?? '').trim().toLowerCase();
  if (media === 'text/xml') return undefined;
  if (media === 'application/json') {
    return invalid('unsupported_type', 'JSON-RPC is not accepted by this gateway: send XML-RPC with CONTENT_TYPE text/xml');
  }
  return invalid('unsupported_type', `CONTENT_TYPE ${shown(value)} is not accepted: send XML-RPC with CONTENT_TYPE text/xml`);
}

function parsePairs(block: Buffer, limits: ScgiRequestLimits): ScgiHeadResult | { headers: Map<string, string>; contentLength: number } {
  if (block.length === 0 || block[block.length - 1] !== NUL) {
    return invalid('malformed', 'SCGI header block does not end with a NUL byte');
  }
  const fields: string[] = [];
  for (let start = 0; start < block.length; ) {
    const end = block.indexOf(NUL, start);
    fields.push(block.toString('latin1', start, end));
    start = end + 1;
  }
  if (fields.length % 2 !== 0) return invalid('malformed', 'SCGI header block has a name without a value');

  const headers = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name === '') return invalid('malformed', 'SCGI header block has an empty name');
    // The spec forbids duplicates; nginx 1.22 sends them anyway for repeated HTTP headers. Two
    // CONTENT_LENGTHs or CONTENT_TYPEs would leave us guessing which one the client meant.
    if (headers.has(name)) return invalid('malformed', `SCGI header ${shown(name)} appears twice`);
    headers.set(name, value);
  }

  if (fields[0] !== 'CONTENT_LENGTH') {
    return invalid('malformed', `SCGI header block must start with CONTENT_LENGTH, not ${shown(fields[0] as string)}`);
  }
  const lengthText = fields[1] as string;
  if (!CONTENT_LENGTH_RE.test(lengthText)) {
    return invalid('malformed', `CONTENT_LENGTH ${shown(lengthText)} is not a plain decimal number`);
  }
  const contentLength = Number(lengthText);
  if (contentLength > limits.maxBodyBytes) {
    return invalid('too_large', `CONTENT_LENGTH ${contentLength} exceeds this listener's limit of ${limits.maxBodyBytes} bytes`);
  }
  const scgi = headers.get('SCGI');
  // Absent is tolerated (rtorrent never looks, and hand-written clients omit it); anything but
  // the spec's "1" means a client speaking some other protocol.
  if (scgi !== undefined && scgi !== '1') return invalid('malformed', `SCGI header must be "1", not ${shown(scgi)}`);
  const contentType = headers.get('CONTENT_TYPE');
  if (contentType !== undefined) {
    const refused = checkContentType(contentType);
    if (refused) return refused;
  }
  return { headers, contentLength };
}

/**
 * Looks at the bytes received so far. Framing errors are reported as soon as they are visible
 * (a bad length digit does not wait for 2000 more bytes); the head is complete once the payload
 * and its ',' have arrived.
 */
export function parseScgiHead(buffer: Buffer, limits: ScgiRequestLimits): ScgiHeadResult {
  const maxDigits = String(limits.maxHeaderBytes).length;
  // Octal and hex prefixes are how rtorrent's strtol(…, 0) would misread a length.
  if (buffer.length > 0 && buffer[0] === 0x30) return invalid('malformed', 'SCGI netstring length has a leading zero');
  let colon = -1;
  for (let i = 0; i < buffer.length && i <= maxDigits; i++) {
    const byte = buffer[i];
    if (byte === COLON) {
      colon = i;
      break;
    }
    if (!isDigit(byte)) return invalid('malformed', 'SCGI request does not start with a netstring length (decimal digits, then ":")');
  }
  if (colon === -1) {
    if (buffer.length > maxDigits) {
      return invalid('too_large', `SCGI header block is longer than this listener's limit of ${limits.maxHeaderBytes} bytes`);
    }
    return { state: 'incomplete' };
  }
  if (colon === 0) return invalid('malformed', 'SCGI netstring length is empty');
  const length = Number(buffer.toString('latin1', 0, colon));
  if (length > limits.maxHeaderBytes) {
    return invalid('too_large', `SCGI header block of ${length} bytes exceeds this listener's limit of ${limits.maxHeaderBytes}`);
  }
  const blockStart = colon + 1;
  const blockEnd = blockStart + length;
  if (buffer.length <= blockEnd) return { state: 'incomplete' };
  if (buffer[blockEnd] !== COMMA) return invalid('malformed', 'SCGI header block is not followed by ","');
  const parsed = parsePairs(buffer.subarray(blockStart, blockEnd), limits);
  if ('state' in parsed) return parsed;
  return { state: 'complete', headers: parsed.headers, contentLength: parsed.contentLength, bodyStart: blockEnd + 1 };
}

/** The SCGI-facing status for each problem, mirroring the HTTP side's 400/413/415. */
export const PROBLEM_STATUS: Readonly<Record<ScgiHeadProblem, number>> = {
  malformed: 400,
  too_large: 413,
  unsupported_type: 415,
};
