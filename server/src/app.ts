import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { registerKv } from './kv.js';
import { registerWebSocket } from './ws.js';

export interface ServerOptions {
  /** The replica's name, as the load balancer's `/rep` lists it. */
  readonly id: string;
  /** A pino logger; none by default (tests). */
  readonly logger?: FastifyBaseLogger;
}

const homeResponse = {
  200: {
    type: 'object',
    properties: { message: { type: 'string' }, status: { type: 'string' } },
  },
} as const;

/**
 * The replica: `/home`, `/heartbeat`, `/ws` (WebSocket echo), `/kv/:key` (a key-value store that
 * hands its keys over, `/lb/handoff`), and a JSON 404 for everything else.
 */
export function buildServer({ id, logger }: ServerOptions): FastifyInstance {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : {}),
    logController: new LogController({ disableRequestLogging: true }),
    // A request already sent on an open connection when SIGTERM arrives is in flight: serve it.
    // (The LB takes a replica out of the ring before stopping it, so no new ones come.)
    return503OnClosing: false,
  });
  const home = { message: `Hello from Server: ${id}`, status: 'successful' };

  app.get('/home', { schema: { response: homeResponse } }, async () => home);
  app.get('/heartbeat', async (_request, reply) => reply.code(200).send());
  registerWebSocket(app, id);
  registerKv(app, id);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ message: `<Error> '${request.url}' not found on ${id}`, status: 'failure' });
  });
  return app;
}
