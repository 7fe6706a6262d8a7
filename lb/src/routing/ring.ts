import type { HashFunction, RequestKey } from './hash.js';
import { distinctFrom, type Router, RoutingError, type RoutingMember, weightOf } from './router.js';

export interface RingOptions {
  readonly slots: number;
  /** K: virtual servers per replica. */
  readonly virtualServers: number;
  readonly hash: HashFunction;
}

/** A virtual server's place on the ring. */
export interface VirtualServer<T> {
  readonly slot: number;
  readonly j: number;
  readonly member: T;
}

const EMPTY = -1;

/**
 * The consistent-hash ring. Immutable: `with` and `without` return a new ring,
 * so request handlers read a snapshot and never lock. The whole ring is rebuilt
 * on each change because linear probing makes placement depend on every
 * replica inserted before (ascending index), as the contract defines.
 */
export class Ring<T extends RoutingMember> implements Router<T> {
  readonly kind = 'ring';
  /** Members in ascending ring index. */
  readonly members: readonly T[];
  /** Replicas of weight 1 that fit (floor(SLOTS / K)); a replica of weight w counts w times. */
  readonly capacity: number;
  /** slot -> position in `members` of the virtual server placed there, or EMPTY. */
  private readonly placed: Int32Array;
  /** slot -> position in `members` of the first virtual server at or clockwise after it. */
  private readonly owner: Int32Array;

  private constructor(
    readonly options: RingOptions,
    members: readonly T[],
  ) {
    const { slots, virtualServers } = options;
    if (!Number.isInteger(slots) || slots < 1)
      throw new RoutingError(`slots must be a positive integer (got ${slots})`);
    if (!Number.isInteger(virtualServers) || virtualServers < 1 || virtualServers > slots) {
      throw new RoutingError(`virtual servers per replica must be an integer in 1..${slots} (got ${virtualServers})`);
    }
    this.capacity = Math.floor(slots / virtualServers);
    this.members = Object.freeze([...members].sort((a, b) => a.index - b.index));
    this.placed = placeVirtualServers(options, this.members);
    this.owner = ownerTable(this.placed);
  }

  static empty<T extends RoutingMember>(options: RingOptions): Ring<T> {
    return new Ring<T>(options, []);
  }

  /** A ring holding exactly `members`. */
  static of<T extends RoutingMember>(options: RingOptions, members: Iterable<T>): Ring<T> {
    return Ring.empty<T>(options).with(...members);
  }

  get size(): number {
    return this.members.length;
  }

  /** A new ring with these members added (rebuilt once). */
  with(...added: T[]): Ring<T> {
    const all = [...this.members, ...added];
    const weight = all.reduce((sum, m) => sum + weightOf(m), 0);
    for (const member of added) this.checkAddable(member, weight);
    this.checkUnique(all);
    return new Ring<T>(this.options, all);
  }

  /** A new ring without the member called `name` (the same ring if absent). */
  without(name: string): Ring<T> {
    if (!this.has(name)) return this;
    return new Ring<T>(
      this.options,
      this.members.filter((m) => m.name !== name),
    );
  }

  has(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }

  /** The slot a request key hashes to: H(id) mod SLOTS. */
  slotOf(key: RequestKey): number {
    return this.options.hash.requestSlot(key, this.options.slots);
  }

  /** The replica serving `key`, or undefined when the ring is empty. O(1). */
  lookup(key: RequestKey): T | undefined {
    return this.ownerOfSlot(this.slotOf(key));
  }

  ownerOfSlot(slot: number): T | undefined {
    const pos = this.owner[slot];
    return pos === undefined || pos === EMPTY ? undefined : this.members[pos];
  }

  /**
   * Distinct replicas in the order a clockwise walk from the key's slot meets
   * their virtual servers: the owner first, then the failover candidates.
   */
  candidates(key: RequestKey): T[] {
    return distinctFrom(this.placed, this.slotOf(key), this.members);
  }

  /** Every virtual server on the ring, by ascending slot. */
  virtualServers(): VirtualServer<T>[] {
    // Replaying placement recovers j; it is off the request path, so no table is kept for it.
    const out: VirtualServer<T>[] = [];
    forEachPlacement(this.options, this.members, (slot, pos, j) => {
      out.push({ slot, j, member: this.members[pos]! });
    });
    return out.sort((a, b) => a.slot - b.slot);
  }

  private checkAddable(member: T, newWeight: number): void {
    if (!Number.isInteger(member.index) || member.index < 1) {
      throw new RoutingError(`ring index must be a positive integer (got ${member.index})`);
    }
    const weight = weightOf(member);
    if (!Number.isInteger(weight) || weight < 1) {
      throw new RoutingError(`weight must be a positive integer (got ${weight})`);
    }
    if (this.members.some((m) => m.index === member.index)) {
      throw new RoutingError(`ring index ${member.index} is already taken`);
    }
    if (this.has(member.name)) throw new RoutingError(`replica '${member.name}' is already on the ring`);
    if (newWeight > this.capacity) {
      throw new RoutingError(
        `ring is full: ${this.options.slots} slots hold at most ${this.capacity} replicas of ${this.options.virtualServers} virtual servers` +
          (this.members.some((m) => weightOf(m) > 1) || weight > 1 ? ` (weights add up to ${newWeight})` : ''),
      );
    }
  }

  private checkUnique(list: readonly T[]): void {
    const names = new Set(list.map((m) => m.name));
    const indices = new Set(list.map((m) => m.index));
    if (names.size !== list.length || indices.size !== list.length) {
      throw new RoutingError('replica names and ring indices must be unique');
    }
  }
}

/** Places j = 1..K x weight of each member, ascending index, probing linearly past taken slots. */
function placeVirtualServers(options: RingOptions, members: readonly RoutingMember[]): Int32Array {
  const placed = new Int32Array(options.slots).fill(EMPTY);
  forEachPlacement(options, members, (slot, pos) => {
    placed[slot] = pos;
  });
  return placed;
}

function forEachPlacement(
  options: RingOptions,
  members: readonly RoutingMember[],
  visit: (slot: number, pos: number, j: number) => void,
): void {
  const { slots, virtualServers, hash } = options;
  const taken = new Uint8Array(slots);
  members.forEach((member, pos) => {
    const count = virtualServers * weightOf(member);
    for (let j = 1; j <= count; j++) {
      let slot = hash.virtualSlot(member.index, j, slots);
      while (taken[slot]) slot = (slot + 1) % slots;
      taken[slot] = 1;
      visit(slot, pos, j);
    }
  });
}

/** For each slot, the first placed virtual server at or clockwise after it. */
function ownerTable(placed: Int32Array): Int32Array {
  const slots = placed.length;
  const owner = new Int32Array(slots).fill(EMPTY);
  let next = EMPTY;
  // Two passes backwards so slots after the last virtual server wrap to the first one.
  for (let t = 2 * slots - 1; t >= 0; t--) {
    const slot = t % slots;
    if (placed[slot] !== EMPTY) next = placed[slot]!;
    if (t < slots) owner[slot] = next;
  }
  return owner;
}

/** The smallest positive integer not in `taken` (ring indices are reused). */
export function smallestFreeIndex(taken: Iterable<number>): number {
  const used = new Set(taken);
  let i = 1;
  while (used.has(i)) i++;
  return i;
}
