import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { given, MaglevTable, Ring, type RoutingMember, routingIdOf, sha256 } from '../../src/routing/index.js';

const replica = (index: number, weight = 1): RoutingMember => ({ index, name: `Server-${index}`, weight });
const KEYS = Array.from({ length: 10_000 }, (_, k) => `user-${k}`);

/** Each member's share of the keys, and the model: its share of the slots (ring) or entries (Maglev). */
function shares(lookup: (id: ReturnType<typeof routingIdOf>) => RoutingMember | undefined) {
  const counts = new Map<string, number>();
  for (const key of KEYS) {
    const owner = lookup(routingIdOf(key))!.name;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}
/** Four standard deviations of a share p measured on n keys. */
const noise = (p: number, n: number) => 4 * Math.sqrt((p * (1 - p)) / n);

describe('weights (SPEC "Weights")', () => {
  it('ring: a replica of weight w has K x w virtual servers, placed by the same Phi and probing', () => {
    const spec = { slots: 512, virtualServers: 9, hash: given };
    const ring = Ring.of(spec, [replica(1), replica(2, 2), replica(3, 3)]);
    const count = (name: string) => ring.virtualServers().filter((v) => v.member.name === name).length;
    assert.deepEqual([count('Server-1'), count('Server-2'), count('Server-3')], [9, 18, 27]);
    const j = ring
      .virtualServers()
      .filter((v) => v.member.name === 'Server-2')
      .map((v) => v.j);
    assert.deepEqual(
      j.sort((a, b) => a - b),
      Array.from({ length: 18 }, (_, k) => k + 1),
    );
    // Every slot's owner is the first virtual server at or clockwise after it.
    const placed = ring.virtualServers().map((v) => ({ slot: v.slot, name: v.member.name }));
    for (let slot = 0; slot < 512; slot++) {
      const expected = placed.find((p) => p.slot >= slot) ?? placed[0]!;
      assert.equal(ring.ownerOfSlot(slot)?.name, expected.name, `slot ${slot}`);
    }
  });

  it('ring capacity counts virtual servers: the weights may add up to floor(SLOTS / K), not more', () => {
    const spec = { slots: 20, virtualServers: 3, hash: given }; // 6 units of weight
    assert.equal(Ring.of(spec, [replica(1, 4), replica(2, 2)]).size, 2);
    assert.throws(
      () => Ring.of(spec, [replica(1, 4), replica(2, 3)]),
      /ring is full: 20 slots hold at most 6 replicas of 3 virtual servers \(weights add up to 7\)/,
    );
    assert.throws(() => Ring.of(spec, [replica(1, 0)]), /weight must be a positive integer \(got 0\)/);
  });

  it('Maglev: a replica of weight w takes w entries per round of the fill', () => {
    const table = MaglevTable.of(65537, [replica(1), replica(2, 2), replica(3)]);
    const entries = table.shares();
    const total = 65537;
    assert.ok(Math.abs(entries.get('Server-2')! / total - 0.5) < 0.001, `Server-2 has ${entries.get('Server-2')}`);
    assert.ok(Math.abs(entries.get('Server-1')! / total - 0.25) < 0.001);
  });

  for (const table of ['ring', 'maglev'] as const) {
    it(`${table}: a weight-2 replica's share of 10,000 string keys is within sampling noise of the model`, () => {
      const members = [replica(1), replica(2, 2), replica(3)];
      let lookup: (id: ReturnType<typeof routingIdOf>) => RoutingMember | undefined;
      let model: (name: string) => number;
      if (table === 'ring') {
        const ring = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, members);
        lookup = (id) => ring.lookup(id);
        const owned = (name: string) => Array.from({ length: 512 }, (_, s) => ring.ownerOfSlot(s)?.name === name);
        model = (name) => owned(name).filter(Boolean).length / 512;
      } else {
        const maglev = MaglevTable.of(65537, members);
        lookup = (id) => maglev.lookup(id);
        model = (name) => maglev.shares().get(name)! / 65537;
      }
      const counts = shares(lookup);
      for (const { name } of members) {
        const observed = (counts.get(name) ?? 0) / KEYS.length;
        const expected = model(name);
        assert.ok(
          Math.abs(observed - expected) < noise(expected, KEYS.length),
          `${name}: ${observed} of the keys, model ${expected.toFixed(4)}`,
        );
      }
      const heavy = (counts.get('Server-2') ?? 0) / KEYS.length;
      assert.ok(heavy > 0.35, `the weight-2 replica takes about half the keys (got ${heavy})`);
    });
  }
});
