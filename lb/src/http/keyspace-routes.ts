import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { LbError } from '../contract/errors.js';
import type { ChangeFeed, KeyspaceChange } from '../membership/changes.js';
import type { Plan, ReplicaManager } from '../replicas/manager.js';
import { keyspaceChange, keyspaceShares, MAX_KEY_LENGTH, routingIdOf } from '../routing/index.js';
import { addRequest } from './admin-input.js';
import { type AddBody, addBody } from './schemas.js';

/** Most keys one POST /membership/owners may ask about. */
export const MAX_OWNER_KEYS = 10_000;
/** Its body may hold that many keys of the longest length (up to 3 bytes a character in UTF-8). */
const OWNERS_BODY_LIMIT = 32 * 1024 * 1024;

const ownersBody = {
  type: 'object',
  required: ['keys'],
  additionalProperties: false,
  properties: { keys: { type: 'array', maxItems: MAX_OWNER_KEYS, items: { type: 'string' } } },
} as const;

const planBody = {
  ...addBody,
  required: ['op', 'n'],
  properties: { ...addBody.properties, op: { enum: ['add', 'rm'] } },
} as const;

/**
 * Who owns which keys, and how the key space changes: owner lookups, the change feed (Server-Sent
 * Events) and change plans. Ownership is the routing rule's (key, routing id, ring or Maglev,
 * weights), never a replica's claim.
 */
export function registerKeyspace(app: FastifyInstance, manager: ReplicaManager, feed: ChangeFeed): void {
  const streams = new Set<ServerResponse>();
  /** The owners of `keys` on the table now (one table, one version, for all of them). */
  const ownersOf = (keys: readonly unknown[]) => {
    const router = manager.router;
    const { version } = manager.snapshot();
    return keys.map((key) => {
      if (typeof key !== 'string' || key === '') throw new LbError('BAD_REQUEST', 'key must be a non-empty string');
      if (key.length > MAX_KEY_LENGTH)
        throw new LbError('BAD_REQUEST', `key is longer than ${MAX_KEY_LENGTH} characters (got ${key.length})`);
      const id = routingIdOf(key);
      const replica = router.lookup(id);
      if (replica === undefined) throw new LbError('NO_REPLICA');
      return { key, routingId: String(id), replica: replica.name, version };
    });
  };

  app.get<{ Querystring: { key?: string } }>('/membership/owner', async (request) => ({
    message: ownersOf([request.query.key])[0],
    status: 'successful',
  }));

  const owners = { schema: { body: ownersBody }, bodyLimit: OWNERS_BODY_LIMIT };
  app.post<{ Body: { keys: string[] } }>('/membership/owners', owners, async (request) => ({
    message: ownersOf(request.body.keys),
    status: 'successful',
  }));

  app.post<{ Body: AddBody & { op: 'add' | 'rm' } }>(
    '/membership/plan',
    { schema: { body: planBody } },
    async (request) => {
      const { op, ...body } = request.body;
      let plan: Plan;
      if (op === 'add') {
        const { n, hostnames, weight } = addRequest(body);
        plan = await manager.planAdd(n, hostnames, weight);
      } else {
        if (body.weight !== undefined)
          throw new LbError(
            'BAD_REQUEST',
            "Invalid request body: body has unknown field 'weight' (allowed: n, hostnames)",
          );
        plan = manager.planRemove(body.n, body.hostnames ?? []);
      }
      return { message: planOf(manager, plan), status: 'successful' };
    },
  );

  app.get('/membership/changes', (request, reply) => {
    const lastEventId = request.headers['last-event-id'];
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (change: KeyspaceChange) => res.write(`id: ${change.id}\ndata: ${JSON.stringify(change)}\n\n`);
    const missed = typeof lastEventId === 'string' ? feed.since(lastEventId) : undefined;
    if (missed === undefined) {
      const table = feed.table();
      res.write(`retry: 1000\nid: ${table.id}\nevent: reset\ndata: ${JSON.stringify(table)}\n\n`);
    } else for (const change of missed) send(change);
    feed.on('change', send);
    streams.add(res);
    request.raw.on('close', () => {
      feed.off('change', send);
      streams.delete(res);
    });
  });
  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });
}

/** What a plan shows: the moved ranges and ratio, the shares before and after, the imbalance after. */
function planOf(manager: ReplicaManager, plan: Plan) {
  const before = manager.router;
  const { moved, movedRatio, shares, imbalance } = keyspaceChange(before, plan.after);
  const sharesBefore = keyspaceShares(before);
  return { moved, movedRatio, sharesBefore, sharesAfter: shares, imbalance, replicas: plan.names };
}
