// The raw-socket floor: what the data plane's mandated parts cost with no work of its own.
// Each client connection is paired with one upstream socket; Node's llhttp consumes both
// (as the LB's do) and each read is relayed unchanged in one write. No routing per request,
// no header rules, no pooling, no failover: not a proxy anyone should run, a lower bound.
import { createRequire } from 'node:module';
import { connect, createServer, type Socket } from 'node:net';

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: object): void;
  getCurrentBuffer(): Buffer;
  [callback: number]: (...args: never[]) => unknown;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: {
    new (): NativeParser;
    REQUEST: number;
    RESPONSE: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
  };
};

/** llhttp reads `socket` in C++; each read, parsed, is handed to `relay` as one buffer. */
function consume(kind: number, socket: Socket, relay: (bytes: Buffer) => void): void {
  const parser = new HTTPParser();
  parser.initialize(kind, {}, 16384, 0);
  parser[HTTPParser.kOnHeadersComplete] = () => 0;
  parser[HTTPParser.kOnBody] = () => undefined;
  parser[HTTPParser.kOnMessageComplete] = () => undefined;
  parser[HTTPParser.kOnExecute] = () => relay(parser.getCurrentBuffer());
  parser.consume((socket as unknown as { _handle: object })._handle);
}

const [port, ...upstreams] = process.argv.slice(2).map(Number);
let next = 0;
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: upstreams[next++ % upstreams.length]!, noDelay: true });
  const early: Buffer[] = [];
  consume(HTTPParser.REQUEST, client, (bytes) => (upstream.connecting ? early.push(bytes) : upstream.write(bytes)));
  upstream.once('connect', () => {
    consume(HTTPParser.RESPONSE, upstream, (bytes) => client.write(bytes));
    for (const bytes of early.splice(0)) upstream.write(bytes);
  });
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
}).listen(port, '127.0.0.1');
