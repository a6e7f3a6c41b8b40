/**
 * What a call may contain, whichever wire carried it: the XML-RPC and JSON-RPC parsers and encoders
 * all read these, so the two wires accept and produce exactly the same calls.
 */

/**
 * The XML-RPC spec's method name alphabet. rtorrent treats whitespace as part of the name, so
 * ' d.name' is a different (undefined) command: refusing it beats trimming it into a checked one.
 */
export const METHOD_NAME_RE = /^[A-Za-z0-9_.:/]+$/;

/** The range of rtorrent's 64-bit integers (<i8>, JSON numbers). */
export const I8_MIN = -(1n << 63n);
export const I8_MAX = (1n << 63n) - 1n;

/** The range of <i4>/<int>. */
export const I4_MIN = -2147483648;
export const I4_MAX = 2147483647;
