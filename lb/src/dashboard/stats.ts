/** Recent traffic per replica for the dashboard: rates and latency percentiles over a short window. */
interface ReplicaTraffic {
  requests: number;
  errors: number;
  /** Ring buffers of the most recent answers: completion time and latency. */
  readonly at: Float64Array;
  readonly ms: Float64Array;
  next: number;
  filled: number;
}

const SAMPLES = 2048;
const WINDOW_MS = 5000;

export interface ReplicaRates {
  readonly rps: number;
  readonly errors: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

export class TrafficStats {
  private readonly replicas = new Map<string, ReplicaTraffic>();
  private totalRequests = 0;
  private totalErrors = 0;
  private readonly history: { t: number; rps: number; eps: number }[] = [];
  private last = { t: Date.now(), requests: 0, errors: 0 };

  /** One answer from a replica (ok = it answered; not ok = refused, reset or timed out). */
  record(replica: string, ok: boolean, ms: number): void {
    let r = this.replicas.get(replica);
    if (!r) {
      r = { requests: 0, errors: 0, at: new Float64Array(SAMPLES), ms: new Float64Array(SAMPLES), next: 0, filled: 0 };
      this.replicas.set(replica, r);
    }
    this.totalRequests++;
    if (!ok) {
      r.errors++;
      this.totalErrors++;
      return;
    }
    r.requests++;
    r.at[r.next] = Date.now();
    r.ms[r.next] = ms;
    r.next = (r.next + 1) % SAMPLES;
    r.filled = Math.min(r.filled + 1, SAMPLES);
  }

  /** Requests/s over the window (or over the buffer, when busier than it holds) and p50/p99 latency. */
  rates(replica: string, now = Date.now()): ReplicaRates {
    const r = this.replicas.get(replica);
    if (!r || r.filled === 0) return { rps: 0, errors: r?.errors ?? 0, p50: null, p99: null };
    const recent: number[] = [];
    let oldest = now;
    for (let k = 0; k < r.filled; k++) {
      if (now - r.at[k]! <= WINDOW_MS) {
        recent.push(r.ms[k]!);
        oldest = Math.min(oldest, r.at[k]!);
      }
    }
    if (recent.length === 0) return { rps: 0, errors: r.errors, p50: null, p99: null };
    recent.sort((a, b) => a - b);
    const span = recent.length === SAMPLES ? Math.max(now - oldest, 1) : WINDOW_MS;
    const pick = (q: number) => recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
    return { rps: (recent.length * 1000) / span, errors: r.errors, p50: pick(0.5), p99: pick(0.99) };
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
}
