import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { ReplicaSelection } from '../../src/proxy/selection.js';
import { Ring } from '../../src/routing/index.js';
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
    s.forgetSuspects();
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
