import { Counter, type Metric, type Registry } from 'prom-client';

/** Seconds; the upper bounds of `lb_request_duration_seconds`. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

const REQUESTS = { name: 'lb_requests_total', help: 'Requests forwarded, by replica that answered and status code' };
const LATENCY = {
  name: 'lb_request_duration_seconds',
  help: 'Time from receiving a request to the replica answering its headers',
};

/** One replica's answers: counts by status and latency bucket counts (not cumulative; the last is +Inf). */
interface ReplicaAnswers {
  readonly codes: Map<number, number>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * `lb_requests_total{replica,code}` and `lb_request_duration_seconds{replica}`, counted in plain
 * numbers per replica and handed to prom-client only when /metrics is read. prom-client's own
 * labelled children hash their labels on every call (about 1 us a request); here a request costs
 * two Map lookups. The text is what prom-client's Counter and Histogram print for the same values.
 */
export class AnswerMetrics {
  private readonly byReplica = new Map<string, ReplicaAnswers>();

  constructor(registry: Registry) {
    const replicas = this.byReplica;
    new Counter({
      ...REQUESTS,
      labelNames: ['replica', 'code'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [replica, answers] of replicas)
          for (const [code, n] of answers.codes) this.inc({ replica, code: String(code) }, n);
      },
    });
    // prom-client has no bulk update for a histogram: this metric renders itself, in the shape
    // Histogram.get() returns (bucket lines carry `le` first, then the replica).
    const latency = {
      ...LATENCY,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ ...LATENCY, type: 'histogram', aggregator: 'sum', values: this.latencyValues() }),
      reset: () => undefined,
    };
    registry.registerMetric(latency as unknown as Metric);
  }

  /** A replica answered with `code` (as the client sees it), `ms` after the request was sent. */
  answered(replica: string, code: number, ms: number): void {
    let answers = this.byReplica.get(replica);
    if (!answers) {
      answers = { codes: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
      this.byReplica.set(replica, answers);
    }
    answers.codes.set(code, (answers.codes.get(code) ?? 0) + 1);
    const seconds = ms / 1000;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++;
    answers.buckets[bucket]!++;
    answers.sum += seconds;
    answers.count++;
  }

  /** Replicas with series. */
  names(): string[] {
    return [...this.byReplica.keys()];
  }

  /** The replica left: its series go with it. */
  forget(replica: string): void {
    this.byReplica.delete(replica);
  }

  private latencyValues() {
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: Record<string, string>;
      value: number;
      metricName: string;
    }[] = [];
    for (const [replica, answers] of this.byReplica) {
      const shared = { replica };
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, at) => {
        cumulative += answers.buckets[at]!;
        values.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: `${LATENCY.name}_bucket` });
      });
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: shared,
        value: answers.count,
        metricName: `${LATENCY.name}_bucket`,
      });
      values.push({ labels: {}, sharedLabels: shared, value: answers.sum, metricName: `${LATENCY.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: answers.count, metricName: `${LATENCY.name}_count` });
    }
    return values;
  }
}
