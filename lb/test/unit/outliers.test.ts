import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutlierDetector } from '../../src/health/outliers.js';

const options = { outlierConsecutive5xx: 3, outlierEjectionMs: 1000, outlierMaxEjectedPercent: 50 };

describe('outlier detection (passive health)', () => {
  it('ejects after N consecutive 5xx or failed attempts, for a back-off that grows with each ejection', () => {
    const ejected: string[] = [];
    const d = new OutlierDetector(
      options,
      () => 4,
      (name, until) => ejected.push(`${name}@${until}`),
    );
    d.observe('A', 500, 0);
    d.observe('A', 0, 0); // a failed attempt counts too
    assert.equal(d.isEjected('A', 0), false);
    d.observe('A', 503, 0);
    assert.equal(d.isEjected('A', 10), true);
    assert.equal(d.isEjected('A', 1000), false, 'back after OUTLIER_EJECTION_MS');
    for (let k = 0; k < 3; k++) d.observe('A', 502, 2000);
    assert.equal(d.isEjected('A', 3999), true, 'second ejection lasts twice as long');
    assert.equal(d.isEjected('A', 4000), false);
    assert.deepEqual(ejected, ['A@1000', 'A@4000']);
  });

  it('an ejection lasts OUTLIER_EJECTION_MS of real time, whatever the wall clock does meanwhile', async () => {
    const d = new OutlierDetector({ ...options, outlierEjectionMs: 100 }, () => 4);
    const realNow = Date.now;
    try {
      for (let k = 0; k < 3; k++) d.observe('A', 500);
      assert.equal(d.isEjected('A'), true);
      Date.now = () => realNow() - 3_600_000; // stepped back an hour
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(d.isEjected('A'), false, 'back after 100 ms, not after an hour');
    } finally {
      Date.now = realNow;
    }
  });

  it('any answer below 500 resets the count', () => {
    const d = new OutlierDetector(options, () => 4);
    d.observe('A', 500, 0);
    d.observe('A', 500, 0);
    d.observe('A', 404, 0);
    d.observe('A', 500, 0);
    d.observe('A', 500, 0);
    assert.equal(d.isEjected('A', 0), false);
  });

  it('never ejects more than the allowed share, but always allows one', () => {
    const d = new OutlierDetector(options, () => 3);
    for (const name of ['A', 'B']) for (let k = 0; k < 3; k++) d.observe(name, 500, 0);
    assert.deepEqual(d.ejected(0), ['A'], '50% of 3 is 1');
    const none = new OutlierDetector({ ...options, outlierMaxEjectedPercent: 0 }, () => 3);
    for (let k = 0; k < 3; k++) none.observe('A', 500, 0);
    assert.deepEqual(none.ejected(0), ['A'], 'at least one may be ejected');
  });

  it('a forgotten replica starts clean', () => {
    const d = new OutlierDetector(options, () => 3);
    for (let k = 0; k < 3; k++) d.observe('A', 500, 0);
    d.forget('A');
    assert.equal(d.isEjected('A', 1), false);
    assert.deepEqual(d.ejected(1), []);
  });

  it('a good answer from a replica never seen is fine; an unknown name is not ejected while another is', () => {
    const d = new OutlierDetector(options, () => 4);
    d.observe('New', 200, 0);
    for (let k = 0; k < 3; k++) d.observe('A', 500, 0);
    assert.equal(d.isEjected('A', 1), true);
    assert.equal(d.isEjected('New', 1), false);
    assert.equal(d.isEjected('Never', 1), false);
    assert.deepEqual(d.ejected(1), ['A']);
  });

  it('the cap is the share of the replicas: 10 replicas at 50% eject at most 5', () => {
    const d = new OutlierDetector(options, () => 10);
    for (const name of 'ABCDEFG') for (let k = 0; k < 3; k++) d.observe(name, 500, 0);
    assert.deepEqual(d.ejected(1), ['A', 'B', 'C', 'D', 'E']);
  });
});
