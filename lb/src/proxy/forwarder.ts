import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { RoutingSource } from '../membership/source.js';
import type { ForwardingMetrics } from '../metrics.js';
import { type KeySource, type RequestKey, routingIdOf } from '../routing/index.js';
import type { Settings } from '../settings/schema.js';
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
import { type PoolOptions, UPSTREAM_IDLE_TIMEOUT_MS, type Upstream, type UpstreamFactory } from './upstream.js';

/** The settings the forwarder reads, when it needs them (a reload may change them). */
export type ForwardingSettings = Readonly<
  Pick<
    Settings,
    | 'hashKey'
    | 'hashBalanceFactor'
    | 'upstream404'
    | 'rehomeGraceMs'
    | 'tunnelIdleTimeoutMs'
    | 'slowStartMs'
    | 'upstreamTimeoutMs'
    | 'upstreamMaxConnections'
  >
>;

export interface ForwarderOptions extends Omit<SelectionOptions, 'balanceFactor' | 'slowStartMs'> {
  readonly settings: ForwardingSettings;
  /** The routing table, and news of each new one. */
  readonly membership: RoutingSource;
  readonly metrics: ForwardingMetrics;
  readonly log: Logger;
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
  private readonly selection: ReplicaSelection;
  private readonly pools: ReplicaPools;
  private readonly outcomes: Outcomes;
  private readonly tunnels: Tunnels;
  /** HTTP/2 streams in flight to a replica, re-homed as tunnels are. */
  private readonly streams: MovedKeys<Movable>;
  /** HASH_KEY is `request-id` alone (the default): the request's id is its key, nothing to extract. */
  private byRequestId: boolean;

  constructor(
    private readonly options: ForwarderOptions,
    deadlines: Deadlines,
  ) {
    const { metrics, membership, settings } = options;
    this.byRequestId = byRequestId(settings.hashKey);
    this.selection = new ReplicaSelection({
      ...options,
      get balanceFactor() {
        return settings.hashBalanceFactor;
      },
      get slowStartMs() {
        return settings.slowStartMs;
      },
    });
    // UPSTREAM_MAX_CONNECTIONS needs a restart; the timeouts are read when a request needs them.
    const poolOptions: PoolOptions = {
      maxConnections: settings.upstreamMaxConnections,
      get connectTimeoutMs() {
        return Math.min(settings.upstreamTimeoutMs, CONNECT_TIMEOUT_MS);
      },
      get responseTimeoutMs() {
        return settings.upstreamTimeoutMs;
      },
      idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS,
    };
    this.pools = new ReplicaPools(options.newUpstream, poolOptions, deadlines, (replica) =>
      metrics.poolTimeouts.inc({ replica }),
    );
    this.outcomes = new Outcomes(options, this.selection);
    this.streams = new MovedKeys(() => settings.rehomeGraceMs);
    this.tunnels = new Tunnels({
      get rehomeGraceMs() {
        return settings.rehomeGraceMs;
      },
      get tunnelIdleTimeoutMs() {
        return settings.tunnelIdleTimeoutMs;
      },
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

  /** UPSTREAM_404=pass: a replica's 404 reaches the client as it is. */
  get pass404(): boolean {
    return this.options.settings.upstream404 === 'pass';
  }

  /**
   * A reload changed run-time settings (the settings object holds the new values): new key sources
   * are read again from every open tunnel's and stream's request, and those whose key now has
   * another owner end as re-homing ends them; a new slow-start window applies to who is warming.
   */
  reconfigured(changed: ReadonlySet<string>): void {
    const router = this.options.membership.router;
    if (changed.has('hashKey')) {
      this.byRequestId = byRequestId(this.options.settings.hashKey);
      this.tunnels.rekey(router);
      this.streams.rekey(router);
    }
    if (changed.has('slowStartMs')) this.selection.onRouting(router);
  }

  // ---- the choice of replica

  keyOf(request: AdmittedRequest, clientIp: string): RequestKey | undefined {
    if (this.byRequestId) return undefined;
    const key = keyOf(this.options.settings.hashKey, request, clientIp);
    return key === undefined ? undefined : routingIdOf(key);
  }

  keySourceOf(request: AdmittedRequest, clientIp: string): string | undefined {
    return this.byRequestId ? undefined : keySourceOf(this.options.settings.hashKey, request, clientIp);
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

/** HASH_KEY is `request-id` alone (the default): the request's id is its key, nothing to extract. */
const byRequestId = (sources: readonly KeySource[]): boolean => sources.every((source) => source.kind === 'request-id');
