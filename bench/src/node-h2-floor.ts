// The HTTP/2 floor: node:http2's core stream API answering every stream itself (no replica, no
// routing). What node:http2 costs per stream before a proxy does any work.
import { createServer } from 'node:http2';

const port = Number(process.argv[2]);
const server = createServer();
server.on('stream', (stream) => {
  stream.on('error', () => undefined);
  stream.respond({ ':status': 200, 'content-type': 'application/json; charset=utf-8' });
  stream.end('{"message":"Hello from Server: Server-1","status":"successful"}');
});
server.listen(port, '127.0.0.1');
