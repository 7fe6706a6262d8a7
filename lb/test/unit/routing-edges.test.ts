import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  given,
  HASH_FUNCTION_NAMES,
  hashFunctionByName,
  isPrime,
  MaglevTable,
  Ring,
  RoutingError,
  sha256,
  sharesOf,
} from '../../src/routing/index.js';
import { member, members } from '../helpers/ring.js';

/**
 * Maglev as the paper writes it, independently of MaglevTable: offset and skip from two 48-bit
 * slices of SHA-256(name), members in ring-index order take turns claiming their next free entry.
 */
function referenceMaglev(size: number, names: string[]): string[] {
  const prefs = names.map((name) => {
    const digest = createHash('sha256').update(name).digest();
    return { name, offset: digest.readUIntBE(0, 6) % size, skip: (digest.readUIntBE(6, 6) % (size - 1)) + 1, next: 0 };
  });
  const table: string[] = new Array(size).fill('');
  let filled = 0;
  while (filled < size) {
    for (const p of prefs) {
      if (filled === size) break;
      let entry = (p.offset + p.next * p.skip) % size;
      while (table[entry] !== '') entry = (p.offset + ++p.next * p.skip) % size;
      table[entry] = p.name;
      p.next++;
      filled++;
    }
  }
  return table;
}

describe('routing tables at their edges', () => {
  it('Maglev: every key goes where the reference Maglev puts it (members given out of order are taken in ring-index order)', () => {
    const size = 251;
    const shuffled = [member(4), member(1), member(7), member(2), member(5)];
    const table = MaglevTable.of(size, shuffled);
    assert.deepEqual(
      table.members.map((m) => m.index),
      [1, 2, 4, 5, 7],
    );
    const reference = referenceMaglev(size, ['Server-1', 'Server-2', 'Server-4', 'Server-5', 'Server-7']);
    for (let key = 0; key < 3000; key++)
      assert.equal(table.lookup(key)!.name, reference[sha256.requestSlot(key, size)], `key ${key}`);
    assert.deepEqual(
      [...table.shares()].sort(),
      [...new Set(reference)].map((name) => [name, reference.filter((n) => n === name).length]).sort(),
    );
  });

  it('Maglev: duplicates, capacity (capped at the table size) and removal of an absent name', () => {
    const table = MaglevTable.empty(13, 3).with(member(1), member(2));
    assert.equal(table.kind, 'maglev');
    assert.throws(() => table.with(member(1)), RoutingError);
    assert.throws(
      () => table.with({ name: 'Server-1', index: 9 }),
      /replica 'Server-1' \(index 9\) is already in the table/,
    );
    assert.throws(() => table.with({ name: 'Other', index: 2 }), /is already in the table/);
    assert.equal(table.with(member(3)).size, 3, 'exactly the capacity fits');
    assert.throws(() => table.with(member(3), member(4)), /Maglev table is full: at most 3 replicas/);
    assert.throws(() => MaglevTable.empty(7, 100).with(...members(8)), /at most 7 replicas/);
    assert.equal(MaglevTable.empty(7, 100).with(...members(7)).size, 7);
    assert.deepEqual(table.without('nobody').members, table.members);
    assert.equal(table.has('Server-2'), true);
    assert.equal(table.has('Server-3'), false);
    assert.throws(() => MaglevTable.empty(12, 3), /Maglev table size must be a prime \(got 12\)/);
  });

  it('empty tables route nothing and share nothing', () => {
    const maglev = MaglevTable.empty(13, 3);
    assert.equal(maglev.lookup(5), undefined);
    assert.deepEqual([...maglev.shares()], []);
    const ring = Ring.empty({ slots: 16, virtualServers: 2, hash: given });
    assert.equal(ring.kind, 'ring');
    assert.equal(ring.lookup(5), undefined);
    assert.deepEqual([...sharesOf(ring, new Uint32Array(16).fill(1))], []);
    const filled = Ring.of({ slots: 16, virtualServers: 2, hash: given }, members(2));
    assert.deepEqual(
      [...sharesOf(filled, new Uint32Array(16))],
      [
        ['Server-1', 0],
        ['Server-2', 0],
      ],
      'no ids: shares 0, not NaN',
    );
  });

  it('Ring: bad sizes and duplicate names or indices are refused', () => {
    const ring = (slots: number, virtualServers: number) => Ring.empty({ slots, virtualServers, hash: given });
    assert.throws(() => ring(0, 1), /slots must be a positive integer \(got 0\)/);
    assert.throws(() => ring(1.5, 1), /slots must be a positive integer/);
    assert.throws(() => ring(8, 0), /virtual servers per replica must be an integer in 1\.\.8 \(got 0\)/);
    assert.throws(() => ring(8, 9), /integer in 1\.\.8 \(got 9\)/);
    assert.throws(() => ring(8, 1.5), /integer in 1\.\.8/);
    assert.equal(ring(8, 8).capacity, 1);
    assert.equal(Ring.of({ slots: 64, virtualServers: 2, hash: given }, members(3)).size, 3);
    assert.throws(
      () => Ring.of({ slots: 64, virtualServers: 2, hash: given }, [member(1), { name: 'X', index: 1 }]),
      /names and ring indices must be unique/,
    );
    assert.throws(
      () => Ring.of({ slots: 64, virtualServers: 2, hash: given }, [member(1), { name: 'Server-1', index: 2 }]),
      /names and ring indices must be unique/,
    );
  });

  it('isPrime, and each hash function knows its own name', () => {
    const primes = [-7, 0, 1, 1.5, 2, 3, 4, 9, 13, 25, 49, 65537].filter(isPrime);
    assert.deepEqual(primes, [2, 3, 13, 65537]);
    assert.deepEqual(
      HASH_FUNCTION_NAMES.map((name) => hashFunctionByName(name).name),
      ['given', 'modified', 'sha256'],
    );
  });
});
