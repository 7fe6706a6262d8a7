import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MaglevTable, type PermutationOf } from '../../src/routing/index.js';
import { member, members } from '../helpers/ring.js';

// The paper's example (Eisenbud et al. 2016, Table 1): M = 7, offsets and skips given.
const paper: Record<string, { offset: number; skip: number }> = {
  B0: { offset: 3, skip: 4 },
  B1: { offset: 0, skip: 2 },
  B2: { offset: 3, skip: 1 },
};
const paperPermutation: PermutationOf = (name) => paper[name]!;
const B = (index: number) => ({ index: index + 1, name: `B${index}` });
const table = (t: MaglevTable<{ index: number; name: string }>) =>
  Array.from({ length: t.tableSize }, (_, e) => t.ownerOfEntry(e)?.name);

describe('Maglev table', () => {
  it('fills M = 7 as in the paper: B1 B0 B1 B0 B2 B2 B0', () => {
    const t = MaglevTable.of(7, [B(0), B(1), B(2)], paperPermutation);
    assert.deepEqual(table(t), ['B1', 'B0', 'B1', 'B0', 'B2', 'B2', 'B0']);
  });

  it('after B1 leaves (M = 7): B0 B0 B0 B0 B2 B2 B2', () => {
    const t = MaglevTable.of(7, [B(0), B(1), B(2)], paperPermutation).without('B1');
    // Hand-run of the algorithm: B0 takes 3, 0, 1, 2; B2 takes 4, 5, 6. Entry 6 moves from
    // B0 to B2 although B0 stays: Maglev trades a little disruption for an even table.
    assert.deepEqual(table(t), ['B0', 'B0', 'B0', 'B0', 'B2', 'B2', 'B2']);
  });

  it('refuses a table size that is not prime', () => {
    assert.throws(() => MaglevTable.empty(65536, 10), /must be a prime/);
  });

  for (const n of [2, 3, 4, 5, 6, 10, 56]) {
    it(`M = 65537, N = ${n}: every entry owned, shares within 1% of even`, () => {
      const t = MaglevTable.of(65537, members(n));
      const shares = [...t.shares().values()];
      assert.equal(
        shares.reduce((a, b) => a + b, 0),
        65537,
      );
      for (const s of shares) assert.ok(Math.abs(s / (65537 / n) - 1) < 0.01, `${s} vs ${65537 / n}`);
    });
  }

  for (const n of [2, 3, 4, 5, 6]) {
    it(`adding a replica to N = ${n} moves at most 1.3x the minimal 1/(N+1) of entries; removing one, 1.3x 1/N`, () => {
      const before = MaglevTable.of(65537, members(n));
      const added = before.with(member(n + 1));
      const movedOnAdd = countMoved(before, added) / 65537;
      assert.ok(
        movedOnAdd <= 1.3 / (n + 1),
        `add: ${(movedOnAdd * 100).toFixed(2)}% vs minimal ${(100 / (n + 1)).toFixed(2)}%`,
      );
      const removed = before.without('Server-1');
      const movedOnRemove = countMoved(before, removed) / 65537;
      assert.ok(
        movedOnRemove <= 1.3 / n,
        `remove: ${(movedOnRemove * 100).toFixed(2)}% vs minimal ${(100 / n).toFixed(2)}%`,
      );
    });
  }

  it('lists failover candidates: the owner, then distinct owners of the following entries', () => {
    const t = MaglevTable.of(65537, members(4));
    for (const id of [1, 99, 123456, 2n ** 70n]) {
      const c = t.candidates(id);
      assert.equal(c[0], t.lookup(id));
      assert.equal(new Set(c.map((m) => m.name)).size, 4);
    }
  });
});

function countMoved(
  a: MaglevTable<{ index: number; name: string }>,
  b: MaglevTable<{ index: number; name: string }>,
): number {
  let moved = 0;
  for (let e = 0; e < a.tableSize; e++) if (a.ownerOfEntry(e)?.name !== b.ownerOfEntry(e)?.name) moved++;
  return moved;
}
