import { monotonicMs } from '../clock.js';
import type { OutlierDetector } from '../health/outliers.js';
import type { ReplicaHandle } from '../membership/replica.js';
import { boundedChoice, loadBound, type RequestKey, type Router, slowStartFraction } from '../routing/index.js';
import type { PassedOver, PassOverReason } from './observation.js';

export interface SelectionOptions {
  /** Bounded loads: pass over replicas above factor x average in-flight. Off when undefined. */
  readonly balanceFactor: number | undefined;
  /** Passive health from answers: ejected replicas are passed over while another can serve. */
  readonly outliers: Pick<OutlierDetector, 'isEjected'>;
  /** Whether heartbeats are failing for the replica (not yet flatlined): passed over likewise. */
  readonly isFailing: (name: string) => boolean;
  /** SLOW_START_MS: a replica that joined takes over its keys over this long; 0 is off. */
  readonly slowStartMs?: number;
  /** The clock slow start reads (ms epoch); tests set it. */
  readonly now?: () => number;
}

/** A replica in its slow-start window, and the table as it was without it. */
interface Warming {
  readonly joinedAt: number;
  readonly without: Router<ReplicaHandle>;
}

/** A replica that just failed a connection is passed over this long (outlier ejection). */
const SUSPECT_MS = 1000;

/**
 * The one replica-selection policy of the data plane, for the first choice and every failover
 * step alike. In hash order (the owner, then clockwise), a replica is
 * - skipped outright when this request already tried it;
 * - passed over while another can serve when a connection to it just failed (suspect), it is
 *   ejected as an outlier, or its heartbeats are failing; or, with bounded loads, when taking
 *   the request would put it over the bound.
 * When every untried replica is passed over, the first of them still gets the request.
 */
export class ReplicaSelection {
  /** Replica name -> until when it is passed over after a failed connection. */
  private readonly suspects = new Map<string, number>();
  /** Requests in flight per replica (a counter each, so a request costs one lookup, not a get and a set), and in all. */
  private readonly inFlight = new Map<string, { count: number }>();
  private totalInFlight = 0;
  /** Replicas whose slow start is not over, by name (empty unless SLOW_START_MS is set). */
  private readonly warming = new Map<string, Warming>();

  constructor(private readonly options: SelectionOptions) {}

  /** A new routing table: suspects are forgotten; members that joined within SLOW_START_MS warm up. */
  onRouting(router: Router<ReplicaHandle>): void {
    this.suspects.clear(); // a respawned replica gets a clean slate
    this.warming.clear();
    const window = this.options.slowStartMs ?? 0;
    if (window <= 0) return;
    const now = this.now();
    for (const member of router.members) {
      if (member.joinedAt !== undefined && now - member.joinedAt < window) {
        this.warming.set(member.name, { joinedAt: member.joinedAt, without: router.without(member.name) });
      }
    }
  }

  /** The replica for `key` on `router`, not one of `tried`; undefined when none is left. */
  pick(
    router: Router<ReplicaHandle>,
    key: RequestKey,
    tried?: ReadonlySet<string>,
    passedOver?: PassedOver[],
  ): ReplicaHandle | undefined {
    const table = router.lookup(key);
    if (table === undefined) return undefined;
    const owner = this.warming.size > 0 ? this.warmOwner(key, table) : table;
    const factor = this.options.balanceFactor;
    // The common case stays one table lookup: a first choice, no bound, an owner in good standing.
    if (tried === undefined && factor === undefined && this.passOverReason(owner.name) === undefined) return owner;
    const bound = factor === undefined ? Number.POSITIVE_INFINITY : loadBound(factor, this.totalInFlight, router.size);
    if (tried === undefined && this.passOverReason(owner.name) === undefined && this.load(owner.name) + 1 <= bound)
      return owner;
    // In hash order, except that a key still held back by slow start tries its previous owner first.
    const order =
      owner === table ? router.candidates(key) : [owner, ...router.candidates(key).filter((m) => m !== owner)];
    const untried = tried === undefined ? order : order.filter((m) => !tried.has(m.name));
    const trusted = untried.filter((m) => this.passOverReason(m.name) === undefined);
    const chosen = boundedChoice(trusted, this.load, bound) ?? untried[0];
    if (passedOver !== undefined) this.explain(untried, chosen, bound, passedOver);
    return chosen;
  }

  /** Why each replica ahead of `chosen` in `order` was passed over (the access log). */
  private explain(
    order: readonly ReplicaHandle[],
    chosen: ReplicaHandle | undefined,
    bound: number,
    into: PassedOver[],
  ): void {
    for (const member of order) {
      if (member === chosen) return;
      const { name } = member;
      const reason = this.passOverReason(name) ?? (this.load(name) + 1 > bound ? 'over-bound' : undefined);
      if (reason !== undefined) into.push({ replica: name, reason });
    }
  }

  /** A connection to the replica failed: passed over for SUSPECT_MS. */
  suspect(name: string): void {
    this.suspects.set(name, monotonicMs() + SUSPECT_MS);
  }

  /**
   * Slow start: a key the warming `owner` took over goes to it once frac(key) < elapsed / window,
   * until then to the replica that owned it before the join. Same members, same join time, same
   * clock: the same choice on every instance.
   */
  private warmOwner(key: RequestKey, owner: ReplicaHandle): ReplicaHandle {
    const warm = this.warming.get(owner.name);
    if (warm === undefined) return owner;
    const window = this.options.slowStartMs ?? 0;
    const elapsed = this.now() - warm.joinedAt;
    if (elapsed >= window) {
      this.warming.delete(owner.name);
      return owner;
    }
    if (slowStartFraction(key) < Math.max(0, elapsed) / window) return owner;
    return warm.without.lookup(key) ?? owner;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Counts a request in flight to the replica (until `settled`). */
  began(name: string): void {
    const inFlight = this.inFlight.get(name);
    if (inFlight === undefined) this.inFlight.set(name, { count: 1 });
    else inFlight.count++;
    this.totalInFlight++;
  }

  settled(name: string): void {
    const inFlight = this.inFlight.get(name);
    if (inFlight !== undefined) inFlight.count--;
    this.totalInFlight--;
  }

  /** Requests in flight to the replica now. */
  readonly load = (name: string): number => this.inFlight.get(name)?.count ?? 0;

  /** Why the replica is passed over while another can serve (bounds aside); undefined when it is in good standing. */
  private passOverReason(name: string): PassOverReason | undefined {
    if (this.isSuspect(name)) return 'suspect';
    if (this.options.outliers.isEjected(name)) return 'ejected';
    if (this.options.isFailing(name)) return 'failing';
    return undefined;
  }

  private isSuspect(name: string): boolean {
    if (this.suspects.size === 0) return false;
    const until = this.suspects.get(name);
    if (until === undefined) return false;
    if (until > monotonicMs()) return true;
    this.suspects.delete(name);
    return false;
  }
}
