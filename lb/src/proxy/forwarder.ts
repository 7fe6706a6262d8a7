import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Router } from '../ring/index.js';
import type { ReplicaManager, RingEntry } from '../replicas/manager.js';
import type { LbMetrics } from '../metrics.js';
import { failure } from '../http/failure.js';
import { requestIdFrom } from './request-id.js';
import { boundedChoice, loadBound } from './bounded.js';

export interface ForwarderOptions {
  readonly manager: ReplicaManager;
  readonly metrics: LbMetrics;
  readonly log: Logger;
  readonly upstreamTimeoutMs: number;
  /** Told each replica outcome (the dashboard's traffic numbers). */
  readonly onResult?: (replica: string, ok: boolean, ms: number) => void;
  /** Bounded loads: pass over replicas above factor x average in-flight. Off when undefined. */
  readonly balanceFactor?: number | undefined;
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

/** A replica that just failed a connection is passed over this long (outlier ejection). */
const SUSPECT_MS = 1000;
/** Bodies up to this size (declared by Content-Length) are sent in one write; larger ones stream. */
const BUFFER_LIMIT = 64 * 1024;
/** Connecting on a local network takes well under a millisecond; a dead container's IP never answers. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * Forwards requests to the replica the ring picks, one keep-alive undici Pool
 * per replica. GET/HEAD without a body fail over to the next distinct replica
 * clockwise when a connection is refused, reset or times out.
 */
export class Forwarder {
  private readonly pools = new Map<string, Pool>();
  /** Replica name -> until when it is passed over after a failed connection. */
  private readonly suspects = new Map<string, number>();
  /** Requests in flight per replica, and in all. */
  private readonly inFlight = new Map<string, number>();
  private totalInFlight = 0;

  constructor(private readonly options: ForwarderOptions) {
    options.manager.on('ring', (ring: Router<RingEntry>) => {
      this.prunePools(ring);
      this.suspects.clear(); // a respawned replica gets a clean slate
    });
  }

  async forward(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = requestIdFrom(request.headers['x-request-id']);
    reply.header('x-request-id', id.text);
    const ring = this.options.manager.ring;
    const owner = ring.lookup(id.key);
    if (!owner) return this.unavailable(reply);
    const first = this.choose(ring, id.key, owner);

    const body = hasBody(request.headers) ? request.raw : null;
    // Only bodiless GET/HEAD can be sent again to another replica.
    const replayable = body === null && (request.method === 'GET' || request.method === 'HEAD');
    const headers = upstreamHeaders(request, id.text);
    const tried = new Set<string>();
    // Retries consult the current membership: a concurrent /rm may have replaced the snapshot.
    for (let target: RingEntry | undefined = first; target; target = this.nextCandidate(this.options.manager.ring, id.key, tried)) {
      tried.add(target.name);
      const started = performance.now();
      const release = this.acquire(target.name);
      let response: Dispatcher.ResponseData;
      try {
        response = await this.pool(target.url).request({
          path: request.url,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body,
        });
      } catch (error) {
        release();
        this.suspects.set(target.name, Date.now() + SUSPECT_MS);
        this.options.metrics.upstreamFailures.inc({ replica: target.name });
        this.options.onResult?.(target.name, false, 0);
        this.options.onUpstreamFailure(target.name);
        this.options.log.warn({ replica: target.name, err: (error as Error).message }, 'upstream failed');
        if (replayable) continue;
        return void reply.code(502).send(failure(`<Error> Replica ${target.name} failed: ${errorCode(error)}`));
      }
      return this.relay(request, reply, target.name, response, started, release);
    }
    return this.unavailable(reply);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private async relay(
    request: FastifyRequest,
    reply: FastifyReply,
    replica: string,
    response: Dispatcher.ResponseData,
    started: number,
    release: () => void,
  ): Promise<FastifyReply> {
    const { metrics } = this.options;
    const ms = performance.now() - started;
    metrics.latency.observe({ replica }, ms / 1000);
    this.options.onResult?.(replica, true, ms);
    reply.header('x-served-by', replica);
    if (response.statusCode === 404) {
      metrics.requests.inc({ replica, code: 400 });
      response.body.dump().catch(() => undefined).finally(release);
      const path = request.url.split('?', 1)[0];
      return reply.code(400).send(failure(`<Error> '${path}' endpoint does not exist in server replicas`));
    }
    metrics.requests.inc({ replica, code: response.statusCode });
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) reply.header(name, value);
    }
    reply.code(response.statusCode);
    // A small body in one write (headers and body leave together) costs far fewer syscalls than a stream.
    const length = Number(response.headers['content-length']);
    if (length <= BUFFER_LIMIT) {
      try {
        return reply.send(Buffer.from(await response.body.arrayBuffer()));
      } finally {
        release();
      }
    }
    response.body.once('close', release);
    return reply.send(response.body);
  }

  private unavailable(reply: FastifyReply): FastifyReply {
    this.options.metrics.unavailable.inc();
    return reply.code(503).send(NO_REPLICA);
  }

  /** The owner, unless it just failed or (bounded loads) is over the bound: then the next one clockwise. */
  private choose(ring: Router<RingEntry>, key: number | bigint, owner: RingEntry): RingEntry {
    const factor = this.options.balanceFactor;
    const bound = factor === undefined ? Infinity : loadBound(factor, this.totalInFlight, ring.size);
    const load = (name: string) => this.inFlight.get(name) ?? 0;
    if (!this.isSuspect(owner.name) && load(owner.name) + 1 <= bound) return owner;
    const trusted = ring.candidates(key).filter((m) => !this.isSuspect(m.name));
    return boundedChoice(trusted, load, bound) ?? owner;
  }

  /** Counts a request in flight to `name`; the returned function (idempotent) counts it out. */
  private acquire(name: string): () => void {
    this.inFlight.set(name, (this.inFlight.get(name) ?? 0) + 1);
    this.totalInFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.totalInFlight--;
      this.inFlight.set(name, this.inFlight.get(name)! - 1);
    };
  }

  private isSuspect(name: string): boolean {
    if (this.suspects.size === 0) return false;
    const until = this.suspects.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.suspects.delete(name);
    return false;
  }

  /** Only walked after a failure, so the common path stays one table lookup. */
  private nextCandidate(ring: Router<RingEntry>, key: number | bigint, tried: Set<string>): RingEntry | undefined {
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
        connectTimeout: Math.min(timeout, CONNECT_TIMEOUT_MS),
      });
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** Pools of replicas that left the ring close once their in-flight requests finish. */
  private prunePools(ring: Router<RingEntry>): void {
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
