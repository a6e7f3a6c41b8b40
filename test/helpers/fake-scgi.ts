import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SHAPE_PROBE } from '../../src/upstream/shape.js';
import { VERSION_PROBE } from '../../src/upstream/version.js';
import { makeTempDir, removeTempDir } from './processes.js';

/**
 * A tiny SCGI peer for the faults a real rtorrent cannot be made to show (garbage heads, bodies
 * cut short, slow trickles). It reads one request (netstring head + CONTENT_LENGTH bytes),
 * records it, and lets the test script the answer. The gateway's own probes are answered the way
 * rtorrent answers them, and are neither recorded nor scripted: its version (src/upstream/version.ts,
 * asked before a call may be marked untrusted) and its shape (src/upstream/shape.ts, asked before a
 * multicall is weighed), for a handful of one-file torrents.
 */
export interface FakeScgiRequest {
  readonly headers: Array<[string, string]>;
  readonly body: Buffer;
}

export interface FakeScgiServer {
  readonly socketPath: string;
  readonly requests: FakeScgiRequest[];
  close(): Promise<void>;
}

export type FakeScgiHandler = (socket: Socket, request: FakeScgiRequest) => void;

function tryParse(buffer: Buffer): FakeScgiRequest | undefined {
  const colon = buffer.indexOf(0x3a);
  if (colon < 0) return undefined;
  const length = Number(buffer.subarray(0, colon).toString('latin1'));
  if (buffer.length < colon + 1 + length + 1) return undefined;
  const fields = buffer.subarray(colon + 1, colon + 1 + length).toString('latin1').split('\0');
  fields.pop();
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) headers.push([fields[i] as string, fields[i + 1] as string]);
  const contentLength = Number(headers.find(([name]) => name === 'CONTENT_LENGTH')?.[1] ?? 0);
  const bodyStart = colon + 1 + length + 1;
  if (buffer.length < bodyStart + contentLength) return undefined;
  return { headers, body: buffer.subarray(bodyStart, bodyStart + contentLength) };
}

export interface FakeScgiOptions {
  /** What the gateway's own version probe is told (src/upstream/version.ts); default "0.9.8". */
  readonly version?: string;
  /** Listen here instead of in a temp dir of its own (a peer coming back where another was). */
  readonly socketPath?: string;
  /** false: the gateway's probes go to the handler and are recorded like any call (for relayTo). */
  readonly answerProbes?: boolean;
}

export async function startFakeScgi(handler: FakeScgiHandler, options: FakeScgiOptions = {}): Promise<FakeScgiServer> {
  const versionAnswer = `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n<params>\n<param><value><string>${options.version ?? '0.9.8'}</string></value></param>\n</params>\n</methodResponse>\n`;
  let dir = options.socketPath === undefined ? makeTempDir('fake-scgi') : undefined;
  const socketPath = options.socketPath ?? join(dir as string, 'scgi.socket');
  if (options.socketPath !== undefined) {
    // The peer that was there may have taken its directory with it: recreate it, and remove it after.
    if (!existsSync(dirname(socketPath))) {
      mkdirSync(dirname(socketPath), { recursive: true });
      dir = dirname(socketPath);
    }
    rmSync(socketPath, { force: true });
  }
  const requests: FakeScgiRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let handled = false;
    socket.on('data', (chunk: Buffer) => {
      if (handled) return;
      buffered = Buffer.concat([buffered, chunk]);
      const request = tryParse(buffered);
      if (!request) return;
      handled = true;
      if (options.answerProbes !== false && request.body.equals(SHAPE_PROBE)) {
        socket.end(rtorrentStyleReply(SHAPE_ANSWER.replace('0.9.8', options.version ?? '0.9.8')));
        return;
      }
      if (options.answerProbes !== false && request.body.equals(VERSION_PROBE)) {
        socket.end(rtorrentStyleReply(versionAnswer));
        return;
      }
      requests.push(request);
      handler(socket, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir !== undefined) await removeTempDir(dir);
      else rmSync(socketPath, { force: true });
    },
  };
}

const one = (value: string): string => `<value><array><data><value>${value}</value></data></array></value>`;
/** rtorrent 0.9.8's answer to the shape probe: 5 torrents, one file and tracker each, 200 peers, 4 pieces. */
const SHAPE_ANSWER =
  '<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n<params>\n<param><value><array><data>\n' +
  [one('<string>0.9.8</string>'), one('<i8>5</i8>'), one('<i8>1</i8>'), one('<i8>1</i8>'), one('<i8>200</i8>'), one('<i8>4</i8>')].join('\n') +
  '\n</data></array></value></param>\n</params>\n</methodResponse>\n';

/**
 * A handler that passes each request on to a real rtorrent's socket and its answer back, so a test
 * can read what the gateway sent while the real thing answers.
 */
export function relayTo(targetSocket: string): FakeScgiHandler {
  return (socket, request) => {
    const head = Buffer.from(request.headers.map(([name, value]) => `${name}\0${value}\0`).join(''), 'latin1');
    const upstream = connect({ path: targetSocket });
    upstream.on('error', () => socket.destroy());
    upstream.end(Buffer.concat([Buffer.from(`${head.length}:`), head, Buffer.from(','), request.body]));
    upstream.pipe(socket);
  };
}

export function rtorrentStyleReply(body: string | Buffer): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${bytes.length}\r\n\r\n`), bytes]);
}
