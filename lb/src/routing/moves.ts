import { weightOf } from './router.js';
import type { RoutingTable } from './table.js';

// Which part of the key space each replica owns, and which part changed owner between two tables:
// the key space is the ring's slots (a key's slot is H(routing id) mod SLOTS) or Maglev's entries.

/** Consecutive positions whose owner changed from `was` to `now`; `from` > `to` wraps past the last. */
export interface MovedRange {
  readonly from: number;
  readonly to: number;
  /** Null: no owner (an empty table). */
  readonly was: string | null;
  readonly now: string | null;
}

type Named = { readonly index: number; readonly name: string; readonly weight?: number };

/** How many positions the key space has: SLOTS, or the Maglev table's size. */
export function positionCount(table: RoutingTable<Named>): number {
  return table.kind === 'ring' ? table.options.slots : table.tableSize;
}

/** The owner of each position, by name (null where none). */
export function ownersByPosition(table: RoutingTable<Named>): (string | null)[] {
  const count = positionCount(table);
  const owners = new Array<string | null>(count);
  for (let at = 0; at < count; at++) {
    const owner = table.kind === 'ring' ? table.ownerOfSlot(at) : table.ownerOfEntry(at);
    owners[at] = owner?.name ?? null;
  }
  return owners;
}

/** The positions whose owner differs between `before` and `after` (tables of one kind and size), as ranges. */
export function movedRanges(before: RoutingTable<Named>, after: RoutingTable<Named>): MovedRange[] {
  const was = ownersByPosition(before);
  const now = ownersByPosition(after);
  if (was.length !== now.length) throw new Error('tables of different sizes');
  const ranges: { from: number; to: number; was: string | null; now: string | null }[] = [];
  for (let at = 0; at < was.length; at++) {
    if (was[at] === now[at]) continue;
    const last = ranges.at(-1);
    if (last && last.to === at - 1 && last.was === was[at] && last.now === now[at]) last.to = at;
    else ranges.push({ from: at, to: at, was: was[at]!, now: now[at]! });
  }
  // One range across the end of the key space and its start is one wrapping range.
  const [first, last] = [ranges[0], ranges.at(-1)];
  if (ranges.length > 1 && first!.from === 0 && last!.to === was.length - 1) {
    if (first!.was === last!.was && first!.now === last!.now) {
      ranges.shift();
      last!.to = first!.to;
    }
  }
  return ranges;
}

/** How many positions the ranges cover (a wrapping range counts both its ends). */
export function positionsIn(ranges: readonly MovedRange[], count: number): number {
  return ranges.reduce((sum, r) => sum + (r.from <= r.to ? r.to - r.from + 1 : count - r.from + r.to + 1), 0);
}

/** Each member's share of the key space (0..1), by name, in index order; members with none count 0. */
export function keyspaceShares(table: RoutingTable<Named>): Record<string, number> {
  const owners = ownersByPosition(table);
  const counts = new Map<string, number>([...table.members].sort((a, b) => a.index - b.index).map((m) => [m.name, 0]));
  for (const name of owners) if (name !== null) counts.set(name, (counts.get(name) ?? 0) + 1);
  return Object.fromEntries([...counts].map(([name, n]) => [name, n / owners.length]));
}

/**
 * The largest share over the mean share, weights counted (a replica of weight w is meant to own
 * w times as much): 1 is perfectly even; 0 for an empty table.
 */
export function imbalance(table: RoutingTable<Named>, shares: Record<string, number>): number {
  const members = table.members;
  if (members.length === 0) return 0;
  const totalWeight = members.reduce((sum, m) => sum + weightOf(m), 0);
  let worst = 0;
  for (const m of members) worst = Math.max(worst, (shares[m.name] ?? 0) / (weightOf(m) / totalWeight));
  return worst;
}

/** What a change from `before` to `after` does to the key space: moved ranges, their share, the shares and imbalance after. */
export function keyspaceChange(before: RoutingTable<Named>, after: RoutingTable<Named>) {
  const moved = movedRanges(before, after);
  const shares = keyspaceShares(after);
  const positions = positionCount(after);
  return { moved, movedRatio: positionsIn(moved, positions) / positions, shares, imbalance: imbalance(after, shares) };
}
