import type { ReplicaHandle } from '../membership/replica.js';
import type { RequestKey, Router } from '../routing/index.js';

/** Something that stays open on the replica its key chose: a tunnel, a long HTTP/2 stream. */
export interface Movable {
  /** The routing key that chose the replica. */
  readonly key: RequestKey;
  readonly replica: string;
  /** The key has another owner now: end it, so that its client comes back to the new one. */
  moveAway(): void;
  /** HASH_KEY changed: its key is read again from its request, by the sources now. */
  rekey(): void;
}

/**
 * What is open, by key, and its re-homing: after a routing change, exactly those whose key now
 * has another owner are ended, at random moments spread over `graceMs` (their clients come back to
 * the new owner, not all at once). Every instance computes the same owners, so every instance ends
 * the same ones.
 */
export class MovedKeys<T extends Movable> {
  /** Each open one, and the re-homing end scheduled for it once its key moved. */
  private readonly open = new Map<T, NodeJS.Timeout | undefined>();

  /** `graceMs`: REHOME_GRACE_MS now (a reload may change it). */
  constructor(private readonly graceMs: () => number) {}

  /** `item` opened; `router`, the table now, may already have moved its key. */
  add(item: T, router: Router<ReplicaHandle>): void {
    this.open.set(item, undefined);
    this.rehomeIfMoved(item, router);
  }

  delete(item: T): void {
    clearTimeout(this.open.get(item));
    this.open.delete(item);
  }

  /** A new routing table: those whose key moved are ended within the grace. */
  rehome(router: Router<ReplicaHandle>): void {
    for (const item of this.open.keys()) this.rehomeIfMoved(item, router);
  }

  /** New key sources (a reload's HASH_KEY): each key is read again; those that now have another owner end. */
  rekey(router: Router<ReplicaHandle>): void {
    for (const item of this.open.keys()) {
      item.rekey();
      this.rehomeIfMoved(item, router);
    }
  }

  items(): IterableIterator<T> {
    return this.open.keys();
  }

  /** How many are open per replica (the dashboard). */
  countsByReplica(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const item of this.open.keys()) counts.set(item.replica, (counts.get(item.replica) ?? 0) + 1);
    return counts;
  }

  /** Schedules the end of `item` when its key has another owner on `router` (once). */
  private rehomeIfMoved(item: T, router: Router<ReplicaHandle>): void {
    if (this.open.get(item) !== undefined || router.lookup(item.key)?.name === item.replica) return;
    const timer = setTimeout(() => item.moveAway(), Math.random() * this.graceMs());
    timer.unref();
    this.open.set(item, timer);
  }
}
