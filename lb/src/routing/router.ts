import type { RequestKey } from './hash.js';

/** What a routing table needs to know of a replica: its ring index, its name and its weight. */
export interface RoutingMember {
  readonly index: number;
  readonly name: string;
  /** A positive integer, 1 when absent: K x weight virtual servers, weight Maglev entries per round. */
  readonly weight?: number;
}

/** Most a replica may weigh (SPEC "Weights"). */
export const MAX_WEIGHT = 16;

/** A member's weight (1 when it has none). */
export const weightOf = (member: RoutingMember): number => member.weight ?? 1;

/** A membership change the table cannot make (index taken, table full, bad size). */
export class RoutingError extends Error {}

/**
 * What the proxy and the manager need of a routing table: immutable membership
 * changes and O(1) lookup. The SPEC ring and the Maglev table both provide it.
 */
export interface Router<T extends RoutingMember> {
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

/**
 * Distinct members in the order a walk from `start` meets them in a position table
 * (entry -> index into `members`, negative when empty): failover order for both tables.
 */
export function distinctFrom<T>(table: Int32Array, start: number, members: readonly T[]): T[] {
  const seen = new Set<number>();
  const order: T[] = [];
  for (let t = 0; t < table.length && order.length < members.length; t++) {
    const pos = table[(start + t) % table.length]!;
    if (pos >= 0 && !seen.has(pos)) {
      seen.add(pos);
      order.push(members[pos]!);
    }
  }
  return order;
}
