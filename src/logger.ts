import pino, { type DestinationStream, type Logger } from 'pino';
import { formatTextLine } from './log-text.js';

/** A buffered line waits at most this long, so `journalctl -f` still shows calls as they happen. */
export const LOG_FLUSH_INTERVAL_MS = 100;
/** Lines are written once this much has gathered (or at the interval, whichever comes first). */
const LOG_BUFFER_BYTES = 8 * 1024;

/** "json": a JSON object per line, for log shippers and jq. "text": a line a person reads (log-text.ts). */
export type LogFormat = 'json' | 'text';

export interface LogOptions {
  readonly level: string;
  readonly format: LogFormat;
}

/** Colour is for a person at a terminal: never into a pipe, a file or the journal. */
function stdoutIsColourTerminal(): boolean {
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  return process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === '';
}

/**
 * pino's isoTime, computed once per millisecond: under load many lines share one, and
 * Date#toISOString is most of a line's extra cost over epoch milliseconds.
 */
function isoTimeOncePerMillisecond(): () => string {
  let lastMs = -1;
  let lastTime = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = `,"time":"${new Date(now).toISOString()}"`;
    }
    return lastTime;
  };
}

/** Each JSON line pino writes, rewritten as text on its way into the buffer. */
function asText(destination: ReturnType<typeof pino.destination>, colour: boolean): DestinationStream & Pick<typeof destination, 'flush'> {
  return {
    write: (line: string) => destination.write(formatTextLine(line, colour)),
    // pino's logger.flush() calls the stream's, which must reach the buffer.
    flush: (callback) => destination.flush(callback),
  };
}

/**
 * Logs to stdout, buffered: one write(2) per 8 KiB or 100 ms instead of one per line, which at the
 * default level (a line per call) was a fifth of a small call's cost. pino flushes the buffer
 * synchronously when the process exits, so a clean stop loses nothing. Both formats share the
 * buffer; "text" rewrites each JSON line on its way into it, in-process (no worker thread, no
 * dependency beyond pino), with colour only for a terminal: files and the journal get plain text.
 */
export function createLogger(options: LogOptions): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  const flusher = setInterval(() => destination.flush(), LOG_FLUSH_INTERVAL_MS);
  flusher.unref();
  destination.once('close', () => clearInterval(flusher));
  const stream = options.format === 'text' ? asText(destination, stdoutIsColourTerminal()) : destination;
  return pino(
    {
      level: options.level,
      base: { name: 'rtorrent-gateway' },
      timestamp: isoTimeOncePerMillisecond(),
      // pino turns this into a fixed string per level once, at creation: labels cost nothing per line.
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
