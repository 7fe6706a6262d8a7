import type { RoutingMember } from '../routing/index.js';

/**
 * A running replica as the routing table holds it: what drivers start and adopt, what the
 * membership publishes, and where the data plane forwards.
 */
export interface ReplicaHandle extends RoutingMember {
  readonly name: string;
  /** Ring index; drivers that persist it (Docker labels) give it back on adoption. */
  readonly index: number;
  /** 1..16 (SPEC "Weights"): K x weight virtual servers, weight Maglev entries a round; 1 when absent. */
  readonly weight?: number;
  /** When `/add` started it (ms epoch): slow start counts from here, alike on every instance. */
  readonly joinedAt?: number;
  /** Base URL the LB reaches it at, e.g. http://127.0.0.1:40123 or http://Server-1:5000. */
  readonly url: string;
}

/** Why a routing table changed: replicas added or removed, one flatlined or respawned, a weight changed. */
export type ChangeReason = 'add' | 'rm' | 'flatline' | 'respawn' | 'weight' | 'reload';

/** What data planes route by: the routing table's members, numbered so newer wins. */
export interface MembershipSnapshot {
  /** This controller's run: versions count from 0 again after a restart. */
  readonly epoch: string;
  readonly version: number;
  /** In ring-index order. */
  readonly members: readonly ReplicaHandle[];
  /** Why this table was made (undefined before the first). */
  readonly reason?: ChangeReason;
  /** The controller's run-time settings, which every data plane applies alike. */
  readonly settings?: PublishedSettings;
}

/** The run-time settings of one version, as a controller publishes them to its data planes. */
export interface PublishedSettings {
  readonly version: number;
  /** Every run-time setting in its file form. */
  readonly values: Readonly<Record<string, unknown>>;
}
