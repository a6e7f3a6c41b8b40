import { randomBytes } from 'node:crypto';

/**
 * Large <base64> values (a .torrent in load.raw_start) read from the request's bytes and written
 * into the canonical request's bytes, never as JavaScript strings. The XML parser walks a body
 * character by character, and the string forms of a megabyte of base64 (the text, the decoded
 * copy's re-encoding, the joined document) made up most of what a load cost the gateway in time
 * and memory.
 */

/** Values shorter than this go the ordinary way: the saving is in the large ones. */
export const LARGE_BASE64_BYTES = 64 * 1024;

const OPEN = Buffer.from('<base64>');
const CLOSE = Buffer.from('</base64>');

/** 1: a base64 digit or "="; 2: white space XML may carry inside the value; 0: anything else. */
const BYTE_CLASS = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=') BYTE_CLASS[c.charCodeAt(0)] = 1;
for (const c of ' \t\r\n') BYTE_CLASS[c.charCodeAt(0)] = 2;

export interface SetAside {
  /** The body as text for the parser, each large value's content replaced by its stand-in. */
  readonly text: string;
  /** Stand-in → where that content is in the body. */
  readonly values: ReadonlyMap<string, { readonly start: number; readonly end: number }>;
}

/**
 * The body's text with the content of each large <base64> element set aside. Only content made of
 * base64 digits and white space is taken, which holds no markup or reference. The bytes may still
 * stand somewhere other than a <base64> value (in a comment, in CDATA): the parser then meets a
 * stand-in it does not take as a value, and the body is read again the ordinary way
 * (parse.ts), as it is for any error, so messages and their positions are the ordinary ones. A
 * stand-in is a random hex token between "~", which no base64 value holds and no client can guess.
 * Undefined: nothing large. Linear in the body: each search starts where the last one ended.
 */
export function setAsideLargeBase64(body: Buffer): SetAside | undefined {
  let values: Map<string, { start: number; end: number }> | undefined;
  let text = '';
  let copied = 0;
  // Drawn only for a body that has a large value: most calls have none.
  let token: string | undefined;
  // The closing tag after the last opening one serves every opening tag before it: searching again
  // from each of thousands of "<base64>" would take time quadratic in the body.
  let end = -1;
  for (let open = body.indexOf(OPEN); open !== -1; ) {
    const start = open + OPEN.length;
    if (end < start) end = body.indexOf(CLOSE, start);
    if (end === -1) break;
    let newlines = 0;
    // Content running into another "<base64>" holds a "<" and is not plain.
    let plain = end - start >= LARGE_BASE64_BYTES;
    for (let i = start; plain && i < end; i++) {
      const kind = BYTE_CLASS[body[i] as number];
      if (kind === 0) plain = false;
      else if (body[i] === 0x0a) newlines++;
    }
    if (plain) {
      values ??= new Map();
      token ??= randomBytes(9).toString('hex');
      const standIn = `~${token}~${values.size}~`;
      values.set(standIn, { start, end });
      // The bytes around a value end and start at "<" and ">": never inside a UTF-8 sequence.
      text += body.toString('utf8', copied, start) + standIn + '\n'.repeat(newlines);
      copied = end;
    }
    open = body.indexOf(OPEN, plain ? end : start);
  }
  return values === undefined ? undefined : { text: text + body.toString('utf8', copied), values };
}

/** The digits of body[start, end) without white space: the bytes themselves when there is none. */
function digitsOf(body: Buffer, start: number, end: number): Buffer {
  const range = body.subarray(start, end);
  // Most clients send one unbroken line: four native scans say so.
  if (range.indexOf(0x0a) === -1 && range.indexOf(0x0d) === -1 && range.indexOf(0x20) === -1 && range.indexOf(0x09) === -1) return range;
  const digits = Buffer.allocUnsafe(range.length);
  let at = 0;
  for (let i = 0; i < range.length; i++) {
    const byte = range[i] as number;
    if (BYTE_CLASS[byte] === 1) digits[at++] = byte;
  }
  return digits.subarray(0, at);
}

/** Decoded in slices this long (a multiple of 4), each a short-lived string. */
const DECODE_SLICE = 64 * 1024;
/** Encoded in slices this long (a multiple of 3). */
const ENCODE_SLICE = 48 * 1024;

/**
 * Decodes a set-aside value, or says why it is not canonical base64 (the same rules as for one read
 * as text: one spelling only).
 */
export function decodeSetAside(body: Buffer, start: number, end: number): Buffer | string {
  const digits = digitsOf(body, start, end);
  if (digits.length % 4 !== 0) return 'length is not a multiple of 4 (missing padding?)';
  const firstPad = digits.indexOf(0x3d);
  let pads = 0;
  if (firstPad !== -1) {
    pads = digits.length - firstPad;
    if (pads > 2 || (pads === 2 && digits[digits.length - 1] !== 0x3d)) return 'has "=" padding in the wrong place';
    const last = base64Digit(digits[firstPad - 1] as number);
    if ((pads === 2 && (last & 0x0f) !== 0) || (pads === 1 && (last & 0x03) !== 0)) return 'is not canonical (non-zero bits before the padding)';
  }
  const decoded = Buffer.allocUnsafe((digits.length / 4) * 3 - pads);
  let written = 0;
  for (let at = 0; at < digits.length; at += DECODE_SLICE) {
    written += decoded.write(digits.toString('latin1', at, Math.min(at + DECODE_SLICE, digits.length)), written, 'base64');
  }
  return decoded;
}

export function base64Length(value: Buffer): number {
  return Math.ceil(value.length / 3) * 4;
}

/** Writes value as base64 text into target at offset, without a string of its whole length; returns the bytes written. */
export function writeBase64(value: Buffer, target: Buffer, offset: number): number {
  let written = 0;
  for (let at = 0; at < value.length; at += ENCODE_SLICE) {
    written += target.write(value.toString('base64', at, Math.min(at + ENCODE_SLICE, value.length)), offset + written, 'latin1');
  }
  return written;
}

export function base64Digit(code: number): number {
  if (code >= 0x41 && code <= 0x5a) return code - 0x41;
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 26;
  if (code >= 0x30 && code <= 0x39) return code - 0x30 + 52;
  return code === 0x2b ? 62 : 63;
}
