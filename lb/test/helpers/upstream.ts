import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import type { ReplicaDriver } from '../../src/replicas/driver.js';

/** What a test upstream saw: each request as it arrived, and each request the client gave up on. */
export interface UpstreamLog {
  readonly requests: {
    method: string;
    url: string;
    headers: Record<string, string | string[] | undefined>;
    rawHeaders: string[];
  }[];
  readonly abandoned: string[];
  /** Bytes /bytes has handed to its socket so far, by request URL. */
  readonly sent: Map<string, number>;
}

/**
 * A replica stand-in with paths that misbehave on purpose:
 * /echo?delay= (method, body length and digest; reads the body after `delay` ms), /bytes?n=&length= (n bytes in 16 KiB writes,
 * block k filled with byte k; chunked unless length=1), /octets?n= (n bytes, byte i = i mod 256, sized, in 100-byte writes
 * 5 ms apart), /headers (hop-by-hop and repeated
 * headers), /reset?on= (drops the connection if `on` is absent or names this replica),
 * /status?code=&on= (that replica answers `code`), /slow?ms= (answers late), /broken?n=&of= (promises `of` bytes, sends n, drops the
 * connection), /hang (never answers), /drip?ms= (a head at once, then a byte every 50 ms for `ms`: a busy connection).
 * `connections()` counts the sockets open to it now.
 */
export async function startUpstream(
  name: string,
): Promise<{ url: string; log: UpstreamLog; connections: () => Promise<number>; close: () => Promise<void> }> {
  const log: UpstreamLog = { requests: [], abandoned: [], sent: new Map() };
  // A request the LB gives up on (client left, timed out) aborts its body: not an error here.
  const server: Server = createServer((req, res) => void handle(name, log, req, res).catch(() => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    log,
    connections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(name: string, log: UpstreamLog, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url!.split('?', 1)[0];
  const query = new URL(req.url!, 'http://x').searchParams;
  if (path === '/heartbeat') return void res.end();
  log.requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
  res.on('close', () => {
    if (!res.writableFinished) log.abandoned.push(req.url!);
  });
  switch (path) {
    case '/echo': {
      // ?delay=ms: reads nothing of the body for that long (a replica slower than its client).
      if (query.has('delay')) await new Promise((r) => setTimeout(r, Number(query.get('delay'))));
      const digest = createHash('sha256');
      let length = 0;
      for await (const chunk of req) {
        digest.update(chunk);
        length += chunk.length;
      }
      const body = JSON.stringify({ replica: name, method: req.method, length, sha256: digest.digest('hex') });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    }
    case '/bytes': {
      const n = Number(query.get('n'));
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        ...(query.get('length') ? { 'content-length': n } : {}),
      });
      for (let sent = 0; sent < n && !res.destroyed; sent += 16384) {
        log.sent.set(req.url!, sent);
        if (!res.write(Buffer.alloc(Math.min(16384, n - sent), sent / 16384)))
          await new Promise((r) => res.once('drain', r));
      }
      log.sent.set(req.url!, n);
      return void res.end();
    }
    case '/octets': {
      const octets = Buffer.alloc(Number(query.get('n')));
      for (let at = 0; at < octets.length; at++) octets[at] = at % 256;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': octets.length });
      for (let at = 0; at < octets.length; at += 100) {
        res.write(octets.subarray(at, at + 100));
        await new Promise((r) => setTimeout(r, 5));
      }
      return void res.end();
    }
    case '/headers':
      return void res
        .writeHead(201, [
          'Set-Cookie',
          'a=1',
          'Set-Cookie',
          'b=2',
          'Connection',
          'x-private',
          'X-Private',
          'hop',
          'Keep-Alive',
          'timeout=5',
          'X-Served-By',
          'spoofed',
          'Content-Type',
          'text/plain',
        ])
        .end('made');
    case '/status': {
      // ?code=500&on=Server-2: that replica answers `code`, the others 200.
      const failing = !query.has('on') || query.get('on') === name;
      return void res.writeHead(failing ? Number(query.get('code')) : 200, { 'content-type': 'text/plain' }).end(name);
    }
    case '/reset':
      if (query.has('on') && query.get('on') !== name) return void res.end(JSON.stringify({ replica: name }));
      return void req.socket.destroy();
    case '/slow':
      await new Promise((r) => setTimeout(r, Number(query.get('ms'))));
      return void res.end(`slow ${name}`);
    case '/broken':
      res.writeHead(200, { 'content-length': Number(query.get('of')) });
      res.write(Buffer.alloc(Number(query.get('n')), 1));
      return void setTimeout(() => req.socket.destroy(), 20);
    case '/hang':
      return;
    case '/drip': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const until = Date.now() + Number(query.get('ms'));
      while (Date.now() < until && !res.destroyed) {
        res.write('.');
        await new Promise((r) => setTimeout(r, 50));
      }
      return void res.end();
    }
    default:
      return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"failure"}');
  }
}

/** A driver whose "replicas" are upstreams the test already started, by name. */
export class StaticDriver implements ReplicaDriver {
  readonly kind = 'static';
  private readonly running = new Set<string>();
  constructor(private readonly urls: ReadonlyMap<string, string>) {}
  async start(name: string, index: number): Promise<ReplicaHandle> {
    const url = this.urls.get(name);
    if (!url) throw new Error(`no upstream called ${name}`);
    this.running.add(name);
    return { name, index, url };
  }
  async stop(name: string): Promise<void> {
    this.running.delete(name);
  }
  async list(): Promise<ReplicaHandle[]> {
    return [];
  }
  async conflict(): Promise<string | undefined> {
    return undefined;
  }
  async close(): Promise<void> {}
}
