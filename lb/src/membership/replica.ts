import type { RoutingMember } from '../routing/index.js';

/**
 * A running replica as the routing table holds it: what drivers start and adopt, what the
 * membership publishes, and where the data plane forwards.
 */
export interface ReplicaHandle extends RoutingMember {
  readonly name: string;
  /** Ring index; drivers that persist it (Docker labels) give it back on adoption. */
  readonly index: number;
  /** Base URL the LB reaches it at, e.g. http://127.0.0.1:40123 or http://Server-1:5000. */
  readonly url: string;
}
