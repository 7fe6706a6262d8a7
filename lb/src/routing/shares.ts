import type { HashFunction } from './hash.js';
import type { Ring } from './ring.js';
import type { RoutingMember } from './router.js';

/** How many ids in [from, to] hash to each slot. Independent of the replica set. */
export function slotHistogram(hash: HashFunction, slots: number, from: number, to: number): Uint32Array {
  const counts = new Uint32Array(slots);
  for (let id = from; id <= to; id++) counts[hash.requestSlot(id, slots)]!++;
  return counts;
}

/** Each member's share (0..1) of a slot histogram under `ring`. */
export function sharesOf<T extends RoutingMember>(ring: Ring<T>, histogram: Uint32Array): Map<string, number> {
  const shares = new Map<string, number>(ring.members.map((m) => [m.name, 0]));
  let total = 0;
  histogram.forEach((count, slot) => {
    total += count;
    const owner = ring.ownerOfSlot(slot);
    if (owner) shares.set(owner.name, shares.get(owner.name)! + count);
  });
  for (const [name, count] of shares) shares.set(name, total === 0 ? 0 : count / total);
  return shares;
}
