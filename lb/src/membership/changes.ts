import { EventEmitter } from 'node:events';
import {
  keyspaceChange,
  keyspaceShares,
  type MovedRange,
  ownersByPosition,
  positionCount,
  type RoutingTable,
} from '../routing/index.js';
import type { ChangeReason, MembershipSnapshot, ReplicaHandle } from './replica.js';

/** One routing-table change as the feed sends it: which part of the key space changed owner. */
export interface KeyspaceChange {
  /** `<epoch>:<version>`: the event's id (Last-Event-ID resumes after it). */
  readonly id: string;
  readonly version: number;
  readonly reason: ChangeReason;
  readonly moved: readonly MovedRange[];
  /** The share of the key space (slots or Maglev entries) whose owner changed. */
  readonly movedRatio: number;
  /** Each member's share after the change. */
  readonly shares: Readonly<Record<string, number>>;
  /** The largest weighted share over the mean (1 is even). */
  readonly imbalance: number;
}

/** The whole table at one version: who owns which positions (a new subscriber's, or a resumed one's too old). */
export interface KeyspaceTable {
  readonly id: string;
  readonly version: number;
  /** Consecutive positions of one owner (null: none). */
  readonly owners: readonly { from: number; to: number; replica: string | null }[];
  readonly positions: number;
  readonly shares: Readonly<Record<string, number>>;
}

/** What the feed follows: the manager (a table and its snapshot, and news of each new one). */
export interface ChangeSource {
  readonly router: RoutingTable<ReplicaHandle>;
  snapshot(): MembershipSnapshot;
  on(event: 'routing', listener: (router: RoutingTable<ReplicaHandle>, reason: ChangeReason) => void): unknown;
}

/** Changes kept for resuming (the contract asks for at least 1,000). */
export const HISTORY = 1000;

/**
 * The key space's changes, one a routing-table change, with the last HISTORY kept so that a
 * subscriber that reconnects resumes after the last one it saw.
 */
export class ChangeFeed extends EventEmitter<{
  /** A change, and the tables before and after it (whoever acts on a change reads the one computation). */
  change: [KeyspaceChange, RoutingTable<ReplicaHandle>, RoutingTable<ReplicaHandle>];
}> {
  private readonly history: KeyspaceChange[] = [];
  private previous: RoutingTable<ReplicaHandle>;
  /** The last change: the shares and imbalance of the table now (undefined before any). */
  last: KeyspaceChange | undefined;

  constructor(
    private readonly source: ChangeSource,
    private readonly keep = HISTORY,
  ) {
    super();
    this.previous = source.router;
    source.on('routing', (router, reason) => this.record(router, reason));
  }

  /** The changes after `lastEventId`; undefined when it is not one this feed still holds (send the table). */
  since(lastEventId: string): KeyspaceChange[] | undefined {
    if (lastEventId === this.currentId()) return [];
    const at = this.history.findIndex((change) => change.id === lastEventId);
    return at === -1 ? undefined : this.history.slice(at + 1);
  }

  /** The table now, as ranges of one owner. */
  table(): KeyspaceTable {
    const router = this.source.router;
    const owners: { from: number; to: number; replica: string | null }[] = [];
    ownersByPosition(router).forEach((replica, at) => {
      const last = owners.at(-1);
      if (last && last.replica === replica) last.to = at;
      else owners.push({ from: at, to: at, replica });
    });
    const { epoch, version } = this.source.snapshot();
    return {
      id: `${epoch}:${version}`,
      version,
      owners,
      positions: positionCount(router),
      shares: keyspaceShares(router),
    };
  }

  private currentId(): string {
    const { epoch, version } = this.source.snapshot();
    return `${epoch}:${version}`;
  }

  private record(router: RoutingTable<ReplicaHandle>, reason: ChangeReason): void {
    const before = this.previous;
    this.previous = router;
    const { epoch, version } = this.source.snapshot();
    const change: KeyspaceChange = { id: `${epoch}:${version}`, version, reason, ...keyspaceChange(before, router) };
    this.last = change;
    this.history.push(change);
    if (this.history.length > this.keep) this.history.shift();
    this.emit('change', change, before, router);
  }
}
