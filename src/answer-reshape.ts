import { UpstreamError } from './errors.js';
import type { AnswerShape, CallReshape } from './policy/scope.js';
import type { ResponseHead } from './upstream/response-head.js';
import type { ScgiResponse } from './upstream/scgi-client.js';
import { arrayItems, memberValue } from './jsonrpc/answer-ranges.js';
import { multicallAnswerRanges } from './xmlrpc/answer-members.js';
import { decodeMethodResponse } from './xmlrpc/response.js';
import { spliced, type TextRange } from './xmlrpc/text-range.js';

/**
 * A tenant's download_list or view.size is sent as a d.multicall.filtered of d.hash= on their own
 * torrents (policy/scope.ts); its answer, one row per torrent, is turned back into what the client
 * asked for: the list of hashes, or their number. This holds for the call itself, for members of its
 * system.multicall, and for calls of a JSON-RPC batch; every other answer in the same body is kept
 * byte for byte. Faults and errors pass as rtorrent sent them.
 */

/**
 * For a JSON-RPC batch, by the call's place among the answers: rtorrent answers every call with an
 * id, in order, and none without.
 */
export type AnswerReshape = { readonly call: CallReshape } | { readonly batch: ReadonlyMap<number, CallReshape> };

/**
 * A list of 40-hex hashes is about 60 bytes a torrent on the wire: far below this for any rtorrent.
 * The caller's answer limit bounds it first where it is lower.
 */
const MAX_ROWS_ANSWER_BYTES = 64 * 1024 * 1024;

function hashesOf(rows: unknown): string[] {
  const hashes: string[] = [];
  if (!Array.isArray(rows)) throw new Error('rtorrent did not answer the list with rows');
  for (const row of rows) {
    if (!Array.isArray(row) || typeof row[0] !== 'string') throw new Error('rtorrent did not answer the list with rows');
    hashes.push(row[0]);
  }
  return hashes;
}

function xmlValue(shape: AnswerShape, rows: unknown): string {
  const hashes = hashesOf(rows);
  // Hashes are 40 hex characters: nothing in them needs escaping.
  return shape === 'count' ? `<value><i8>${hashes.length}</i8></value>` : `<value><array><data>${hashes.map((hash) => `<value><string>${hash}</string></value>`).join('')}</data></array></value>`;
}

function xmlResponse(value: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param>${value}</param></params></methodResponse>\n`;
}

function reshapeXml(body: Buffer, plan: CallReshape): Buffer {
  const xml = body.toString('utf8');
  const decoded = decodeMethodResponse(xml);
  if (!decoded.ok) return body;
  if ('whole' in plan) return Buffer.from(xmlResponse(xmlValue(plan.whole, decoded.value)));
  const ranges = multicallAnswerRanges(xml);
  const replacements = [...plan.members].flatMap(([position, shape]) => {
    const range = ranges[position];
    if (range === undefined) throw new Error(`system.multicall answer ${position + 1} is missing`);
    const member = decodeMethodResponse(xmlResponse(xml.slice(range.start, range.end)));
    // A member that failed is a fault struct: it passes as it is.
    if (!member.ok || !Array.isArray(member.value)) return [];
    return [{ ...range, text: `<value><array><data>${xmlValue(shape, member.value[0])}</data></array></value>` }];
  });
  return Buffer.from(spliced(xml, replacements));
}

function jsonValue(shape: AnswerShape, rows: unknown): string {
  const hashes = hashesOf(rows);
  return JSON.stringify(shape === 'count' ? hashes.length : hashes);
}

/** One JSON-RPC response object with its result (or members of it) turned back; an error passes. */
function reshapeJsonResponse(text: string, from: number, plan: CallReshape): Array<TextRange & { text: string }> {
  const result = memberValue(text, from, 'result');
  if (result === undefined) return [];
  if ('whole' in plan) return [{ ...result, text: jsonValue(plan.whole, JSON.parse(text.slice(result.start, result.end))) }];
  const items = arrayItems(text, result.start);
  // rtorrent's JSON-RPC has no system.multicall: its answer is an error object, which passes.
  if (items === undefined) return [];
  return [...plan.members].flatMap(([position, shape]) => {
    const item = items[position];
    if (item === undefined) throw new Error(`system.multicall answer ${position + 1} is missing`);
    const member: unknown = JSON.parse(text.slice(item.start, item.end));
    return Array.isArray(member) ? [{ ...item, text: `[${jsonValue(shape, member[0])}]` }] : [];
  });
}

function reshapeJson(body: Buffer, plan: AnswerReshape): Buffer {
  const text = body.toString('utf8');
  JSON.parse(text);
  if ('call' in plan) return Buffer.from(spliced(text, reshapeJsonResponse(text, 0, plan.call)));
  // An answer that is not an array (rtorrent's one error for a batch it could not read or answer) passes as it is.
  const responses = arrayItems(text);
  if (responses === undefined) return body;
  const replacements = [...plan.batch].flatMap(([position, call]) => {
    const response = responses[position];
    if (response === undefined) throw new Error(`the batch's answer ${position + 1} is missing`);
    return reshapeJsonResponse(text, response.start, call);
  });
  return Buffer.from(spliced(text, replacements));
}

/** The head with the new length: rtorrent's Content-Length described the rows. */
function headFor(head: ResponseHead, length: number): ResponseHead {
  return { ...head, contentLength: length, headers: head.headers.map(([name, value]) => (name === 'content-length' ? [name, String(length)] : [name, value])) };
}

/** rtorrent's answer to the rewritten call, as the answer to the call the client made. */
export async function reshapedAnswer(response: ScgiResponse, plan: AnswerReshape, json: boolean, where: string, answerLimit: number | undefined): Promise<ScgiResponse> {
  // An answer without Content-Length is read no further than the caller may receive.
  const readLimit = Math.min(MAX_ROWS_ANSWER_BYTES, answerLimit ?? MAX_ROWS_ANSWER_BYTES);
  const body = response.kind === 'whole' ? response.body : await response.body.readAll(readLimit);
  if (body === undefined) throw new UpstreamError('GW_ANSWER_TOO_LARGE', where, `rtorrent at ${where} answered a tenant's call with more than ${readLimit} bytes, past what the gateway reads to narrow it`);
  if (response.head.status !== 200) return { kind: 'whole', head: response.head, body };
  let reshaped: Buffer;
  try {
    if (json) reshaped = reshapeJson(body, plan);
    else if ('call' in plan) reshaped = reshapeXml(body, plan.call);
    else throw new Error('an XML-RPC answer has no batch');
  } catch (error) {
    throw new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `rtorrent at ${where} answered a tenant's list in a shape the gateway cannot read: ${(error as Error).message}`);
  }
  return { kind: 'whole', head: headFor(response.head, reshaped.length), body: reshaped };
}
