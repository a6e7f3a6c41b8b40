/**
 * What the listener writes back. SCGI has no response format of its own; clients expect the
 * CGI-style head rtorrent writes (protocol.md §3.1: `Status: 200 OK`, Content-Type,
 * Content-Length, blank line), and Flood and ruTorrent parse nothing else.
 */
import { STATUS_CODES } from 'node:http';
import type { GatewayError } from '../errors.js';
import { answerHeaders, type ResponseHead } from '../upstream/response-head.js';
import { encodeFaultResponse } from '../xmlrpc/encode.js';

const CRLF = '\r\n';

/** "content-type" → "Content-Type": response-head.ts lower-cases names, rtorrent writes them this way. */
function canonicalName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

function statusLine(status: number, reason?: string): string {
  const text = reason ?? STATUS_CODES[status] ?? '';
  return text === '' ? `Status: ${status}` : `Status: ${status} ${text}`;
}

function withBody(status: number, contentType: string, body: Buffer, extra: Readonly<Record<string, string>> = {}): Buffer {
  let head = `${statusLine(status)}${CRLF}Content-Type: ${contentType}${CRLF}Content-Length: ${body.length}${CRLF}`;
  for (const [name, value] of Object.entries(extra)) head += `${name}: ${value}${CRLF}`;
  return Buffer.concat([Buffer.from(head + CRLF, 'latin1'), body]);
}

/**
 * A refusal the way rtorrent answers a bad call: 200 with an XML-RPC fault, which Flood and
 * ruTorrent show to the user with its message.
 */
export function faultAnswer(error: GatewayError): Buffer {
  return withBody(200, 'text/xml', encodeFaultResponse(error.faultCode, error.message));
}

/**
 * A refusal below XML-RPC (framing, size, timeouts, rtorrent unreachable): a status and a line
 * of text, as nginx answers an HTTP client in the same situations.
 */
export function textAnswer(status: number, message: string, headers?: Readonly<Record<string, string>>): Buffer {
  return withBody(status, 'text/plain; charset=utf-8', Buffer.from(`${message}\n`, 'utf8'), headers);
}

/** rtorrent's own head, re-serialised byte for byte in rtorrent's layout. */
export function relayedHead(head: ResponseHead): Buffer {
  let out = statusLine(head.status, head.reason) + CRLF;
  for (const [name, value] of answerHeaders(head)) out += `${canonicalName(name)}: ${value}${CRLF}`;
  return Buffer.from(out + CRLF, 'latin1');
}
