import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';

/** Largest message echoed (a test sends 1 MiB). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * `GET /ws` with a WebSocket upgrade (the `ws` package): on open one text message
 * `{"server": "<id>"}`, then every message echoed back as it came (text or binary). An upgrade of
 * any other path is a 404; a plain GET /ws a 426. On close, open sockets get 1001 (going away).
 */
export function registerWebSocket(app: FastifyInstance, id: string): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ server: id }));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => ws.terminate());
  });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (request.url?.split('?')[0] !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });
  app.get('/ws', async (_request, reply) =>
    reply
      .code(426)
      .header('upgrade', 'websocket')
      .send({ message: '<Error> /ws needs a WebSocket upgrade', status: 'failure' }),
  );
  app.addHook('preClose', async () => {
    for (const ws of wss.clients) ws.close(1001, 'server going away');
    wss.close();
  });
}
