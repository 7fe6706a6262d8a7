import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import { MaglevTable } from '../../src/routing/index.js';
import { members } from '../helpers/ring.js';

describe('LB with ROUTING=maglev', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ ROUTING: 'maglev', N: '3' });
  });
  after(() => lb.stop());

  it('routes fixed ids as the Maglev table says, before and after /add', async () => {
    for (const n of [3, 4]) {
      if (n === 4) assert.equal((await lb.call('POST', '/add', { n: 1 })).status, 200);
      const model = MaglevTable.of(65537, members(n));
      for (const id of [1, 42, 100000, 123456, 555555, 999999, 2 ** 45]) {
        const res = await lb.call('GET', '/home', undefined, { 'x-request-id': String(id) });
        assert.equal(res.headers.get('x-served-by'), model.lookup(id)!.name, `N=${n} id ${id}`);
      }
    }
  });
});
