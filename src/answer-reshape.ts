import { UpstreamError } from './errors.js';
import type { ResponseHead } from './upstream/response-head.js';
import type { ScgiResponse } from './upstream/scgi-client.js';
import { decodeMethodResponse, type XmlRpcAnswer } from './xmlrpc/response.js';

/**
 * A tenant's download_list or view.size is sent as a d.multicall.filtered of d.hash= on their own
 * torrents (policy/scope.ts); its answer, one row per torrent, is turned back into what the client
 * asked for: the list of hashes, or their number. Faults and errors pass as rtorrent sent them.
 */
export type AnswerShape = 'hashes' | 'count';

/** A list of 40-hex hashes is about 60 bytes a torrent on the wire: far below this for any rtorrent. */
const MAX_ROWS_ANSWER_BYTES = 64 * 1024 * 1024;

function hashesOf(rows: unknown): string[] | undefined {
  if (!Array.isArray(rows)) return undefined;
  const hashes: string[] = [];
  for (const row of rows) {
    if (!Array.isArray(row) || typeof row[0] !== 'string') return undefined;
    hashes.push(row[0]);
  }
  return hashes;
}

function xmlAnswer(shape: AnswerShape, hashes: readonly string[]): Buffer {
  // Hashes are 40 hex characters: nothing in them needs escaping.
  const value = shape === 'count' ? `<i8>${hashes.length}</i8>` : `<array><data>${hashes.map((hash) => `<value><string>${hash}</string></value>`).join('')}</data></array>`;
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param><value>${value}</value></param></params></methodResponse>\n`);
}

function reshapeXml(body: Buffer, shape: AnswerShape): Buffer {
  const decoded = decodeMethodResponse(body);
  if (!decoded.ok) return body;
  const hashes = hashesOf(decoded.value as XmlRpcAnswer);
  if (hashes === undefined) throw new Error('rtorrent did not answer the list with rows');
  return xmlAnswer(shape, hashes);
}

function reshapeJson(body: Buffer, shape: AnswerShape): Buffer {
  const answer = JSON.parse(body.toString('utf8')) as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: unknown };
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer) || !('result' in answer)) return body;
  const hashes = hashesOf(answer.result);
  if (hashes === undefined) throw new Error('rtorrent did not answer the list with rows');
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: answer.id, result: shape === 'count' ? hashes.length : hashes }));
}

/** The head with the new length: rtorrent's Content-Length described the rows. */
function headFor(head: ResponseHead, length: number): ResponseHead {
  return { ...head, contentLength: length, headers: head.headers.map(([name, value]) => (name === 'content-length' ? [name, String(length)] : [name, value])) };
}

/** rtorrent's answer to the rewritten call, as the answer to the call the client made. */
export async function reshapedAnswer(response: ScgiResponse, shape: AnswerShape, json: boolean, where: string): Promise<ScgiResponse> {
  const body = response.kind === 'whole' ? response.body : await response.body.readAll(MAX_ROWS_ANSWER_BYTES);
  if (body === undefined) throw new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `rtorrent at ${where} answered a list larger than ${MAX_ROWS_ANSWER_BYTES} bytes`);
  if (response.head.status !== 200) return { kind: 'whole', head: response.head, body };
  let reshaped: Buffer;
  try {
    reshaped = json ? reshapeJson(body, shape) : reshapeXml(body, shape);
  } catch (error) {
    throw new UpstreamError('GW_UPSTREAM_BAD_RESPONSE', where, `rtorrent at ${where} answered a tenant's list in a shape the gateway cannot read: ${(error as Error).message}`);
  }
  return { kind: 'whole', head: headFor(response.head, reshaped.length), body: reshaped };
}
