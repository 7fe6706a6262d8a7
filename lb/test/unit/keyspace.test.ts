import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  keyspaceShares,
  MaglevTable,
  type MovedRange,
  movedRanges,
  positionsIn,
  Ring,
  type RoutingTable,
  routingIdOf,
  sha256,
} from '../../src/routing/index.js';
import { modelRoutingId, modelSha256 } from '../helpers/ring.js';

// Moved ranges and shares against models written from the SPEC alone (placement, probing, the
// clockwise walk; Maglev's weighted fill), for 100,000 sampled keys across add, rm, a weight
// change and a respawn.

interface Replica {
  readonly name: string;
  readonly index: number;
  readonly weight: number;
}

/** The SPEC ring: j = 1..K·w per replica in ascending index, linear probing; a slot's owner is the next virtual server clockwise. */
function modelRing(slots: number, k: number, replicas: readonly Replica[]): (string | null)[] {
  const placed: (string | null)[] = new Array(slots).fill(null);
  for (const r of [...replicas].sort((a, b) => a.index - b.index)) {
    for (let j = 1; j <= k * r.weight; j++) {
      let slot = modelSha256.virtualSlot(r.index, j, slots);
      while (placed[slot] !== null) slot = (slot + 1) % slots;
      placed[slot] = r.name;
    }
  }
  return placed.map((_, slot) => {
    for (let t = 0; t < slots; t++) if (placed[(slot + t) % slots] !== null) return placed[(slot + t) % slots]!;
    return null;
  });
}

/** Maglev's fill, a replica of weight w taking w entries a round (offset, skip from SHA-256 of its name). */
function modelMaglev(size: number, replicas: readonly Replica[]): (string | null)[] {
  const prefs = [...replicas]
    .sort((a, b) => a.index - b.index)
    .map((r) => {
      const digest = createHash('sha256').update(r.name).digest();
      const skip = (digest.readUIntBE(6, 6) % (size - 1)) + 1;
      return { ...r, offset: digest.readUIntBE(0, 6) % size, skip, next: 0 };
    });
  const table: (string | null)[] = new Array(size).fill(null);
  let filled = 0;
  while (filled < size && prefs.length > 0) {
    for (const p of prefs) {
      for (let claim = 0; claim < p.weight && filled < size; claim++) {
        let entry = (p.offset + p.next * p.skip) % size;
        while (table[entry] !== null) entry = (p.offset + ++p.next * p.skip) % size;
        table[entry] = p.name;
        p.next++;
        filled++;
      }
    }
  }
  return table;
}

const KEYS = Array.from({ length: 100_000 }, (_, k) => (k % 10 === 0 ? String(k) : `key-${k}`));

interface Kind {
  readonly name: string;
  readonly size: number;
  readonly table: (replicas: readonly Replica[]) => RoutingTable<Replica & { url: string }>;
  readonly model: (replicas: readonly Replica[]) => (string | null)[];
  /** A key's position, by the SPEC (independent of the tables). */
  readonly position: (key: string) => number;
}

const KINDS: Kind[] = [
  {
    name: 'ring (sha256, 512 slots, K = 9)',
    size: 512,
    table: (replicas) =>
      Ring.of(
        { slots: 512, virtualServers: 9, hash: sha256 },
        replicas.map((r) => ({ ...r, url: '' })),
      ),
    model: (replicas) => modelRing(512, 9, replicas),
    position: (key) => modelSha256.requestSlot(modelRoutingId(key), 512),
  },
  {
    name: 'Maglev (65,537 entries)',
    size: 65_537,
    table: (replicas) =>
      MaglevTable.of(
        65_537,
        replicas.map((r) => ({ ...r, url: '' })),
      ),
    model: (replicas) => modelMaglev(65_537, replicas),
    position: (key) => modelSha256.requestSlot(modelRoutingId(key), 65_537),
  },
];

const r = (index: number, weight = 1, name = `Server-${index}`): Replica => ({ name, index, weight });
const STEPS: { change: string; before: Replica[]; after: Replica[] }[] = [
  { change: 'add', before: [r(1), r(2), r(3)], after: [r(1), r(2), r(3), r(4)] },
  { change: 'rm', before: [r(1), r(2), r(3), r(4)], after: [r(1), r(3), r(4)] },
  { change: 'weight (Server-3 from 1 to 3)', before: [r(1), r(3), r(4)], after: [r(1), r(3, 3), r(4)] },
  { change: 'respawn (the same members)', before: [r(1), r(3, 3), r(4)], after: [r(1), r(3, 3), r(4)] },
];

describe('the key space: owners and moved ranges', () => {
  for (const kind of KINDS) {
    it(`${kind.name}: a sampled key moved exactly when its position is in a moved range, and to the model's new owner`, () => {
      for (const { change, before, after } of STEPS) {
        const [was, now] = [kind.model(before), kind.model(after)];
        const afterTable = kind.table(after);
        const ranges = movedRanges(kind.table(before), afterTable);
        // Each position, the range that covers it (never two).
        const covering: (MovedRange | undefined)[] = new Array(kind.size);
        for (const range of ranges) {
          const span = positionsIn([range], kind.size);
          for (let t = 0; t < span; t++) {
            const at = (range.from + t) % kind.size;
            assert.equal(covering[at], undefined, `${change}: position ${at} in two ranges`);
            covering[at] = range;
          }
        }
        let moved = 0;
        for (const key of KEYS) {
          const at = kind.position(key);
          assert.equal(afterTable.lookup(routingIdOf(key))?.name, now[at], `${change}: ${key}'s owner`);
          const keyMoved = was[at] !== now[at];
          assert.equal(covering[at] !== undefined, keyMoved, `${change}: ${key} at ${at}`);
          if (keyMoved) {
            moved++;
            assert.deepEqual([covering[at]!.was, covering[at]!.now], [was[at], now[at]], `${change}: ${key}'s range`);
          }
        }
        const movedPositions = was.filter((owner, at) => owner !== now[at]).length;
        assert.equal(positionsIn(ranges, kind.size), movedPositions, `${change}: positions moved`);
        if (change.startsWith('respawn')) assert.deepEqual(ranges, [], 'a respawn moves nothing');
        else assert.ok(moved > 0, `${change}: some keys moved`);
        // Shares: each replica's positions over all.
        const shares = keyspaceShares(afterTable);
        for (const replica of after) {
          assert.equal(shares[replica.name], now.filter((o) => o === replica.name).length / kind.size, replica.name);
        }
      }
    });
  }

  it('a range that runs past the last position into the first is one range, from > to', () => {
    // Slots 0..7; identity-like: a replica whose only virtual server sits at slot 1 owns 6, 7, 0, 1 once another sits at 5.
    const hash = {
      name: 'test',
      requestSlot: (id: number | bigint) => Number(id) % 8,
      virtualSlot: (i: number) => [0, 1, 5][i]!,
    };
    const ring = (indices: number[]) =>
      Ring.of(
        { slots: 8, virtualServers: 1, hash },
        indices.map((i) => ({ name: `S${i}`, index: i, url: '' })),
      );
    const ranges = movedRanges(ring([1, 2]), ring([1, 2]).without('S2').with({ name: 'S2', index: 2, url: '' }));
    assert.deepEqual(ranges, []);
    // S1 at slot 1, S2 at slot 5: S1 owns 6, 7, 0, 1; without S2 S1 owns all, so 2..5 move.
    assert.deepEqual(movedRanges(ring([1, 2]), ring([1])), [{ from: 2, to: 5, was: 'S2', now: 'S1' }]);
    // Without S1, S2 owns all: 6, 7, 0, 1 move, as one wrapping range.
    assert.deepEqual(movedRanges(ring([1, 2]), ring([2])), [{ from: 6, to: 1, was: 'S1', now: 'S2' }]);
    assert.equal(positionsIn([{ from: 6, to: 1, was: 'S1', now: 'S2' }], 8), 4);
  });
});
