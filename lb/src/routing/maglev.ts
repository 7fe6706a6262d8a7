import { createHash } from 'node:crypto';
import { type RequestKey, sha256 } from './hash.js';
import { isPrime } from './primes.js';
import { distinctFrom, type Router, RoutingError, type RoutingMember, weightOf } from './router.js';

/** A member's preference list over the table: offset, offset + skip, offset + 2 skip, ... (mod M). */
export interface Permutation {
  readonly offset: number;
  readonly skip: number;
}

export type PermutationOf = (name: string, size: number) => Permutation;

/**
 * Offset and skip from two independent 48-bit slices of SHA-256(name), as the
 * paper takes them from two hash functions; skip is in 1..M-1, so with M prime
 * every member's preference list visits every entry.
 */
export const sha256Permutation: PermutationOf = (name, size) => {
  const digest = createHash('sha256').update(name).digest();
  return { offset: digest.readUIntBE(0, 6) % size, skip: (digest.readUIntBE(6, 6) % (size - 1)) + 1 };
};

/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of prime
 * size M, filled round-robin, each member taking its next preferred free entry.
 * Every member gets floor(M/N) or ceil(M/N) entries; a change moves few keys.
 */
export class MaglevTable<T extends RoutingMember> implements Router<T> {
  readonly kind = 'maglev';
  readonly members: readonly T[];
  /** entry -> position in `members`, or -1 when empty. */
  private readonly entries: Int32Array;

  private constructor(
    readonly tableSize: number,
    members: readonly T[],
    readonly capacity: number,
    private readonly permutationOf: PermutationOf,
  ) {
    this.members = Object.freeze([...members].sort((a, b) => a.index - b.index));
    this.entries = populate(
      tableSize,
      this.members.map((m) => ({ ...permutationOf(m.name, tableSize), weight: weightOf(m) })),
    );
  }

  static empty<T extends RoutingMember>(
    tableSize: number,
    capacity: number,
    permutationOf: PermutationOf = sha256Permutation,
  ): MaglevTable<T> {
    if (!isPrime(tableSize)) throw new RoutingError(`Maglev table size must be a prime (got ${tableSize})`);
    return new MaglevTable<T>(tableSize, [], Math.min(capacity, tableSize), permutationOf);
  }

  static of<T extends RoutingMember>(
    tableSize: number,
    members: Iterable<T>,
    permutationOf: PermutationOf = sha256Permutation,
  ): MaglevTable<T> {
    return MaglevTable.empty<T>(tableSize, tableSize, permutationOf).with(...members);
  }

  get size(): number {
    return this.members.length;
  }

  with(...added: T[]): MaglevTable<T> {
    const all = [...this.members];
    for (const member of added) {
      if (all.some((m) => m.name === member.name || m.index === member.index)) {
        throw new RoutingError(`replica '${member.name}' (index ${member.index}) is already in the table`);
      }
      all.push(member);
    }
    if (all.length > this.capacity) throw new RoutingError(`Maglev table is full: at most ${this.capacity} replicas`);
    return new MaglevTable<T>(this.tableSize, all, this.capacity, this.permutationOf);
  }

  without(name: string): MaglevTable<T> {
    if (!this.has(name)) return this;
    return new MaglevTable<T>(
      this.tableSize,
      this.members.filter((m) => m.name !== name),
      this.capacity,
      this.permutationOf,
    );
  }

  has(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }

  /** The table entry a key hashes to: SHA-256 of the id (as the `sha256` ring hashes it) mod M. */
  entryOf(key: RequestKey): number {
    return sha256.requestSlot(key, this.tableSize);
  }

  lookup(key: RequestKey): T | undefined {
    return this.ownerOfEntry(this.entryOf(key));
  }

  ownerOfEntry(entry: number): T | undefined {
    const pos = this.entries[entry];
    return pos === undefined || pos < 0 ? undefined : this.members[pos];
  }

  /** The owner, then the next distinct owners of the following entries. */
  candidates(key: RequestKey): T[] {
    return distinctFrom(this.entries, this.entryOf(key), this.members);
  }

  /** Entries per member name (the dashboard and the analysis show it). */
  shares(): Map<string, number> {
    const counts = new Map<string, number>(this.members.map((m) => [m.name, 0]));
    for (const pos of this.entries)
      if (pos >= 0) counts.set(this.members[pos]!.name, counts.get(this.members[pos]!.name)! + 1);
    return counts;
  }
}

/**
 * The paper's Algorithm 1: round-robin over members, each claims its next free preferred entry;
 * a member of weight w claims w entries a round (the weighted variant the paper describes).
 */
function populate(size: number, permutations: readonly (Permutation & { weight: number })[]): Int32Array {
  const entries = new Int32Array(size).fill(-1);
  if (permutations.length === 0) return entries;
  const next = new Array<number>(permutations.length).fill(0);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < permutations.length; i++) {
      const { offset, skip, weight } = permutations[i]!;
      for (let claim = 0; claim < weight; claim++) {
        let c = (offset + next[i]! * skip) % size;
        while (entries[c]! >= 0) {
          next[i]!++;
          c = (offset + next[i]! * skip) % size;
        }
        entries[c] = i;
        next[i]!++;
        if (++filled === size) return entries;
      }
    }
  }
}
