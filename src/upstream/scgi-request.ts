/**
 * The SCGI request head we send: a netstring of NUL-separated pairs, CONTENT_LENGTH first.
 * rtorrent reads only CONTENT_LENGTH and CONTENT_TYPE (0.9.8 reads only the first), caps the
 * head at 2000 bytes and reads the netstring length with strtol base 0, so we keep the head
 * minimal, never copy client headers (no HTTP_*) and always write plain decimal. Never
 * ACCEPT_ENCODING either: rtorrent ≥ 0.16.12 would gzip the body without saying so, at level 6 on
 * its main thread, the one every peer and client waits on; answers are compressed by the gateway
 * instead (src/http/compression.ts; docs/hardening.md, "Compressed answers", has the measurement).
 */
export interface ScgiRequestMeta {
  readonly requestUri: string;
  readonly remoteAddr: string;
  /**
   * Mark the connection untrusted (rtorrent ≥ 0.16.9 then refuses anything off its safe list, nested
   * calls included). Older rtorrent ignores the pair. Only "1" is ever sent: 0.16.9 closes the
   * connection on "0", and leaving the pair out means trusted on every version.
   */
  readonly untrusted?: boolean;
  /** What the body is; always our own encoding, so one of exactly these two. */
  readonly contentType?: 'text/xml' | 'application/json';
}

/** rtorrent's hard limit on the netstring payload (scgi_task.h max_header_size). */
export const RTORRENT_MAX_HEADER_BYTES = 2000;

const SAFE_VALUE = /^[\x21-\x7e]*$/;

export function encodeScgiHead(bodyLength: number, meta: ScgiRequestMeta): Buffer {
  // CONTENT_TYPE is never the client's and never empty: newer rtorrent closes the connection on
  // other types and treats an empty one as "sniff for JSON-RPC"; we send only what we encoded.
  const pairs = [
    'CONTENT_LENGTH', String(bodyLength),
    'SCGI', '1',
    'REQUEST_METHOD', 'POST',
    'REQUEST_URI', SAFE_VALUE.test(meta.requestUri) ? meta.requestUri : '/RPC2',
    'SERVER_PROTOCOL', 'HTTP/1.1',
    'REMOTE_ADDR', SAFE_VALUE.test(meta.remoteAddr) ? meta.remoteAddr : '',
    'CONTENT_TYPE', meta.contentType ?? 'text/xml',
    ...(meta.untrusted ? ['UNTRUSTED_CONNECTION', '1'] : []),
  ];
  let payload = pairs.join('\0') + '\0';
  if (payload.length > RTORRENT_MAX_HEADER_BYTES) {
    // Only a pathological URI could do this; rtorrent would reset the connection.
    pairs[7] = '/RPC2';
    payload = pairs.join('\0') + '\0';
  }
  return Buffer.from(`${payload.length}:${payload},`, 'latin1');
}
