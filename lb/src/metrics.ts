import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { AnswerMetrics } from './answer-metrics.js';
import type { OutlierDetector } from './health/outliers.js';
import type { Recovery } from './health/recovery.js';
import type { ChangeFeed } from './membership/changes.js';
import type { HandoffNotifier } from './membership/handoff.js';
import type { RoutingSource } from './membership/source.js';
import type { ReplicaManager } from './replicas/manager.js';

/**
 * What one data plane forwards (each LB worker and each data-plane instance has its own; the
 * single-process LB has one). Gauges say how workers combine (prom-client's `aggregator`):
 * their views of one membership agree, so the largest is the answer, not the sum.
 */
export class ForwardingMetrics {
  readonly registry = new Registry();
  /** lb_requests_total and lb_request_duration_seconds: counted per request without prom-client's label hashing. */
  private readonly answers = new AnswerMetrics(this.registry);
  /** The oldest version any of its processes applies (workers: the least of theirs). */
  readonly configVersion = new Gauge({
    name: 'lb_data_plane_config_version',
    help: 'The configuration version the data plane applies (with LB_WORKERS, the oldest of theirs)',
    aggregator: 'min',
    registers: [this.registry],
  });
  readonly upstreamFailures = new Counter({
    name: 'lb_upstream_failures_total',
    help: 'Connections to a replica that were refused, reset or timed out',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });
  readonly unavailable = new Counter({
    name: 'lb_unavailable_total',
    help: 'Requests answered 503 because no replica was available',
    registers: [this.registry],
  });
  readonly poolTimeouts = new Counter({
    name: 'lb_upstream_pool_timeouts_total',
    help: 'Requests answered 503 because every connection to their replica stayed busy until their deadline (UPSTREAM_MAX_CONNECTIONS)',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });
  private readonly tunnelsOpen = new Gauge({
    name: 'lb_tunnels_open',
    help: 'Tunnels (switched connections, e.g. WebSocket) open now, per replica',
    labelNames: ['replica'] as const,
    registers: [this.registry],
    aggregator: 'sum',
  });
  private readonly tunnelsOpened = new Counter({
    name: 'lb_tunnels_opened_total',
    help: 'Tunnels opened (a replica answered 101), per replica',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });
  private readonly tunnelsClosed = new Counter({
    name: 'lb_tunnels_closed_total',
    help: 'Tunnels closed, by reason: client, replica, error, rehome (its key moved), shutdown, idle (TUNNEL_IDLE_TIMEOUT_MS)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly clientConnections = new Counter({
    name: 'lb_client_connections_total',
    help: 'Client connections served, by protocol (h1, h2) and TLS (true, false)',
    labelNames: ['protocol', 'tls'] as const,
    registers: [this.registry],
  });
  readonly accessLogDropped = new Counter({
    name: 'lb_access_log_dropped_total',
    help: 'Access-log lines dropped because the log could not keep up (16 MiB waiting)',
    registers: [this.registry],
  });
  readonly accessLogErrors = new Counter({
    name: 'lb_access_log_errors_total',
    help: 'Access-log writes or reopens that failed (the lines wait and are tried again)',
    registers: [this.registry],
  });
  readonly outlierEjections = new Counter({
    name: 'lb_outlier_ejections_total',
    help: 'Replicas passed over for a while after consecutive 5xx answers or failed attempts',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });

  /**
   * `manager`: in the controller's own process, series go when a replica is removed (a flatline
   * keeps them). Elsewhere a name that leaves the routing table goes: a data plane cannot tell
   * a removal from a flatline (a flatlined replica's series come back with its first answer).
   */
  constructor(membership: RoutingSource, outliers: OutlierDetector, manager?: ReplicaManager) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lb_process_' });
    new Gauge({
      name: 'lb_replicas_ejected',
      help: 'Replicas ejected from routing choices by outlier detection now',
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.set(outliers.ejected().length);
      },
    });
    new Gauge({
      name: 'lb_replicas_in_ring',
      help: 'Replicas in the current ring snapshot (receiving traffic)',
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.set(membership.router.size);
      },
    });
    if (manager) {
      manager.on('member', (event) => event.type === 'removed' && this.forget(event.name));
      return;
    }
    membership.on('routing', (router) => {
      for (const name of this.answers.names()) if (!router.has(name)) this.forget(name);
    });
  }

  /** A client connection, once its protocol is known (per connection: label lookups are no per-request cost). */
  clientConnection(via: { readonly protocol: string; readonly tls: boolean }): void {
    this.clientConnections.inc({ protocol: via.protocol, tls: String(via.tls) });
  }

  tunnelOpened(replica: string): void {
    this.tunnelsOpen.inc({ replica });
    this.tunnelsOpened.inc({ replica });
  }

  tunnelClosed(replica: string, reason: string): void {
    this.tunnelsOpen.dec({ replica });
    this.tunnelsClosed.inc({ reason });
  }

  /** A replica answered: `code` as the client sees it, `ms` to the answer's headers. */
  answered(replica: string, code: number, ms: number): void {
    this.answers.answered(replica, code, ms);
  }

  private forget(replica: string): void {
    this.answers.forget(replica);
    for (const metric of [this.upstreamFailures, this.outlierEjections, this.poolTimeouts]) metric.remove(replica);
  }
}

/** What the controller knows: replica states, respawns, and its data-plane workers. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly respawns = new Counter({
    name: 'lb_respawns_total',
    help: 'Replicas flatlined and started again',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });
  readonly workerRestarts = new Counter({
    name: 'lb_worker_restarts_total',
    help: 'Data-plane worker processes (LB_WORKERS) that died and were started again',
    registers: [this.registry],
  });
  readonly configReloadFailures = new Counter({
    name: 'lb_config_reload_failures_total',
    help: 'Reloads (SIGHUP, POST /config/reload) refused because the configuration could not be used; nothing changed',
    registers: [this.registry],
  });
  readonly configVersion = new Gauge({
    name: 'lb_config_version',
    help: "The controller's configuration version (GET /config)",
    registers: [this.registry],
  });

  /** The key space, as the last change left it: its moved share, each replica's share, the imbalance. */
  observeKeyspace(feed: ChangeFeed): void {
    new Gauge({
      name: 'lb_keyspace_moved_ratio',
      help: 'The share of the key space (ring slots or Maglev entries) whose owner the last routing change moved',
      registers: [this.registry],
      collect() {
        this.set(feed.last?.movedRatio ?? 0);
      },
    });
    new Gauge({
      name: 'lb_keyspace_share',
      help: "Each replica's share of the key space",
      labelNames: ['replica'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [replica, share] of Object.entries(feed.last?.shares ?? {})) this.set({ replica }, share);
      },
    });
    new Gauge({
      name: 'lb_keyspace_imbalance',
      help: 'The largest share of the key space over the mean (weights counted; 1 is even)',
      registers: [this.registry],
      collect() {
        this.set(feed.last?.imbalance ?? 0);
      },
    });
  }

  /** Hand-off notifications by phase and outcome, and how long each change waited for its prepare. */
  observeHandoff(notifier: HandoffNotifier): void {
    const notifications = new Counter({
      name: 'lb_handoff_notifications_total',
      help: 'Hand-off notifications (HANDOFF_PATH) by phase (prepare, commit) and outcome (ok, failed, timeout)',
      labelNames: ['phase', 'outcome'] as const,
      registers: [this.registry],
    });
    const waited = new Histogram({
      name: 'lb_handoff_prepare_seconds',
      help: 'How long an /add or /rm waited for the replicas to confirm prepare (HANDOFF_TIMEOUT_MS bounds it)',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.registry],
    });
    notifier.on('notified', (phase, outcome) => notifications.inc({ phase, outcome }));
    notifier.on('prepared', (ms) => waited.observe(ms / 1000));
  }

  /** `processPrefix`: its own process metrics, when the data plane runs in other processes (LB_WORKERS). */
  constructor(manager: ReplicaManager, recovery: Recovery, processPrefix?: string) {
    if (processPrefix) collectDefaultMetrics({ register: this.registry, prefix: processPrefix });
    new Gauge({
      name: 'lb_replicas',
      help: 'Replicas by state (healthy and failing ones are in the ring)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        for (const [state, count] of Object.entries(recovery.countByState())) this.set({ state }, count);
      },
    });
    recovery.on('event', (event) => {
      if (event.type === 'respawned') this.respawns.inc({ replica: event.name });
    });
    // A removed replica's series go with it: /metrics does not grow with every name ever used.
    manager.on('member', (event) => {
      if (event.type === 'removed') this.respawns.remove(event.name);
    });
  }
}

/** The text of `/metrics`: several registries whose metric names never overlap. */
export async function exposition(...parts: (Registry | (() => Promise<string>))[]): Promise<string> {
  const texts = await Promise.all(parts.map((part) => (typeof part === 'function' ? part() : part.metrics())));
  return texts
    .filter((text) => text.trim() !== '')
    .map((text) => (text.endsWith('\n') ? text : `${text}\n`))
    .join('');
}
