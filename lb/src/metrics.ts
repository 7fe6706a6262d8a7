import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReplicaManager } from './replicas/manager.js';
import type { RoutingSource } from './membership/source.js';
import type { Recovery } from './health/recovery.js';
import type { OutlierDetector } from './health/outliers.js';

/** The LB's own Prometheus metrics, on a registry of its own (several LBs can share a process in tests). */
export class LbMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'lb_requests_total',
    help: 'Requests forwarded, by replica that answered and status code',
    labelNames: ['replica', 'code'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'lb_request_duration_seconds',
    help: 'Time from receiving a request to the replica answering its headers',
    labelNames: ['replica'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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

  /** Bound series per replica, so a request costs no label hashing; dropped when the replica leaves. */
  private readonly bound = new Map<string, { latency: { observe(v: number): void }; codes: Map<number, { inc(): void }> }>();

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
        for (const name of [...this.bound.keys()]) if (!router.has(name)) this.forget(name);
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
    let series = this.bound.get(replica);
    if (!series) {
      series = { latency: this.latency.labels(replica), codes: new Map() };
      this.bound.set(replica, series);
    }
    let counter = series.codes.get(code);
    if (!counter) {
      counter = this.requests.labels(replica, String(code));
      series.codes.set(code, counter);
    }
    counter.inc();
    series.latency.observe(ms / 1000);
  }

  private forget(replica: string): void {
    for (const code of this.bound.get(replica)?.codes.keys() ?? []) this.requests.remove(replica, String(code));
    this.bound.delete(replica);
    for (const metric of [this.latency, this.upstreamFailures, this.respawns, this.outlierEjections]) metric.remove(replica);
  }
}
