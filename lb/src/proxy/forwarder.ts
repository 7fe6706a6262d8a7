import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RoutingSource } from '../membership/source.js';
import type { ForwardingMetrics } from '../metrics.js';
import { type KeySource, type RequestKey, type Router, routingIdOf } from '../routing/index.js';
import type { Deadlines } from './deadlines.js';
import type { ExchangeHost } from './exchange.js';
import type { Observation, PassedOver } from './observation.js';
import type { AdmittedRequest } from './request.js';
import { keyOf, keySourceOf } from './routing-key.js';
import { ReplicaSelection, type SelectionOptions } from './selection.js';
import { Tunnel, type TunnelEnd, type TunnelOpening, type TunnelOwner } from './tunnel.js';
import { type PoolOptions, UPSTREAM_IDLE_TIMEOUT_MS, UpstreamPool } from './upstream.js';

export interface ForwarderOptions extends SelectionOptions {
  /** HASH_KEY: where a request's routing key comes from, in order. */
  readonly keySources: readonly KeySource[];
  /** UPSTREAM_404=pass: a replica's 404 reaches the client as it is. */
  readonly pass404: boolean;
  /** REHOME_GRACE_MS: after a routing change, tunnels whose key moved are closed spread over this. */
  readonly rehomeGraceMs: number;
  /** TUNNEL_IDLE_TIMEOUT_MS: a tunnel with no byte either way for this long is closed; 0 is off. */
  readonly tunnelIdleTimeoutMs: number;
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
export class Forwarder implements ExchangeHost, TunnelOwner {
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly selection: ReplicaSelection;
  private readonly poolOptions: PoolOptions;
  /** When each replica last (re-)entered the routing table (performance.now()): older failures are stale. */
  private readonly enteredAt = new Map<string, number>();
  /** HASH_KEY is `request-id` alone (the default): the request's id is its key, nothing to extract. */
  private readonly byRequestId: boolean;
  readonly pass404: boolean;
  /** Open tunnels, and the re-homing close scheduled for those whose key moved. */
  private readonly tunnels = new Map<Tunnel, NodeJS.Timeout | undefined>();

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
      this.selection.onRouting(router);
      const now = performance.now();
      for (const name of this.enteredAt.keys()) if (!router.has(name)) this.enteredAt.delete(name);
      for (const member of router.members) if (!this.enteredAt.has(member.name)) this.enteredAt.set(member.name, now);
      this.rehome(router);
    });
  }

  keyOf(request: AdmittedRequest, clientIp: string): RequestKey | undefined {
    if (this.byRequestId) return undefined;
    const key = keyOf(this.options.keySources, request, clientIp);
    return key === undefined ? undefined : routingIdOf(key);
  }

  keySourceOf(request: AdmittedRequest, clientIp: string): string | undefined {
    return this.byRequestId ? undefined : keySourceOf(this.options.keySources, request, clientIp);
  }

  choose(key: RequestKey, tried?: ReadonlySet<string>, passedOver?: PassedOver[]): ReplicaHandle | undefined {
    return this.selection.pick(this.options.membership.router, key, tried, passedOver);
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.closeTunnels();
  }

  /** Shutdown: every tunnel is closed now, as re-homing closes one (its client reconnects elsewhere). */
  closeTunnels(): void {
    for (const tunnel of [...this.tunnels.keys()]) tunnel.close('shutdown');
  }

  tunnel(opening: TunnelOpening): void {
    const tunnel = new Tunnel(opening, this);
    this.tunnels.set(tunnel, undefined);
    this.options.metrics.tunnelOpened(opening.replica);
    tunnel.start(opening.fromClient, opening.fromReplica, this.options.tunnelIdleTimeoutMs);
    // The table may have changed while the handshake was on its way.
    this.rehomeIfMoved(tunnel, this.options.membership.router);
  }

  /** Open tunnels per replica (the dashboard). */
  tunnelCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const tunnel of this.tunnels.keys()) counts.set(tunnel.replica, (counts.get(tunnel.replica) ?? 0) + 1);
    return counts;
  }

  /**
   * After a routing change, exactly the tunnels whose key now has another owner are closed, at
   * random moments spread over REHOME_GRACE_MS (their clients reconnect, to the new owner, not all
   * at once). Every instance computes the same owners, so every instance closes the same tunnels.
   */
  private rehome(router: Router<ReplicaHandle>): void {
    for (const tunnel of this.tunnels.keys()) this.rehomeIfMoved(tunnel, router);
  }

  /** Schedules the tunnel's close when its key has another owner on `router` (once). */
  private rehomeIfMoved(tunnel: Tunnel, router: Router<ReplicaHandle>): void {
    if (this.tunnels.get(tunnel) !== undefined || router.lookup(tunnel.key)?.name === tunnel.replica) return;
    const timer = setTimeout(() => tunnel.close('rehome'), Math.random() * this.options.rehomeGraceMs);
    timer.unref();
    this.tunnels.set(tunnel, timer);
  }

  tunnelEnded(tunnel: Tunnel, reason: TunnelEnd): void {
    clearTimeout(this.tunnels.get(tunnel));
    this.tunnels.delete(tunnel);
    this.options.metrics.tunnelClosed(tunnel.replica, reason);
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

  /** Requests in flight to the replica now (a drain waits for 0). */
  inFlight(replica: string): number {
    return this.selection.load(replica);
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
