import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ReplicaManager } from '../replicas/manager.js';
import type { Forwarder } from '../proxy/forwarder.js';
import type { LbMetrics } from '../metrics.js';
import { AdminError } from '../replicas/errors.js';
import { errorHandler } from './errors.js';
import { failure } from './failure.js';
import { membershipBody, replicaList, type MembershipBody } from './schemas.js';
import { registerDashboard } from '../dashboard/routes.js';
import { frontDoorServer } from './server.js';
import type { TrafficStats } from '../dashboard/stats.js';
import type { DashboardConfig } from '../dashboard/snapshot.js';

export interface AppOptions {
  readonly manager: ReplicaManager;
  readonly forwarder: Forwarder;
  readonly metrics: LbMetrics;
  readonly log: Logger;
  readonly adminToken: string | undefined;
  readonly requestTimeoutMs: number;
  readonly dashboard: { readonly stats: TrafficStats; readonly config: DashboardConfig };
}

/** Paths the LB answers itself and never forwards, with the methods each takes. */
const OWN_PATHS: Readonly<Record<string, string>> = {
  rep: 'GET',
  add: 'POST',
  rm: 'DELETE',
  metrics: 'GET',
  dashboard: 'GET',
};

const ADMIN_BODY_LIMIT = 16 * 1024;

export function buildApp(options: AppOptions): FastifyInstance {
  const { manager, forwarder, metrics, log } = options;
  let closing = false;
  const app = Fastify({
    serverFactory: frontDoorServer({
      isOwn: (url) => ownPathMethod(url) !== undefined,
      forward: (req, res) => forwarder.forward(req, res),
      closing: () => closing,
    }),
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ADMIN_BODY_LIMIT,
    // Slow or stalled clients cannot hold a connection forever.
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: 2 * options.requestTimeoutMs,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.setErrorHandler(errorHandler);
  // Admin bodies are JSON only; the proxy scope below takes any type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);

  const replicasReply = (names: string[]) => ({ message: { N: names.length, replicas: names }, status: 'successful' });
  const admin = adminGuard(options.adminToken);

  app.get('/rep', { schema: { response: replicaList } }, async () => replicasReply(manager.names()));

  app.post<{ Body: MembershipBody }>(
    '/add',
    { onRequest: admin, schema: { body: membershipBody, response: replicaList } },
    async (request) => replicasReply(await manager.add(request.body.n, request.body.hostnames ?? [])),
  );

  app.delete<{ Body: MembershipBody }>(
    '/rm',
    { onRequest: admin, schema: { body: membershipBody, response: replicaList } },
    async (request) => replicasReply(await manager.remove(request.body.n, request.body.hostnames ?? [])),
  );

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  registerDashboard(app, { manager, ...options.dashboard });

  // The server hands Fastify only the LB's own paths; the rest of each of them is answered here.
  // (Forwarded paths reach this only through app.inject, which bypasses the server.)
  app.register(async (own) => {
    own.removeAllContentTypeParsers();
    own.addContentTypeParser('*', (_request, _payload, done) => done(null));
    own.all('/*', async (request, reply) => {
      const allowed = ownPathMethod(request.url);
      if (allowed === request.method) return notFound(request, reply);
      if (allowed !== undefined) return methodNotAllowed(request, reply, allowed);
      reply.hijack();
      forwarder.forward(request.raw, reply.raw);
    });
  });
  return app;
}

/**
 * Plain JSON.parse keeps its precise syntax message, and creates `__proto__` as
 * an own key (no pollution) that the schema then refuses as an unknown field.
 */
function parseJsonBody(_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) {
  const text = body.toString();
  if (text.trim() === '') return done(new AdminError('<Error> Request body is empty; send a JSON object'));
  try {
    done(null, JSON.parse(text));
  } catch (error) {
    done(new AdminError(`<Error> Request body is not valid JSON: ${(error as Error).message}`));
  }
}

/** The method an LB-owned path takes, if the URL is one of them. Runs on every request: no regex, no split. */
function ownPathMethod(url: string): string | undefined {
  let end = 1;
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  const first = url.slice(1, end);
  return Object.hasOwn(OWN_PATHS, first) ? OWN_PATHS[first] : undefined;
}

/** An LB-owned path (e.g. under /dashboard/) that does not exist: never forwarded. */
function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?', 1)[0];
  return reply.code(404).send(failure(`<Error> '${path}' does not exist on the load balancer`));
}

function methodNotAllowed(request: FastifyRequest, reply: FastifyReply, allowed: string): FastifyReply {
  const path = request.url.split('?', 1)[0];
  return reply
    .code(405)
    .header('allow', allowed)
    .send(failure(`<Error> ${request.method} is not allowed on '${path}'; use ${allowed}`));
}

/** `Authorization: Bearer <token>` when a token is configured; compared in constant time. */
function adminGuard(token: string | undefined) {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = token === undefined ? undefined : digest(token);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!timingSafeEqual(digest(given), expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(failure('<Error> Missing or wrong admin token (send Authorization: Bearer <ADMIN_TOKEN>)'));
    }
  };
}
