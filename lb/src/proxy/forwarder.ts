import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Ring } from '../ring/index.js';
import type { ReplicaManager, RingEntry } from '../replicas/manager.js';
import type { LbMetrics } from '../metrics.js';
import { failure } from '../http/failure.js';
import { requestIdFrom } from './request-id.js';

export interface ForwarderOptions {
  readonly manager: ReplicaManager;
  readonly metrics: LbMetrics;
  readonly log: Logger;
  readonly upstreamTimeoutMs: number;
  /** Told when a replica refuses, resets or times out, so it is checked now. */
  readonly onUpstreamFailure: (name: string) => void;
}

/** Headers that describe one connection, not the message (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const NO_REPLICA = failure('<Error> No server replica is available');

/**
 * Forwards requests to the replica the ring picks, one keep-alive undici Pool
 * per replica. GET/HEAD without a body fail over to the next distinct replica
 * clockwise when a connection is refused, reset or times out.
 */
export class Forwarder {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: ForwarderOptions) {
    options.manager.on('ring', (ring: Ring<RingEntry>) => this.prunePools(ring));
  }

  async forward(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = requestIdFrom(request.headers['x-request-id']);
    reply.header('x-request-id', id.text);
    const ring = this.options.manager.ring;
    const first = ring.lookup(id.key);
    if (!first) return this.unavailable(reply);

    const body = hasBody(request.headers) ? request.raw : null;
    // Only bodiless GET/HEAD can be sent again to another replica.
    const replayable = body === null && (request.method === 'GET' || request.method === 'HEAD');
    const headers = upstreamHeaders(request, id.text);
    const tried = new Set<string>();
    for (let target: RingEntry | undefined = first; target; target = this.nextCandidate(ring, id.key, tried)) {
      tried.add(target.name);
      const started = performance.now();
      let response: Dispatcher.ResponseData;
      try {
        response = await this.pool(target.url).request({
          path: request.url,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body,
        });
      } catch (error) {
        this.options.metrics.upstreamFailures.inc({ replica: target.name });
        this.options.onUpstreamFailure(target.name);
        this.options.log.warn({ replica: target.name, err: (error as Error).message }, 'upstream failed');
        if (replayable) continue;
        return void reply.code(502).send(failure(`<Error> Replica ${target.name} failed: ${errorCode(error)}`));
      }
      return this.relay(request, reply, target.name, response, started);
    }
    return this.unavailable(reply);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private relay(
    request: FastifyRequest,
    reply: FastifyReply,
    replica: string,
    response: Dispatcher.ResponseData,
    started: number,
  ): FastifyReply {
    const { metrics } = this.options;
    metrics.latency.observe({ replica }, (performance.now() - started) / 1000);
    reply.header('x-served-by', replica);
    if (response.statusCode === 404) {
      metrics.requests.inc({ replica, code: 400 });
      response.body.dump().catch(() => undefined);
      const path = request.url.split('?', 1)[0];
      return reply.code(400).send(failure(`<Error> '${path}' endpoint does not exist in server replicas`));
    }
    metrics.requests.inc({ replica, code: response.statusCode });
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) reply.header(name, value);
    }
    return reply.code(response.statusCode).send(response.body);
  }

  private unavailable(reply: FastifyReply): FastifyReply {
    this.options.metrics.unavailable.inc();
    return reply.code(503).send(NO_REPLICA);
  }

  /** Only walked after a failure, so the common path stays one table lookup. */
  private nextCandidate(ring: Ring<RingEntry>, key: number | bigint, tried: Set<string>): RingEntry | undefined {
    return ring.candidates(key).find((m) => !tried.has(m.name));
  }

  private pool(url: string): Pool {
    let pool = this.pools.get(url);
    if (!pool) {
      const timeout = this.options.upstreamTimeoutMs;
      pool = new Pool(url, {
        connections: 256,
        keepAliveTimeout: 30_000,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connectTimeout: Math.min(timeout, 5_000),
      });
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** Pools of replicas that left the ring close once their in-flight requests finish. */
  private prunePools(ring: Ring<RingEntry>): void {
    const live = new Set(ring.members.map((m) => m.url));
    for (const [url, pool] of this.pools) {
      if (!live.has(url)) {
        this.pools.delete(url);
        pool.close().catch(() => undefined);
      }
    }
  }
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function upstreamHeaders(request: FastifyRequest, id: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = String(request.headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !listed.includes(name)) out[name] = value;
  }
  out['x-request-id'] = id;
  const forwarded = request.headers['x-forwarded-for'];
  out['x-forwarded-for'] = forwarded ? `${forwarded}, ${request.ip}` : request.ip;
  return out;
}

function errorCode(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message ?? 'error';
}
