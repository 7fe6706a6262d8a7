import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { boundedChoice, loadBound } from '../../src/routing/index.js';

describe('bounded loads', () => {
  it('the bound is ceil(factor x (in flight + 1) / N)', () => {
    assert.equal(loadBound(1.25, 0, 3), 1);
    assert.equal(loadBound(1.25, 11, 3), 5);
    assert.equal(loadBound(2, 9, 4), 5);
  });

  it('never picks a replica over the bound when one under it exists, and keeps hash order otherwise', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 1.01, max: 3, noNaN: true }),
        (loads, factor) => {
          const candidates = loads.map((_, k) => ({ name: `S${k}` }));
          const load = (name: string) => loads[Number(name.slice(1))]!;
          const total = loads.reduce((a, b) => a + b, 0);
          const bound = loadBound(factor, total, loads.length);
          const chosen = boundedChoice(candidates, load, bound)!;
          const under = candidates.filter((c) => load(c.name) + 1 <= bound);
          assert.ok(under.length > 0, 'some replica is always under the bound');
          assert.equal(chosen, under[0]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
