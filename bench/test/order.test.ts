import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measuringOrder } from '../src/measure.js';

describe('the bench measuring order', () => {
  it('measures the floor, the LB and the LB with its access log back to back, where the first of them stood', () => {
    const all = ['direct', 'lb', 'lb-cookie', 'lb-log', 'lb-trace100', 'lb-2w', 'node-bare', 'node-floor', 'nginx'];
    assert.deepEqual(measuringOrder(all), [
      'direct',
      'node-floor',
      'lb',
      'lb-log',
      'lb-cookie',
      'lb-trace100',
      'lb-2w',
      'node-bare',
      'nginx',
    ]);
  });

  it('keeps what it was given otherwise', () => {
    assert.deepEqual(measuringOrder(['nginx', 'lb', 'haproxy']), ['nginx', 'lb', 'haproxy']);
    assert.deepEqual(measuringOrder(['nginx', 'haproxy']), ['nginx', 'haproxy']);
    assert.deepEqual(measuringOrder(['lb-log', 'nginx', 'lb']), ['lb', 'lb-log', 'nginx']);
  });
});
