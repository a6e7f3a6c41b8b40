/**
 * An SCGI peer in front of rtorrent's socket, run as a process of its own so its CPU is its own:
 *
 *   node --import tsx bench/scgi-peer.ts --socket PATH --upstream PATH [--answer FILE --match TEXT] [--add NAME=VALUE]...
 *
 * A request whose body contains TEXT is answered with FILE's bytes, as rtorrent answers (Status,
 * Content-Type text/xml, Content-Length): a large answer served many times a second without
 * rtorrent building it each time, so the bench measures what sits between client and rtorrent.
 * Every other request (the gateway's version and shape probes, health checks) goes on to rtorrent,
 * with the --add pairs appended to its head (ACCEPT_ENCODING=gzip makes rtorrent ≥ 0.16.12
 * compress). Prints "ready" once it listens.
 */
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    upstream: { type: 'string' },
    answer: { type: 'string' },
    match: { type: 'string' },
    add: { type: 'string', multiple: true, default: [] },
  },
});
if (values.socket === undefined || values.upstream === undefined || (values.answer === undefined) !== (values.match === undefined)) {
  throw new Error('usage: scgi-peer.ts --socket PATH --upstream PATH [--answer FILE --match TEXT] [--add NAME=VALUE]...');
}
const upstream = values.upstream;
const match = values.match === undefined ? undefined : Buffer.from(values.match);
const answer =
  values.answer === undefined
    ? undefined
    : (() => {
        const body = readFileSync(values.answer);
        return Buffer.concat([Buffer.from(`Status: 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
      })();
const added = values.add.map((pair) => {
  const at = pair.indexOf('=');
  if (at <= 0) throw new Error(`--add ${pair}: expected NAME=VALUE`);
  return `${pair.slice(0, at)}\0${pair.slice(at + 1)}\0`;
});

/** The whole request (netstring head and CONTENT_LENGTH bytes), once it is all there. */
function complete(buffer: Buffer): { head: Buffer; body: Buffer } | undefined {
  const colon = buffer.indexOf(0x3a);
  if (colon < 0) return undefined;
  const length = Number(buffer.toString('latin1', 0, colon));
  if (buffer.length < colon + 2 + length) return undefined;
  const head = buffer.subarray(colon + 1, colon + 1 + length);
  const contentLength = Number(/^CONTENT_LENGTH\0(\d+)\0/.exec(head.toString('latin1'))?.[1] ?? 0);
  const bodyStart = colon + 2 + length;
  if (buffer.length < bodyStart + contentLength) return undefined;
  return { head, body: buffer.subarray(bodyStart, bodyStart + contentLength) };
}

function serve(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const request = complete(buffered);
    if (request === undefined) return;
    socket.off('data', onData);
    if (answer !== undefined && match !== undefined && request.body.includes(match)) {
      socket.end(answer);
      return;
    }
    const head = Buffer.concat([request.head, Buffer.from(added.join(''), 'latin1')]);
    const onward = connect({ path: upstream });
    onward.on('error', () => socket.destroy());
    socket.on('close', () => onward.destroy());
    onward.end(Buffer.concat([Buffer.from(`${head.length}:`), head, Buffer.from(','), request.body]));
    onward.pipe(socket);
  };
  socket.on('data', onData);
}

rmSync(values.socket, { force: true });
const server = createServer(serve);
server.listen(values.socket, () => {
  // nginx's workers may run as another user; connecting needs write permission on the socket.
  chmodSync(values.socket as string, 0o777);
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
