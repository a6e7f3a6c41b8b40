import { compareVersions, parseVersion } from '../rtorrent-version.js';

/**
 * The largest SCGI body (CONTENT_LENGTH) each rtorrent release reads. Past it rtorrent closes the
 * connection without a word (v0.9.8:src/rpc/scgi_task.h:54 `2 << 20`; from 0.10.0 `2 << 23`,
 * src/rpc/scgi_task.h:19), so the gateway refuses such a request itself and says why.
 */
const BEFORE_0_10_BYTES = 2 * 1024 * 1024;
const SINCE_0_10_BYTES = 16 * 1024 * 1024;

/** The smallest cap of any release: a request no larger never needs the release to be known. */
export const SMALLEST_SCGI_BODY_LIMIT = BEFORE_0_10_BYTES;

/**
 * The cap for a release; for one that could not be asked, the largest any release takes (a 0.9.8
 * that does not answer its version is not answering calls either).
 */
export function scgiBodyLimit(version: string | undefined): number {
  if (version === undefined || parseVersion(version) === undefined) return SINCE_0_10_BYTES;
  return compareVersions(version, '0.10.0') < 0 ? BEFORE_0_10_BYTES : SINCE_0_10_BYTES;
}
