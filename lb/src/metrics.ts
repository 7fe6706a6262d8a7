import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { AnswerMetrics } from './answer-metrics.js';
import type { ReplicaManager } from './replicas/manager.js';
import type { RoutingSource } from './membership/source.js';
import type { Recovery } from './health/recovery.js';
import type { OutlierDetector } from './health/outliers.js';

/** The LB's own Prometheus metrics, on a registry of its own (several LBs can share a process in tests). */
export class LbMetrics {
  readonly registry = new Registry();
  /** lb_requests_total and lb_request_duration_seconds: counted per request without prom-client's label hashing. */
  private readonly answers = new AnswerMetrics(this.registry);
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
  readonly outlierEjections = new Counter({
    name: 'lb_outlier_ejections_total',
    help: 'Replicas passed over for a while after consecutive 5xx answers or failed attempts',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });
  readonly respawns = new Counter({
    name: 'lb_respawns_total',
    help: 'Replicas flatlined and started again',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });

  /**
   * `membership` gives the routing table; the controller also passes its manager and recovery
   * (replica states, respawns, removals). A data plane has only what it forwards.
   */
  constructor(membership: RoutingSource, outliers: OutlierDetector, controller?: { manager: ReplicaManager; recovery: Recovery }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lb_process_' });
    new Gauge({
      name: 'lb_replicas_ejected',
      help: 'Replicas ejected from routing choices by outlier detection now',
      registers: [this.registry],
      collect() {
        this.set(outliers.ejected().length);
      },
    });
    new Gauge({
      name: 'lb_replicas_in_ring',
      help: 'Replicas in the current ring snapshot (receiving traffic)',
      registers: [this.registry],
      collect() {
        this.set(membership.router.size);
      },
    });
    if (!controller) {
      // A data plane cannot tell a removal from a flatline: a name that left the table goes.
      membership.on('routing', (router) => {
        for (const name of this.answers.names()) if (!router.has(name)) this.forget(name);
      });
      return;
    }
    const { manager, recovery } = controller;
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
      if (event.type === 'removed') this.forget(event.name);
    });
  }

  /** A replica answered: `code` as the client sees it, `ms` to the answer's headers. */
  answered(replica: string, code: number, ms: number): void {
    this.answers.answered(replica, code, ms);
  }

  private forget(replica: string): void {
    this.answers.forget(replica);
    for (const metric of [this.upstreamFailures, this.respawns, this.outlierEjections, this.poolTimeouts]) metric.remove(replica);
  }
}
