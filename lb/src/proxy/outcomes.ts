import type { Logger } from 'pino';
import { monotonicMs } from '../clock.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { ForwardingMetrics } from '../metrics.js';
import type { Router } from '../routing/index.js';
import type { ReplicaSelection } from './selection.js';

export interface OutcomeOptions {
  readonly metrics: ForwardingMetrics;
  readonly log: Logger;
  /** Told each replica outcome (the dashboard's traffic numbers). */
  readonly onResult?: ((replica: string, ok: boolean, ms: number) => void) | undefined;
  /** Told when a replica refuses, resets or times out, so it is checked now. */
  readonly onUpstreamFailure: (name: string) => void;
  /** Told every outcome; ejected replicas are passed over. */
  readonly outliers: OutlierDetector;
}

/**
 * What each attempt's outcome is told to: the selection's loads and suspects, outlier detection,
 * metrics, the dashboard and the health monitor.
 */
export class Outcomes {
  /** When each replica last (re-)entered the routing table (monotonicMs()): older failures are stale. */
  private readonly enteredAt = new Map<string, number>();

  constructor(
    private readonly options: OutcomeOptions,
    private readonly selection: ReplicaSelection,
  ) {}

  /** A new routing table: replicas that entered it start with a clean record. */
  onRouting(router: Router<ReplicaHandle>): void {
    const now = monotonicMs();
    for (const name of this.enteredAt.keys()) if (!router.has(name)) this.enteredAt.delete(name);
    for (const member of router.members) if (!this.enteredAt.has(member.name)) this.enteredAt.set(member.name, now);
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
}
