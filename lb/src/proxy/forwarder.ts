import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RoutingSource } from '../membership/source.js';
import type { ForwardingMetrics } from '../metrics.js';
import { type KeySource, type RequestKey, routingIdOf } from '../routing/index.js';
import type { Deadlines } from './deadlines.js';
import type { ExchangeHost } from './exchange.js';
import { type Movable, MovedKeys } from './moved-keys.js';
import type { PassedOver } from './observation.js';
import { Outcomes } from './outcomes.js';
import { ReplicaPools } from './pools.js';
import type { AdmittedRequest } from './request.js';
import { keyOf, keySourceOf } from './routing-key.js';
import { ReplicaSelection, type SelectionOptions } from './selection.js';
import type { TunnelOpening } from './tunnel.js';
import { Tunnels } from './tunnels.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, type Upstream, type UpstreamFactory } from './upstream.js';

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
  /** Makes each replica's connections (HTTP/1 pools). */
  readonly newUpstream: UpstreamFactory;
}

/** Connecting on a local network takes well under a millisecond; a dead container's IP never answers. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * What exchanges share, each role in its own part: the choice of replica (keys and the selection
 * policy on the current routing table), the pools, the bookkeeping of outcomes and the tunnels.
 * Each routing table reaches all four.
 */
export class Forwarder implements ExchangeHost {
  readonly pass404: boolean;
  private readonly selection: ReplicaSelection;
  private readonly pools: ReplicaPools;
  private readonly outcomes: Outcomes;
  private readonly tunnels: Tunnels;
  /** HTTP/2 streams in flight to a replica, re-homed as tunnels are. */
  private readonly streams: MovedKeys<Movable>;
  /** HASH_KEY is `request-id` alone (the default): the request's id is its key, nothing to extract. */
  private readonly byRequestId: boolean;

  constructor(
    private readonly options: ForwarderOptions,
    deadlines: Deadlines,
  ) {
    const { metrics, membership } = options;
    this.pass404 = options.pass404;
    this.byRequestId = options.keySources.every((source) => source.kind === 'request-id');
    this.selection = new ReplicaSelection(options);
    const poolOptions = {
      maxConnections: options.maxConnectionsPerReplica,
      connectTimeoutMs: Math.min(options.upstreamTimeoutMs, CONNECT_TIMEOUT_MS),
      responseTimeoutMs: options.upstreamTimeoutMs,
      idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS,
    };
    this.pools = new ReplicaPools(options.newUpstream, poolOptions, deadlines, (replica) =>
      metrics.poolTimeouts.inc({ replica }),
    );
    this.outcomes = new Outcomes(options, this.selection);
    this.streams = new MovedKeys(options.rehomeGraceMs);
    this.tunnels = new Tunnels({
      rehomeGraceMs: options.rehomeGraceMs,
      tunnelIdleTimeoutMs: options.tunnelIdleTimeoutMs,
      router: () => membership.router,
      opened: (replica) => metrics.tunnelOpened(replica),
      closed: (replica, reason) => metrics.tunnelClosed(replica, reason),
    });
    membership.on('routing', (router) => {
      this.pools.prune(router);
      this.selection.onRouting(router);
      this.outcomes.onRouting(router);
      this.tunnels.rehome(router);
      this.streams.rehome(router);
    });
  }

  // ---- the choice of replica

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

  unavailable(): LbError {
    this.options.metrics.unavailable.inc();
    return new LbError('NO_REPLICA');
  }

  /** Requests in flight to the replica now (a drain waits for 0). */
  inFlight(replica: string): number {
    return this.selection.load(replica);
  }

  // ---- the pools

  pool(replica: ReplicaHandle): Upstream {
    return this.pools.pool(replica);
  }

  busy(replica: string): LbError {
    return this.pools.busy(replica);
  }

  // ---- outcomes

  began(replica: string): void {
    this.outcomes.began(replica);
  }

  settled(replica: string): void {
    this.outcomes.settled(replica);
  }

  answered(replica: string, code: number, ms: number): void {
    this.outcomes.answered(replica, code, ms);
  }

  failed(replica: string, error: Error, startedAt: number): void {
    this.outcomes.failed(replica, error, startedAt);
  }

  // ---- tunnels

  streamOpened(stream: Movable): void {
    this.streams.add(stream, this.options.membership.router);
  }

  streamEnded(stream: Movable): void {
    this.streams.delete(stream);
  }

  tunnel(opening: TunnelOpening): void {
    this.tunnels.tunnel(opening);
  }

  /** Open tunnels per replica (the dashboard). */
  tunnelCounts(): Map<string, number> {
    return this.tunnels.counts();
  }

  /** HTTP/2 streams in flight per replica (the dashboard). */
  streamCounts(): Map<string, number> {
    return this.streams.countsByReplica();
  }

  /** Shutdown: every tunnel is closed now, as re-homing closes one (its client reconnects elsewhere). */
  closeTunnels(): void {
    this.tunnels.closeAll();
  }

  close(): void {
    this.pools.close();
    this.tunnels.closeAll();
  }
}
