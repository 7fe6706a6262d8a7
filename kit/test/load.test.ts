import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanAndSd, serverOf } from '../src/load.js';

describe('load helpers', () => {
  it('reads the replica name from the contract body', () => {
    assert.equal(serverOf({ message: 'Hello from Server: S5', status: 'successful' }), 'S5');
    assert.equal(serverOf({ message: 'nope' }), undefined);
    assert.equal(serverOf(null), undefined);
  });

  it('computes mean and population SD', () => {
    assert.deepEqual(meanAndSd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, sd: 2 });
    assert.deepEqual(meanAndSd([]), { mean: 0, sd: 0 });
  });
});
