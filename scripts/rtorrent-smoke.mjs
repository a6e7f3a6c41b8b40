// Asks a freshly started rtorrent for its version over XML-RPC and JSON-RPC, then stops it.
//   node rtorrent-smoke.mjs SOCKET VERSION     exit 0 when both answer VERSION
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [socketPath, version] = process.argv.slice(2);

function scgi(contentType, body) {
  const headers = `CONTENT_LENGTH\0${Buffer.byteLength(body)}\0SCGI\x001\0CONTENT_TYPE\0${contentType}\0`;
  return new Promise((resolve, reject) => {
    const chunks = [];
    const socket = connect(socketPath, () => socket.end(`${Buffer.byteLength(headers)}:${headers},${body}`));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

const xml = '<?xml version="1.0"?><methodCall><methodName>system.client_version</methodName><params></params></methodCall>';
const json = (method, id) => JSON.stringify({ jsonrpc: '2.0', method, params: [''], id });

const deadline = Date.now() + 20_000;
for (;;) {
  if (existsSync(socketPath)) {
    try {
      if ((await scgi('text/xml', xml)) !== '') break;
    } catch {
      // not listening yet
    }
  }
  if (Date.now() > deadline) throw new Error(`rtorrent did not answer on ${socketPath} within 20 s`);
  await sleep(100);
}
const overXml = await scgi('text/xml', xml);
const overJson = await scgi('application/json', json('system.client_version', 1));
if (!overXml.includes(`<string>${version}</string>`)) throw new Error(`XML-RPC answered: ${overXml}`);
if (!overJson.includes(`"result":"${version}"`)) throw new Error(`JSON-RPC answered: ${overJson}`);
// rtorrent aborts when stopped within about half a second of starting.
await sleep(1000);
await scgi('application/json', json('system.shutdown.normal', 2));
console.log(`rtorrent ${version} answers over XML-RPC and JSON-RPC`);
