import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FastifyServerFactory } from 'fastify';

export interface FrontDoor {
  /** Whether the URL is one of the LB's own paths (Fastify answers those). */
  isOwn(url: string): boolean;
  /** Relays anything else to a replica. */
  forward(req: IncomingMessage, res: ServerResponse): void;
  /** True once shutdown began: answers still go out, but each closes its connection. */
  closing(): boolean;
}

/**
 * The HTTP server under Fastify. Forwarded requests skip Fastify's per-request work
 * (routing, hooks, request and reply objects), which was a third of the LB's CPU per
 * forwarded request; the admin API, metrics and dashboard stay Fastify routes.
 */
export function frontDoorServer(door: FrontDoor): FastifyServerFactory<Server> {
  return (fastifyHandler, fastifyOptions) => {
    const options = fastifyOptions as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
    const server = createServer((req, res) => {
      if (door.isOwn(req.url!)) return fastifyHandler(req, res);
      // Clients reconnect elsewhere instead of receiving a 503 for a request we can still serve.
      if (door.closing()) res.shouldKeepAlive = false;
      door.forward(req, res);
    });
    // What Fastify does for a server it creates itself.
    server.keepAliveTimeout = options.keepAliveTimeout;
    server.requestTimeout = options.requestTimeout;
    server.setTimeout(options.connectionTimeout);
    return server;
  };
}
