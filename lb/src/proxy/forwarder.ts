import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { boundedChoice, loadBound, type Router } from '../routing/index.js';
import type { ReplicaManager } from '../replicas/manager.js';
import type { ReplicaHandle } from '../replicas/driver.js';
import type { LbMetrics } from '../metrics.js';
import { LbError } from '../contract/errors.js';
import { requestIdFrom, type RequestId } from './request-id.js';
import { Exchange, sendFailure, type ExchangeHost } from './exchange.js';

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

const NO_REPLICA = new LbError('NO_REPLICA');

/** A replica that just failed a connection is passed over this long (outlier ejection). */
const SUSPECT_MS = 1000;
/** Connecting on a local network takes well under a millisecond; a dead container's IP never answers. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * Forwards requests to the replica the ring picks, one keep-alive undici Pool
 * per replica. GET/HEAD without a body fail over to the next distinct replica
 * clockwise when a connection is refused, reset or times out.
 */
export class Forwarder implements ExchangeHost {
  private readonly pools = new Map<string, Pool>();
  /** Replica name -> until when it is passed over after a failed connection. */
  private readonly suspects = new Map<string, number>();
  /** Requests in flight per replica, and in all. */
  private readonly inFlight = new Map<string, number>();
  private totalInFlight = 0;

  constructor(private readonly options: ForwarderOptions) {
    options.manager.on('routing', (router) => {
      this.prunePools(router);
      this.suspects.clear(); // a respawned replica gets a clean slate
    });
  }

  /** Relays one client request; the answer (or the contract's error) goes to `res`. */
  forward(req: IncomingMessage, res: ServerResponse): void {
    const id = requestIdFrom(req.headers['x-request-id']);
    const ring = this.options.manager.router;
    const owner = ring.lookup(id.key);
    if (!owner) return this.exhausted(res, id);
    new Exchange(this, req, res, id).send(this.choose(ring, id.key, owner));
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  dispatcher(replica: ReplicaHandle): Dispatcher {
    let pool = this.pools.get(replica.url);
    if (!pool) {
      const timeout = this.options.upstreamTimeoutMs;
      pool = new Pool(replica.url, {
        connections: 256,
        keepAliveTimeout: 30_000,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connectTimeout: Math.min(timeout, CONNECT_TIMEOUT_MS),
      });
      this.pools.set(replica.url, pool);
    }
    return pool;
  }

  began(replica: string): void {
    this.inFlight.set(replica, (this.inFlight.get(replica) ?? 0) + 1);
    this.totalInFlight++;
  }

  settled(replica: string): void {
    this.inFlight.set(replica, this.inFlight.get(replica)! - 1);
    this.totalInFlight--;
  }

  answered(replica: string, code: number, ms: number): void {
    this.options.metrics.answered(replica, code, ms);
    this.options.onResult?.(replica, true, ms);
  }

  failed(replica: string, error: Error): void {
    this.suspects.set(replica, Date.now() + SUSPECT_MS);
    this.options.metrics.upstreamFailures.inc({ replica });
    this.options.onResult?.(replica, false, 0);
    this.options.onUpstreamFailure(replica);
    this.options.log.warn({ replica, err: error.message }, 'upstream failed');
  }

  /** Only walked after a failure, so the common path stays one table lookup. */
  next(key: RequestId['key'], tried: ReadonlySet<string>): ReplicaHandle | undefined {
    return this.options.manager.router.candidates(key).find((m) => !tried.has(m.name));
  }

  exhausted(res: ServerResponse, id: RequestId): void {
    this.options.metrics.unavailable.inc();
    sendFailure(res, NO_REPLICA, ['x-request-id', id.text]);
  }

  /** The owner, unless it just failed or (bounded loads) is over the bound: then the next one clockwise. */
  private choose(ring: Router<ReplicaHandle>, key: RequestId['key'], owner: ReplicaHandle): ReplicaHandle {
    const factor = this.options.balanceFactor;
    if (factor === undefined && !this.isSuspect(owner.name)) return owner;
    const bound = factor === undefined ? Infinity : loadBound(factor, this.totalInFlight, ring.size);
    const load = (name: string) => this.inFlight.get(name) ?? 0;
    if (!this.isSuspect(owner.name) && load(owner.name) + 1 <= bound) return owner;
    const trusted = ring.candidates(key).filter((m) => !this.isSuspect(m.name));
    return boundedChoice(trusted, load, bound) ?? owner;
  }

  private isSuspect(name: string): boolean {
    if (this.suspects.size === 0) return false;
    const until = this.suspects.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.suspects.delete(name);
    return false;
  }

  /** Pools of replicas that left the ring close once their in-flight requests finish. */
  private prunePools(ring: Router<ReplicaHandle>): void {
    const live = new Set(ring.members.map((m) => m.url));
    for (const [url, pool] of this.pools) {
      if (!live.has(url)) {
        this.pools.delete(url);
        pool.close().catch(() => undefined);
      }
    }
  }
}
