import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { ConfigError } from '../config.js';
import { LbError, pathOf, toFailure } from '../contract/errors.js';
import { ownPathMethod } from '../contract/paths.js';
import { registerDashboard } from '../dashboard/routes.js';
import type { DashboardSources } from '../dashboard/snapshot.js';
import type { ChangeFeed } from '../membership/changes.js';
import type { ReplicaManager } from '../replicas/manager.js';
import { addRequest } from './admin-input.js';
import { errorHandler } from './errors.js';
import { registerKeyspace } from './keyspace-routes.js';
import { type AddBody, addBody, type MembershipBody, membershipBody, replicaList } from './schemas.js';

/** The configuration as the admin routes see it: its versions, and reloads (composition/reload.ts). */
export interface ConfigVersions {
  readonly version: number;
  effective(): unknown;
  /** The run-time settings data planes apply, with the membership. */
  published(): unknown;
  reload(): Promise<unknown>;
  on(event: 'applied', listener: () => void): unknown;
}

export interface AppOptions {
  readonly manager: ReplicaManager;
  /** The Prometheus text of /metrics. */
  readonly metricsText: () => Promise<string>;
  readonly log: Logger;
  readonly adminToken: string | undefined;
  readonly requestTimeoutMs: number;
  /** Longer than the data plane keeps a pooled connection to this app idle, so the pool closes it first. */
  readonly keepAliveTimeoutMs: number;
  readonly dashboard: DashboardSources;
  /** The configuration, its versions and reloads. */
  readonly config: ConfigVersions;
  /** The key space's changes (GET /membership/changes). */
  readonly feed: ChangeFeed;
}

const ADMIN_BODY_LIMIT = 16 * 1024;
/** Longest a membership long poll is held open. */
const MAX_MEMBERSHIP_WAIT_MS = 30_000;

export function buildApp(options: AppOptions): FastifyInstance {
  const { manager, metricsText, log, config } = options;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ADMIN_BODY_LIMIT,
    // Slow or stalled clients cannot hold a connection forever.
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    // Its only client is the data plane, on an internal socket: no idle cut (a long /add is silent).
    connectionTimeout: 0,
    // Requests reach this app through the data plane, which drains client connections itself.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.setErrorHandler(errorHandler);
  // Admin bodies are JSON only.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);

  const replicasReply = (names: string[]) => ({ message: { N: names.length, replicas: names }, status: 'successful' });
  const admin = adminGuard(options.adminToken);

  app.get('/rep', { schema: { response: replicaList } }, async () => replicasReply(manager.names()));

  app.post<{ Body: AddBody }>(
    '/add',
    { onRequest: admin, schema: { body: addBody, response: replicaList } },
    async (request) => {
      const { n, hostnames, weight } = addRequest(request.body);
      return replicasReply(await manager.add(n, hostnames, weight));
    },
  );

  app.delete<{ Body: MembershipBody }>(
    '/rm',
    { onRequest: admin, schema: { body: membershipBody, response: replicaList } },
    async (request) => replicasReply(await manager.remove(request.body.n, request.body.hostnames ?? [])),
  );

  registerConfig(app, config, admin);
  registerMembership(app, manager, config);
  registerKeyspace(app, manager, options.feed);

  app.get('/metrics', async (_request, reply) => {
    reply.type(Registry.PROMETHEUS_CONTENT_TYPE);
    return metricsText();
  });

  registerDashboard(app, options.dashboard);

  // The server hands Fastify only the LB's own paths: what no route above answers is a
  // path under them that does not exist (404) or a method they do not take (405).
  app.setNotFoundHandler((request, reply) => {
    const allowed = ownPathMethod(request.url);
    const path = pathOf(request.url);
    if (allowed === undefined || allowed === request.method) {
      return fail(reply, new LbError('NOT_ON_LB', `'${path}' does not exist on the load balancer`));
    }
    return fail(
      reply.header('allow', allowed),
      new LbError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on '${path}'; use ${allowed}`),
    );
  });
  return app;
}

/**
 * Plain JSON.parse keeps its precise syntax message, and creates `__proto__` as
 * an own key (no pollution) that the schema then refuses as an unknown field.
 */
function parseJsonBody(
  _request: FastifyRequest,
  body: string | Buffer,
  done: (err: Error | null, body?: unknown) => void,
) {
  const text = body.toString();
  if (text.trim() === '') return done(new LbError('BAD_REQUEST', 'Request body is empty; send a JSON object'));
  try {
    done(null, JSON.parse(text));
  } catch (error) {
    done(new LbError('BAD_REQUEST', `Request body is not valid JSON: ${(error as Error).message}`));
  }
}

function fail(reply: FastifyReply, error: LbError): FastifyReply {
  const { status, body } = toFailure(error);
  return reply.code(status).send(body);
}

/** The token of `Authorization: Bearer <token>`; the scheme name is case-insensitive (RFC 9110 11.1). */
function bearerToken(header: string | undefined): string {
  const match = /^bearer +(.*)$/i.exec(header ?? '');
  return match ? match[1]! : '';
}

/** `Authorization: Bearer <token>` when a token is configured; compared in constant time. */
function adminGuard(token: string | undefined) {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = token === undefined ? undefined : digest(token);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const given = bearerToken(request.headers.authorization);
    if (!timingSafeEqual(digest(given), expected))
      return fail(reply.header('www-authenticate', 'Bearer'), new LbError('UNAUTHORIZED'));
  };
}

/** GET /config and POST /config/reload (admin). */
function registerConfig(app: FastifyInstance, config: ConfigVersions, admin: ReturnType<typeof adminGuard>): void {
  app.get('/config', async () => ({ message: config.effective(), status: 'successful' }));

  app.post('/config/reload', { onRequest: admin }, async () => {
    try {
      return { message: await config.reload(), status: 'successful' };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new LbError('BAD_REQUEST', `Configuration not reloaded, nothing changed: ${error.errors.join('; ')}`);
    }
  });
}

/** GET /membership: what data planes follow (a long poll). */
function registerMembership(app: FastifyInstance, manager: ReplicaManager, config: ConfigVersions): void {
  // What data-plane instances (and tools) route by: members with name, ring index and URL, and
  // the run-time settings. `?after=<epoch>:<version>&settings=<n>&wait=<ms>` is a long poll: it
  // answers once the table or the settings are newer.
  const polls = new Set<() => void>();
  const snapshot = () => ({ ...manager.snapshot(), settings: config.published() });
  // One listener answers every waiting poll (however many data planes follow, no listener each).
  const answerAll = () => {
    for (const answer of [...polls]) answer();
  };
  manager.on('routing', answerAll);
  config.on('applied', answerAll);
  app.get<{ Querystring: { after?: string; wait?: string; settings?: string } }>('/membership', (request, reply) => {
    const { after, settings } = request.query;
    const wait = Math.min(Number(request.query.wait) || 0, MAX_MEMBERSHIP_WAIT_MS);
    const settingsNewer = settings !== undefined && settings !== String(config.version);
    if (after === undefined || wait <= 0 || settingsNewer || manager.isNewerThan(after))
      return void reply.send(snapshot());
    const forget = () => {
      clearTimeout(timer);
      polls.delete(answer);
    };
    const answer = () => {
      forget();
      if (!reply.sent) reply.send(snapshot());
    };
    const timer = setTimeout(answer, wait);
    polls.add(answer);
    reply.raw.once('close', forget);
  });
  // Shutdown answers the polls waiting (their followers come back to a restarted controller).
  app.addHook('preClose', async () => {
    for (const answer of [...polls]) answer();
  });
}
