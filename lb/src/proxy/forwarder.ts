import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { RoutingSource } from '../membership/source.js';
import type { ForwardingMetrics } from '../metrics.js';
import type { ReplicaHandle } from '../replicas/driver.js';
import { boundedChoice, loadBound, type RequestKey, type RoutingTable } from '../routing/index.js';
import type { Deadlines } from './deadlines.js';
import type { Destination, ExchangeHost } from './exchange.js';
import { requestIdFrom } from './request-id.js';
import { type PoolOptions, UpstreamPool } from './upstream.js';

export interface ForwarderOptions {
  /** The routing table, and news of each new one. */
  readonly membership: RoutingSource;
  readonly metrics: ForwardingMetrics;
  readonly log: Logger;
  readonly upstreamTimeoutMs: number;
  /** Connections to one replica at once; more requests wait (until their deadline) for one to be freed. */
  readonly maxConnectionsPerReplica: number;
  /** Told each replica outcome (the dashboard's traffic numbers). */
  readonly onResult?: (replica: string, ok: boolean, ms: number) => void;
  /** Bounded loads: pass over replicas above factor x average in-flight. Off when undefined. */
  readonly balanceFactor?: number | undefined;
  /** Told when a replica refuses, resets or times out, so it is checked now. */
  readonly onUpstreamFailure: (name: string) => void;
  /** Passive health from answers: ejected replicas are passed over while another can serve. */
  readonly outliers: OutlierDetector;
  /** Whether heartbeats are failing for the replica (not yet flatlined): passed over likewise. */
  readonly isFailing: (name: string) => boolean;
}

/** A replica that just failed a connection is passed over this long (outlier ejection). */
const SUSPECT_MS = 1000;
/** Connecting on a local network takes well under a millisecond; a dead container's IP never answers. */
const CONNECT_TIMEOUT_MS = 1000;
/** Below the replicas' own keep-alive timeout (72 s), so the LB closes idle connections first. */
const IDLE_TIMEOUT_MS = 30_000;

/**
 * Picks the replica for each request (the routing table's owner, unless it just failed or,
 * with bounded loads, is over the bound) and keeps one pool of raw keep-alive sockets per
 * replica. GET/HEAD without a body fail over to the next distinct replica clockwise.
 */
export class Forwarder implements ExchangeHost {
  private readonly pools = new Map<string, UpstreamPool>();
  /** Replica name -> until when it is passed over after a failed connection. */
  private readonly suspects = new Map<string, number>();
  /** Requests in flight per replica, and in all. */
  private readonly inFlight = new Map<string, number>();
  private totalInFlight = 0;
  private readonly poolOptions: PoolOptions;
  /** When each replica last (re-)entered the routing table (performance.now()): older failures are stale. */
  private readonly enteredAt = new Map<string, number>();

  constructor(
    private readonly options: ForwarderOptions,
    private readonly deadlines: Deadlines,
  ) {
    this.poolOptions = {
      maxConnections: options.maxConnectionsPerReplica,
      connectTimeoutMs: Math.min(options.upstreamTimeoutMs, CONNECT_TIMEOUT_MS),
      responseTimeoutMs: options.upstreamTimeoutMs,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
    };
    options.membership.on('routing', (router) => {
      this.prunePools(router);
      this.suspects.clear(); // a respawned replica gets a clean slate
      const now = performance.now();
      for (const name of this.enteredAt.keys()) if (!router.has(name)) this.enteredAt.delete(name);
      for (const member of router.members) if (!this.enteredAt.has(member.name)) this.enteredAt.set(member.name, now);
    });
  }

  /** Where a forwarded request goes: the chosen replica for its id (the client's X-Request-Id), or nowhere. */
  destination(requestId: string | undefined): Destination {
    const id = requestIdFrom(requestId);
    const router = this.options.membership.router;
    const owner = router.lookup(id.key);
    if (!owner) return { kind: 'unavailable', id };
    return { kind: 'replica', id, replica: this.choose(router, id.key, owner) };
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  pool(replica: ReplicaHandle): UpstreamPool {
    let pool = this.pools.get(replica.url);
    if (!pool) {
      const url = new URL(replica.url);
      pool = new UpstreamPool({ host: url.hostname, port: Number(url.port || 80) }, this.poolOptions, this.deadlines);
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
    this.options.outliers.observe(replica, code);
    this.options.metrics.answered(replica, code, ms);
    this.options.onResult?.(replica, true, ms);
  }

  failed(replica: string, error: Error, startedAt: number): void {
    // An attempt on a previous incarnation (begun before a respawn put it back) says nothing of this one.
    if (startedAt < (this.enteredAt.get(replica) ?? 0)) return;
    this.suspects.set(replica, Date.now() + SUSPECT_MS);
    this.options.outliers.observe(replica, 0);
    this.options.metrics.upstreamFailures.inc({ replica });
    this.options.onResult?.(replica, false, 0);
    this.options.onUpstreamFailure(replica);
    this.options.log.warn({ replica, err: error.message }, 'upstream failed');
  }

  /** Only walked after a failure, so the common path stays one table lookup. */
  next(key: RequestKey, tried: ReadonlySet<string>): ReplicaHandle | undefined {
    return this.options.membership.router.candidates(key).find((m) => !tried.has(m.name));
  }

  unavailable(): LbError {
    this.options.metrics.unavailable.inc();
    return new LbError('NO_REPLICA');
  }

  busy(replica: string): LbError {
    this.options.metrics.poolTimeouts.inc({ replica });
    const { maxConnections } = this.poolOptions;
    return new LbError(
      'REPLICA_BUSY',
      `Replica ${replica} has no free connection: all ${maxConnections} (UPSTREAM_MAX_CONNECTIONS) stayed busy for ${this.poolOptions.responseTimeoutMs} ms (UPSTREAM_TIMEOUT_MS)`,
    );
  }

  /**
   * The owner, unless it is passed over (a connection just failed, answers 5xx in a row,
   * heartbeats failing) or, with bounded loads, over the bound: then the next one clockwise.
   * When every replica is passed over, the owner still gets the request.
   */
  private choose(router: RoutingTable<ReplicaHandle>, key: RequestKey, owner: ReplicaHandle): ReplicaHandle {
    const factor = this.options.balanceFactor;
    if (factor === undefined && !this.passedOver(owner.name)) return owner;
    const bound = factor === undefined ? Infinity : loadBound(factor, this.totalInFlight, router.size);
    const load = (name: string) => this.inFlight.get(name) ?? 0;
    if (!this.passedOver(owner.name) && load(owner.name) + 1 <= bound) return owner;
    const trusted = router.candidates(key).filter((m) => !this.passedOver(m.name));
    return boundedChoice(trusted, load, bound) ?? owner;
  }

  private passedOver(name: string): boolean {
    return this.isSuspect(name) || this.options.outliers.isEjected(name) || this.options.isFailing(name);
  }

  private isSuspect(name: string): boolean {
    if (this.suspects.size === 0) return false;
    const until = this.suspects.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.suspects.delete(name);
    return false;
  }

  /** Pools of replicas that left the routing table close; their in-flight requests finish. */
  private prunePools(router: RoutingTable<ReplicaHandle>): void {
    const live = new Set(router.members.map((m) => m.url));
    for (const [url, pool] of this.pools) {
      if (!live.has(url)) {
        this.pools.delete(url);
        pool.close();
      }
    }
  }
}
