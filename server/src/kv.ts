import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { type HandoffNotice, handoffHandler } from '../../kit/src/handoff.js';

/** Where the demo store takes the LB's hand-off notifications (set HANDOFF_PATH to it on the LB). */
export const HANDOFF_PATH = '/lb/handoff';
const MAX_VALUE_BYTES = 64 * 1024;

/**
 * A small key-value store that follows its keys: `PUT /kv/:key` (the body is the value),
 * `GET /kv/:key`. With the LB's HANDOFF_PATH at `/lb/handoff`, on "prepare" it sends the values of
 * the keys it is about to lose to their new owner (its own `PUT /kv/:key`, replica to replica, at
 * the address the LB gives), and serves them until the switch; on "commit" it drops them.
 */
export function registerKv(app: FastifyInstance, id: string): void {
  const values = new Map<string, string>();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_VALUE_BYTES }, (_request, body, done) =>
    done(null, body),
  );
  app.put<{ Params: { key: string }; Body: string }>('/kv/:key', async (req) => {
    values.set(req.params.key, String(req.body ?? ''));
    return { message: { key: req.params.key, server: id }, status: 'successful' };
  });
  app.get<{ Params: { key: string } }>('/kv/:key', async (req, reply) => {
    const value = values.get(req.params.key);
    if (value === undefined)
      return reply.code(404).send({ message: `<Error> no value for '${req.params.key}' on ${id}`, status: 'failure' });
    return { message: { key: req.params.key, value, server: id }, status: 'successful' };
  });
  const handle = handoffHandler({
    keys: () => values.keys(),
    drop: (key) => values.delete(key),
    async send(url, key) {
      const res = await request(`${url}/kv/${encodeURIComponent(key)}`, {
        method: 'PUT',
        body: values.get(key) ?? '',
        headers: { 'content-type': 'text/plain' },
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode} for '${key}'`);
    },
  });
  app.post<{ Body: HandoffNotice }>(HANDOFF_PATH, async (req) => {
    const { handedOver } = await handle(req.body);
    return { message: { phase: req.body.phase, version: req.body.version, handedOver }, status: 'successful' };
  });
}
