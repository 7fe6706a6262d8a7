import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';

/** A request as a node:http server sees it. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly body: Buffer;
}

/** A plain node:http server that records every request it gets and answers 200 "ok". */
export async function recordingServer(): Promise<{ server: Server; port: number; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, url: `http://127.0.0.1:${port}`, seen };
}

/**
 * Writes `bytes` on a new connection (its write side stays open: a half-close means the
 * client left) and collects what comes back until the server closes or is quiet for `quietMs`.
 */
export function rawExchange(
  port: number,
  bytes: Buffer | string,
  quietMs = 120,
  totalMs = 3000,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout;
    const done = (closed: boolean) => {
      clearTimeout(quiet);
      clearTimeout(total);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const total = setTimeout(() => done(false), totalMs);
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => done(false), quietMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(bytes);
      arm();
    });
  });
}

/** Status codes of every response in a byte stream (pipelined answers included). */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}
