import type { ChangeReason, ReplicaHandle } from '../membership/replica.js';
import type { RoutingTable } from '../routing/index.js';

/** What happened to a replica: membership changes (manager) and recovery (health). */
export type ReplicaEventType =
  | 'added'
  | 'draining'
  | 'removed'
  | 'adopted'
  | 'flatlined'
  | 'respawned'
  | 'respawn-failed'
  /** A change waited for the replicas' hand-off (its name is the version). */
  | 'handoff';

export interface ReplicaEvent {
  readonly type: ReplicaEventType;
  readonly name: string;
  readonly at: number;
  readonly detail?: string;
}

export function replicaEvent(type: ReplicaEventType, name: string, detail?: string): ReplicaEvent {
  return { type, name, at: Date.now(), ...(detail ? { detail } : {}) };
}

/** The manager's events, typed once for every listener. */
export interface MembershipEvents {
  /** A new routing table is current (membership changed, or a member left or re-entered it). */
  routing: [router: RoutingTable<ReplicaHandle>, reason: ChangeReason];
  /** A member joined or left. */
  member: [event: ReplicaEvent];
}
