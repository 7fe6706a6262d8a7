import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LbError } from '../../src/contract/errors.js';
import { addRequest } from '../../src/http/admin-input.js';
import type { AddBody } from '../../src/http/schemas.js';

const refused = (body: AddBody, detail: RegExp | string) => {
  assert.throws(
    () => addRequest(body),
    (e: unknown) =>
      e instanceof LbError &&
      e.status === 400 &&
      (typeof detail === 'string' ? e.detail === detail : detail.test(e.detail)),
  );
};

describe("/add's body as typed values (http/admin-input.ts)", () => {
  it('refuses bad input with the contract texts, in the contract order', () => {
    refused({ n: 1, hostnames: ['a', 'b'] }, 'Length of hostname list is more than newly added instances');
    refused({ n: 0, hostnames: [] }, 'n must be at least 1 (got 0)');
    refused({ n: 0, weight: 0 }, 'n must be at least 1 (got 0)');
    refused({ n: 2, hostnames: ['xy', 'XY'] }, "Hostname 'XY' appears more than once");
    refused({ n: 1, hostnames: ['-bad'] }, /^Invalid hostname '-bad'/);
    refused({ n: 1, hostnames: ['W'] }, /^Invalid hostname 'W': use 2 to 63 letters/);
    for (const weight of [0, -1, 1.5, 17, '2', null]) {
      refused({ n: 1, weight }, `weight must be an integer from 1 to 16 (got ${JSON.stringify(weight)})`);
    }
  });

  it('gives the defaults: no names, weight 1', () => {
    assert.deepEqual(addRequest({ n: 2 }), { n: 2, hostnames: [], weight: 1 });
    assert.deepEqual(addRequest({ n: 2, hostnames: ['S5'], weight: 16 }), { n: 2, hostnames: ['S5'], weight: 16 });
  });
});
