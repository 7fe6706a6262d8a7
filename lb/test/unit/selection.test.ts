import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { ReplicaSelection } from '../../src/proxy/selection.js';
import { Ring, routingIdOf, sha256, slowStartFraction } from '../../src/routing/index.js';
import { identityHash } from '../helpers/ring.js';

const replica = (index: number): ReplicaHandle => ({ index, name: `S${index}`, url: `http://127.0.0.1:${index}` });
const router = Ring.empty<ReplicaHandle>({ slots: 100, virtualServers: 1, hash: identityHash }).with(
  replica(1),
  replica(2),
  replica(3),
  replica(4),
);
const KEY = 15;
/** Hash order for KEY: the owner, then clockwise. */
const ORDER = router.candidates(KEY).map((m) => m.name);

function selection(over: { balanceFactor?: number; ejected?: string[]; failing?: string[] } = {}) {
  return new ReplicaSelection({
    balanceFactor: over.balanceFactor,
    outliers: { isEjected: (name) => over.ejected?.includes(name) ?? false },
    isFailing: (name) => over.failing?.includes(name) ?? false,
  });
}
const pick = (s: ReplicaSelection, tried?: string[]) => s.pick(router, KEY, tried && new Set(tried))?.name;

describe('ReplicaSelection: one policy for the first choice and every failover step', () => {
  it('first choice: the owner in good standing', () => {
    assert.equal(ORDER.length, 4);
    assert.equal(pick(selection()), ORDER[0]);
  });

  it('passes over a suspect, an ejected outlier and a failing replica, first choice and failover alike', () => {
    const s = selection({ ejected: [ORDER[1]!], failing: [ORDER[2]!] });
    s.suspect(ORDER[0]!);
    assert.equal(pick(s), ORDER[3], 'first choice: the only replica in good standing');
    // Failover after ORDER[3] failed: the others are all passed over, so the first untried one serves.
    assert.equal(pick(s, [ORDER[3]!]), ORDER[0]);
    // Failover skips a passed-over replica when another untried one is in good standing.
    const t = selection({ ejected: [ORDER[1]!] });
    assert.equal(pick(t, [ORDER[0]!]), ORDER[2]);
  });

  it('never picks a replica this request already tried; none left is undefined', () => {
    const s = selection();
    assert.equal(pick(s, [ORDER[0]!]), ORDER[1]);
    assert.equal(pick(s, [ORDER[0]!, ORDER[1]!, ORDER[2]!]), ORDER[3]);
    assert.equal(pick(s, ORDER), undefined);
  });

  it('when every replica is passed over, the owner still gets the request', () => {
    const s = selection({ ejected: ORDER });
    assert.equal(pick(s), ORDER[0]);
  });

  it('a suspect is passed over for a second, then trusted again; a new routing table forgets suspects', () => {
    const s = selection();
    s.suspect(ORDER[0]!);
    assert.equal(pick(s), ORDER[1]);
    s.onRouting(router);
    assert.equal(pick(s), ORDER[0]);
  });

  it('bounded loads: a replica over the bound is passed over, on failover too', () => {
    const s = selection({ balanceFactor: 1.25 });
    // 4 in flight to the owner and 4 in all: the bound for the next is ceil(1.25 x 5 / 4) = 2.
    for (let k = 0; k < 4; k++) s.began(ORDER[0]!);
    assert.equal(pick(s), ORDER[1]);
    s.began(ORDER[2]!);
    s.began(ORDER[2]!);
    // 6 in all: bound ceil(1.25 x 7 / 4) = 3; ORDER[2] (2 in flight) still fits, ORDER[1] is tried.
    assert.equal(pick(s, [ORDER[1]!]), ORDER[2]);
    for (let k = 0; k < 4; k++) s.settled(ORDER[0]!);
    assert.equal(pick(s), ORDER[0]);
  });

  it('an empty routing table has no replica', () => {
    const empty = Ring.empty<ReplicaHandle>({ slots: 100, virtualServers: 1, hash: identityHash });
    assert.equal(selection().pick(empty, KEY), undefined);
  });
});

describe('slow start (SPEC "Slow start")', () => {
  const WINDOW = 60_000;
  const JOINED = 1_800_000_000_000;
  const base = Ring.empty<ReplicaHandle>({ slots: 512, virtualServers: 9, hash: sha256 }).with(
    replica(1),
    replica(2),
    replica(3),
  );
  const joined = base.with({ ...replica(4), joinedAt: JOINED });
  const keys = Array.from({ length: 10_000 }, (_, k) => routingIdOf(`user-${k}`));
  const taken = keys.filter((key) => joined.lookup(key)!.name === 'S4');
  const warmAt = (at: number) => {
    const s = new ReplicaSelection({
      balanceFactor: undefined,
      outliers: { isEjected: () => false },
      isFailing: () => false,
      slowStartMs: WINDOW,
      now: () => at,
    });
    s.onRouting(joined);
    return s;
  };

  it('halfway through the window, about half of the keys the newcomer took over go to it; the rest to their previous owner', () => {
    const s = warmAt(JOINED + WINDOW / 2);
    let toNewcomer = 0;
    for (const key of taken) {
      const chosen = s.pick(joined, key)!.name;
      if (chosen === 'S4') toNewcomer++;
      else assert.equal(chosen, base.lookup(key)!.name, 'held back: its owner before the join');
      assert.equal(chosen, s.pick(joined, key)!.name, 'the same choice every time');
      assert.equal(
        chosen,
        (slowStartFraction(key) < 0.5 ? joined : base).lookup(key)!.name,
        'frac(key) < elapsed / window',
      );
    }
    const share = toNewcomer / taken.length;
    assert.ok(taken.length > 1000, `${taken.length} keys moved to S4`);
    assert.ok(Math.abs(share - 0.5) < 4 * Math.sqrt(0.25 / taken.length), `share ${share} of ${taken.length}`);
    for (const key of keys.filter((k) => joined.lookup(k)!.name !== 'S4')) {
      assert.equal(s.pick(joined, key)!.name, joined.lookup(key)!.name, 'keys it did not take are untouched');
    }
  });

  it('two instances with the same membership and clock choose alike; none before the join, all after the window', () => {
    const [a, b] = [warmAt(JOINED + WINDOW / 3), warmAt(JOINED + WINDOW / 3)];
    for (const key of taken) assert.equal(a.pick(joined, key)!.name, b.pick(joined, key)!.name);
    const early = warmAt(JOINED - 5000);
    assert.ok(taken.every((key) => early.pick(joined, key)!.name !== 'S4'));
    const done = warmAt(JOINED + WINDOW);
    assert.ok(taken.every((key) => done.pick(joined, key)!.name === 'S4'));
  });

  it('off (SLOW_START_MS = 0) or without a join time, the table decides alone', () => {
    const off = new ReplicaSelection({
      balanceFactor: undefined,
      outliers: { isEjected: () => false },
      isFailing: () => false,
    });
    off.onRouting(joined);
    assert.ok(taken.every((key) => off.pick(joined, key)!.name === 'S4'));
  });

  it("frac(key) is the first 4 bytes of SHA-256 of the id's shortest big-endian bytes, over 2^32", () => {
    // 0x010203 -> bytes 01 02 03.
    const digest = createHash('sha256')
      .update(Buffer.from([1, 2, 3]))
      .digest();
    assert.equal(slowStartFraction(0x010203), digest.readUInt32BE(0) / 2 ** 32);
    assert.equal(
      slowStartFraction(BigInt('0x0102030405060708090a')),
      createHash('sha256').update(Buffer.from('0102030405060708090a', 'hex')).digest().readUInt32BE(0) / 2 ** 32,
    );
  });
});
