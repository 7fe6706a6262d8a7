import type { RequestKey } from './hash.js';
import type { RingMember } from './ring.js';

/**
 * What the proxy and the manager need of a routing table: immutable membership
 * changes and O(1) lookup. The SPEC ring and the Maglev table both provide it.
 */
export interface Router<T extends RingMember> {
  readonly kind: 'ring' | 'maglev';
  readonly members: readonly T[];
  readonly size: number;
  /** Most members the table can hold. */
  readonly capacity: number;
  /** A new table with these members added (built once, however many). */
  with(...members: T[]): Router<T>;
  without(name: string): Router<T>;
  has(name: string): boolean;
  lookup(key: RequestKey): T | undefined;
  /** Distinct members in the order failover tries them: the owner first. */
  candidates(key: RequestKey): T[];
}
