import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RoutingSource } from '../membership/source.js';
import type { ForwardingMetrics } from '../metrics.js';
import { type RequestKey, type Router, routingIdOf } from '../routing/index.js';
import type { Deadlines } from './deadlines.js';
import type { ExchangeHost } from './exchange.js';
import type { OutlierDetector } from './outliers.js';
import type { AdmittedRequest } from './request.js';
import { type KeySource, keyOf } from './routing-key.js';
import { ReplicaSelection, type SelectionOptions } from './selection.js';
import { type PoolOptions, UPSTREAM_IDLE_TIMEOUT_MS, UpstreamPool } from './upstream.js';

export interface ForwarderOptions extends SelectionOptions {
  /** HASH_KEY: where a request's routing key comes from, in order. */
  readonly keySources: readonly KeySource[];
  /** UPSTREAM_404=pass: a replica's 404 reaches the client as it is. */
  readonly pass404: boolean;
  /** The routing table, and news of each new one. */
  readonly membership: RoutingSource;
  readonly metrics: ForwardingMetrics;
  readonly log: Logger;
  readonly upstreamTimeoutMs: number;
  /** Connections to one replica at once; more requests wait (until their deadline) for one to be freed. */
  readonly maxConnectionsPerReplica: number;
  /** Told each replica outcome (the dashboard's traffic numbers). */
  readonly onResult?: (replica: string, ok: boolean, ms: number) => void;
  /** Told when a replica refuses, resets or times out, so it is checked now. */
  readonly onUpstreamFailure: (name: string) => void;
  /** Told every outcome; ejected replicas are passed over. */
  readonly outliers: OutlierDetector;
}

/** Connecting on a local network takes well under a millisecond; a dead container's IP never answers. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * What exchanges share: the selection policy on the current routing table, one pool of raw
 * keep-alive sockets per replica, and the bookkeeping of outcomes (outliers, suspects, metrics).
 */
export class Forwarder implements ExchangeHost {
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly selection: ReplicaSelection;
  private readonly poolOptions: PoolOptions;
  /** When each replica last (re-)entered the routing table (performance.now()): older failures are stale. */
  private readonly enteredAt = new Map<string, number>();
  /** HASH_KEY is `request-id` alone (the default): the request's id is its key, nothing to extract. */
  private readonly byRequestId: boolean;
  readonly pass404: boolean;

  constructor(
    private readonly options: ForwarderOptions,
    private readonly deadlines: Deadlines,
  ) {
    this.selection = new ReplicaSelection(options);
    this.byRequestId = options.keySources.every((source) => source.kind === 'request-id');
    this.pass404 = options.pass404;
    this.poolOptions = {
      maxConnections: options.maxConnectionsPerReplica,
      connectTimeoutMs: Math.min(options.upstreamTimeoutMs, CONNECT_TIMEOUT_MS),
      responseTimeoutMs: options.upstreamTimeoutMs,
      idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS,
    };
    options.membership.on('routing', (router) => {
      this.prunePools(router);
      this.selection.forgetSuspects(); // a respawned replica gets a clean slate
      const now = performance.now();
      for (const name of this.enteredAt.keys()) if (!router.has(name)) this.enteredAt.delete(name);
      for (const member of router.members) if (!this.enteredAt.has(member.name)) this.enteredAt.set(member.name, now);
    });
  }

  keyOf(request: AdmittedRequest, clientIp: string): RequestKey | undefined {
    if (this.byRequestId) return undefined;
    const key = keyOf(this.options.keySources, request, clientIp);
    return key === undefined ? undefined : routingIdOf(key);
  }

  choose(key: RequestKey, tried?: ReadonlySet<string>): ReplicaHandle | undefined {
    return this.selection.pick(this.options.membership.router, key, tried);
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
    this.selection.began(replica);
  }

  settled(replica: string): void {
    this.selection.settled(replica);
  }

  answered(replica: string, code: number, ms: number): void {
    this.options.outliers.observe(replica, code);
    this.options.metrics.answered(replica, code, ms);
    this.options.onResult?.(replica, true, ms);
  }

  failed(replica: string, error: Error, startedAt: number): void {
    // An attempt on a previous incarnation (begun before a respawn put it back) says nothing of this one.
    if (startedAt < (this.enteredAt.get(replica) ?? 0)) return;
    this.selection.suspect(replica);
    this.options.outliers.observe(replica, 0);
    this.options.metrics.upstreamFailures.inc({ replica });
    this.options.onResult?.(replica, false, 0);
    this.options.onUpstreamFailure(replica);
    this.options.log.warn({ replica, err: error.message }, 'upstream failed');
  }

  unavailable(): LbError {
    this.options.metrics.unavailable.inc();
    return new LbError('NO_REPLICA');
  }

  busy(replica: string): LbError {
    this.options.metrics.poolTimeouts.inc({ replica });
    const { maxConnections, responseTimeoutMs } = this.poolOptions;
    return new LbError(
      'REPLICA_BUSY',
      `Replica ${replica} has no free connection: all ${maxConnections} (UPSTREAM_MAX_CONNECTIONS) stayed busy for ${responseTimeoutMs} ms (UPSTREAM_TIMEOUT_MS)`,
    );
  }

  /** Pools of replicas that left the routing table close; their in-flight requests finish. */
  private prunePools(router: Router<ReplicaHandle>): void {
    const live = new Set(router.members.map((m) => m.url));
    for (const [url, pool] of this.pools) {
      if (!live.has(url)) {
        this.pools.delete(url);
        pool.close();
      }
    }
  }
}
