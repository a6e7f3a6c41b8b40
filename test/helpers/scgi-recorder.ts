/**
 * A pass-through in front of a real rtorrent's SCGI socket that notes the SCGI header pairs of each
 * request it relays, so a test can see what the gateway sent (UNTRUSTED_CONNECTION…) while the real
 * rtorrent answers. Bytes go through untouched, both ways.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './processes.js';

export interface ScgiRecorder {
  readonly socketPath: string;
  /** The header pairs of each request, in order. */
  readonly requests: Array<Array<[string, string]>>;
  close(): Promise<void>;
}

function headerPairs(buffer: Buffer): Array<[string, string]> | undefined {
  const colon = buffer.indexOf(0x3a);
  if (colon < 0) return undefined;
  const length = Number(buffer.subarray(0, colon).toString('latin1'));
  if (buffer.length < colon + 1 + length) return undefined;
  const fields = buffer.subarray(colon + 1, colon + 1 + length).toString('latin1').split('\0');
  fields.pop();
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
  return pairs;
}

export async function startScgiRecorder(targetSocket: string): Promise<ScgiRecorder> {
  const dir = makeTempDir('scgi-recorder');
  const socketPath = join(dir, 'scgi.socket');
  const requests: Array<Array<[string, string]>> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ path: targetSocket });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    let head: Buffer | undefined = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const pairs = headerPairs(head);
        if (pairs !== undefined) {
          requests.push(pairs);
          head = undefined;
        }
      }
      upstream.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeTempDir(dir);
    },
  };
}
