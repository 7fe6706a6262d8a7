import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type DashboardAssets, loadDashboardAssets } from './assets.js';
import { type DashboardSources, dashboardSnapshot } from './snapshot.js';

const TRAFFIC_PUSH_MS = 500;
const SECURITY = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:",
  'x-content-type-options': 'nosniff',
};

/**
 * GET /dashboard (page, app.js, app.css, state, events). The event stream pushes a
 * snapshot at once on any replica change and on a timer (twice a second) for traffic.
 */
export function registerDashboard(app: FastifyInstance, sources: DashboardSources): void {
  const clients = new Set<ServerResponse>();
  const snapshot = () => dashboardSnapshot(sources);
  let timer: NodeJS.Timeout | undefined;
  let pending = false;

  const push = () => {
    pending = false;
    if (clients.size === 0) return;
    const frame = `data: ${JSON.stringify(snapshot())}\n\n`;
    for (const client of clients) client.write(frame);
  };
  // Several changes in one tick become one frame.
  const pushSoon = () => {
    if (!pending && clients.size > 0) {
      pending = true;
      setImmediate(push);
    }
  };
  sources.manager.on('member', pushSoon).on('routing', pushSoon);
  sources.recovery.on('state', pushSoon).on('event', pushSoon);

  let assets: Promise<DashboardAssets> | undefined;
  const serve = (type: string, pick: (a: DashboardAssets) => string) => async (_req: unknown, reply: FastifyReply) => {
    // A failed read (run from source before any build) is tried again on the next request.
    assets ??= loadDashboardAssets().catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    return reply
      .headers(SECURITY)
      .type(`${type}; charset=utf-8`)
      .send(pick(await assets));
  };
  app.get(
    '/dashboard',
    serve('text/html', (a) => a.html),
  );
  app.get(
    '/dashboard/app.js',
    serve('text/javascript', (a) => a.js),
  );
  app.get(
    '/dashboard/app.css',
    serve('text/css', (a) => a.css),
  );
  app.get('/dashboard/state', async () => snapshot());

  app.get('/dashboard/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...SECURITY,
    });
    res.write(`retry: 1000\ndata: ${JSON.stringify(snapshot())}\n\n`);
    clients.add(res);
    timer ??= setInterval(push, TRAFFIC_PUSH_MS);
    request.raw.on('close', () => {
      clients.delete(res);
      if (clients.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    });
  });

  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    clearInterval(timer);
    for (const client of clients) client.end();
    clients.clear();
  });
}
