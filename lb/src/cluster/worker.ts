import { AggregatorRegistry, type Registry } from 'prom-client';
import type { TrafficBatch } from '../dashboard/stats.js';

/** The IPC message a worker sends its primary with the traffic it saw. */
export const TRAFFIC_MESSAGE = 'lb:traffic';
export interface TrafficMessage {
  readonly type: typeof TRAFFIC_MESSAGE;
  readonly batches: readonly TrafficBatch[];
}

/** Latency samples a report carries per replica at most (percentiles need a few hundred). */
const SAMPLES_PER_REPORT = 256;
const REPORT_EVERY_MS = 250;

interface Pending {
  answers: number;
  errors: number;
  samples: number[];
}

/**
 * In an LB worker: what it forwarded, sent to the controller's dashboard a few times a second
 * (exact counts, sampled latencies), so the dashboard shows the traffic of every worker.
 */
export class TrafficReporter {
  private pending = new Map<string, Pending>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly send: (message: TrafficMessage) => void) {
    this.timer = setInterval(() => this.flush(), REPORT_EVERY_MS);
    this.timer.unref();
  }

  readonly record = (replica: string, ok: boolean, ms: number): void => {
    let p = this.pending.get(replica);
    if (!p) {
      p = { answers: 0, errors: 0, samples: [] };
      this.pending.set(replica, p);
    }
    if (!ok) {
      p.errors++;
      return;
    }
    p.answers++;
    // Reservoir sampling: every answer since the last report is equally likely to be kept.
    if (p.samples.length < SAMPLES_PER_REPORT) p.samples.push(ms);
    else {
      const at = Math.floor(Math.random() * p.answers);
      if (at < SAMPLES_PER_REPORT) p.samples[at] = ms;
    }
  };

  flush(): void {
    if (this.pending.size === 0) return;
    const batches = [...this.pending].map(([replica, p]) => ({
      replica,
      answers: p.answers,
      errors: p.errors,
      samples: p.samples,
    }));
    this.pending = new Map();
    this.send({ type: TRAFFIC_MESSAGE, batches });
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/** In an LB worker: `registry` answers the primary's requests for metrics (prom-client's cluster protocol). */
export function exportToPrimary(registry: Registry): void {
  new AggregatorRegistry(); // installs the worker's listener for the primary's requests
  AggregatorRegistry.setRegistries([registry]);
}

export function isTrafficMessage(message: unknown): message is TrafficMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === TRAFFIC_MESSAGE;
}
