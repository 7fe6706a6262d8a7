import { monotonicMs } from '../clock.js';
import type { Settings } from '../settings/schema.js';

/**
 * OUTLIER_CONSECUTIVE_5XX: 5xx answers (or failed attempts) in a row that eject a replica from
 * routing choices (0 is off); OUTLIER_EJECTION_MS: the first ejection's length, each further one
 * of the same replica one more time as long; OUTLIER_MAX_EJECTED_PERCENT: at most this share of
 * the replicas is ejected at once (at least one may always be). Read at each answer (a reload may
 * change them).
 */
export type OutlierOptions = Readonly<
  Pick<Settings, 'outlierConsecutive5xx' | 'outlierEjectionMs' | 'outlierMaxEjectedPercent'>
>;

interface Record {
  consecutive: number;
  ejections: number;
  ejectedUntil: number;
}

/**
 * Passive health from answers, as Envoy's outlier detection (`consecutive_5xx`) and
 * HAProxy's `observe layer7` do: a replica answering N 5xx in a row is passed over for a
 * back-off period, however well it answers heartbeats.
 */
export class OutlierDetector {
  private readonly records = new Map<string, Record>();
  private ejectedCount = 0;

  constructor(
    private readonly options: OutlierOptions,
    /** How many replicas there are now (the cap is a share of them). */
    private readonly replicaCount: () => number,
    /** Told when a replica is ejected (metrics, logs). */
    private readonly onEjected: (name: string, untilMs: number) => void = () => undefined,
  ) {}

  /** An answer (status as the replica gave it) or a failed attempt (status 0). */
  observe(name: string, status: number, at?: number): void {
    const bad = status === 0 || status >= 500;
    let record = this.records.get(name);
    if (!bad) {
      if (record && record.consecutive !== 0) record.consecutive = 0;
      return;
    }
    if (!record) {
      record = { consecutive: 0, ejections: 0, ejectedUntil: 0 };
      this.records.set(name, record);
    }
    const now = at ?? monotonicMs(); // read only for a bad answer: good ones, on every request, need no clock
    record.consecutive++;
    const threshold = this.options.outlierConsecutive5xx || Number.POSITIVE_INFINITY;
    if (record.consecutive < threshold || this.isEjected(name, now)) return;
    const cap = Math.max(1, Math.floor((this.replicaCount() * this.options.outlierMaxEjectedPercent) / 100));
    if (this.countEjected(now) >= cap) return;
    record.ejections++;
    record.consecutive = 0;
    record.ejectedUntil = now + this.options.outlierEjectionMs * record.ejections;
    this.ejectedCount++;
    this.onEjected(name, record.ejectedUntil);
  }

  /** Passed over for now. Cheap when nothing is ejected (the common case, on every request). */
  isEjected(name: string, now?: number): boolean {
    if (this.ejectedCount === 0) return false;
    const record = this.records.get(name);
    if (record === undefined || record.ejectedUntil === 0) return false;
    if (record.ejectedUntil > (now ?? monotonicMs())) return true;
    record.ejectedUntil = 0;
    this.ejectedCount--;
    return false;
  }

  /** Names ejected now (dashboard, metrics). */
  ejected(now = monotonicMs()): string[] {
    return [...this.records.keys()].filter((name) => this.isEjected(name, now));
  }

  /** A replica that left (or was replaced) starts clean. */
  forget(name: string): void {
    if (this.isEjected(name)) this.ejectedCount--;
    this.records.delete(name);
  }

  private countEjected(now: number): number {
    let count = 0;
    for (const name of this.records.keys()) if (this.isEjected(name, now)) count++;
    return count;
  }
}
