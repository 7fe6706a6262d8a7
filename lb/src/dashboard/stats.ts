/** Recent traffic per replica for the dashboard: rates and latency percentiles over a short window. */
interface ReplicaTraffic {
  errors: number;
  /** Answers per second: counts[s % WINDOW_S] holds second `seconds[...]` (ms epoch / 1000). */
  readonly counts: Float64Array;
  readonly seconds: Float64Array;
  /** Ring buffers of recent answers' latencies and when they were recorded. */
  readonly at: Float64Array;
  readonly ms: Float64Array;
  next: number;
  filled: number;
}

const SAMPLES = 2048;
const WINDOW_MS = 5000;
const WINDOW_S = WINDOW_MS / 1000;

export interface ReplicaRates {
  readonly rps: number;
  readonly errors: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

/** Traffic one data plane saw since its last report (LB workers report theirs to the controller). */
export interface TrafficBatch {
  readonly replica: string;
  readonly answers: number;
  readonly errors: number;
  /** Latencies (ms) of some of the answers, for percentiles. */
  readonly samples: readonly number[];
}

export class TrafficStats {
  private readonly replicas = new Map<string, ReplicaTraffic>();
  private totalRequests = 0;
  private totalErrors = 0;
  private readonly history: { t: number; rps: number; eps: number }[] = [];
  private last = { t: Date.now(), requests: 0, errors: 0 };

  /** One answer from a replica (ok = it answered; not ok = refused, reset or timed out). */
  record(replica: string, ok: boolean, ms: number): void {
    const r = this.traffic(replica);
    this.totalRequests++;
    if (!ok) {
      r.errors++;
      this.totalErrors++;
      return;
    }
    const now = Date.now();
    count(r, now, 1);
    sample(r, now, ms);
  }

  /** What another data plane (an LB worker) saw since its last report. */
  merge(batch: TrafficBatch): void {
    const r = this.traffic(batch.replica);
    const now = Date.now();
    this.totalRequests += batch.answers + batch.errors;
    this.totalErrors += batch.errors;
    r.errors += batch.errors;
    count(r, now, batch.answers);
    for (const ms of batch.samples) sample(r, now, ms);
  }

  /** Answers/s over the last full seconds of the window, and p50/p99 latency of recent samples. */
  rates(replica: string, now = Date.now()): ReplicaRates {
    const r = this.replicas.get(replica);
    if (!r) return { rps: 0, errors: 0, p50: null, p99: null };
    const second = Math.floor(now / 1000);
    let answers = 0;
    for (let k = 0; k < WINDOW_S; k++)
      if (r.seconds[k]! < second && r.seconds[k]! >= second - WINDOW_S) answers += r.counts[k]!;
    const recent: number[] = [];
    for (let k = 0; k < r.filled; k++) if (now - r.at[k]! <= WINDOW_MS) recent.push(r.ms[k]!);
    if (recent.length === 0) return { rps: answers / WINDOW_S, errors: r.errors, p50: null, p99: null };
    recent.sort((a, b) => a - b);
    const pick = (q: number) => recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
    return { rps: answers / WINDOW_S, errors: r.errors, p50: pick(0.5), p99: pick(0.99) };
  }

  /** Totals per second, sampled at most once a second, last 60 s. */
  totals(now = Date.now()): { rps: number; eps: number; history: { t: number; rps: number; eps: number }[] } {
    if (now - this.last.t >= 1000) {
      const seconds = (now - this.last.t) / 1000;
      this.history.push({
        t: now,
        rps: (this.totalRequests - this.last.requests) / seconds,
        eps: (this.totalErrors - this.last.errors) / seconds,
      });
      if (this.history.length > 60) this.history.shift();
      this.last = { t: now, requests: this.totalRequests, errors: this.totalErrors };
    }
    const latest = this.history[this.history.length - 1];
    return { rps: latest?.rps ?? 0, eps: latest?.eps ?? 0, history: [...this.history] };
  }

  private traffic(replica: string): ReplicaTraffic {
    let r = this.replicas.get(replica);
    if (!r) {
      r = {
        errors: 0,
        counts: new Float64Array(WINDOW_S),
        seconds: new Float64Array(WINDOW_S),
        at: new Float64Array(SAMPLES),
        ms: new Float64Array(SAMPLES),
        next: 0,
        filled: 0,
      };
      this.replicas.set(replica, r);
    }
    return r;
  }
}

function count(r: ReplicaTraffic, now: number, answers: number): void {
  const second = Math.floor(now / 1000);
  const slot = second % WINDOW_S;
  if (r.seconds[slot] !== second) {
    r.seconds[slot] = second;
    r.counts[slot] = 0;
  }
  r.counts[slot]! += answers;
}

function sample(r: ReplicaTraffic, now: number, ms: number): void {
  r.at[r.next] = now;
  r.ms[r.next] = ms;
  r.next = (r.next + 1) % SAMPLES;
  r.filled = Math.min(r.filled + 1, SAMPLES);
}
