import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { subscribeChanges as subscribe } from '../../../kit/src/feed.js';
import { type RunningLb, send, startDataPlane, startLb, waitFor } from '../../../kit/src/lb.js';
import type { DataPlaneInstance } from '../../src/lb.js';
import { modelOwner } from '../helpers/ring.js';

describe('key ownership: owners, plans and the change feed', () => {
  let lb: RunningLb;
  let plane: DataPlaneInstance;
  let planeUrl: string;
  before(async () => {
    lb = await startLb({ N: '3', HASH_KEY: 'header:x-key' });
    ({ instance: plane, url: planeUrl } = await startDataPlane(lb.url, { HASH_KEY: 'header:x-key' }));
  });
  after(async () => {
    await plane?.stop();
    await lb?.stop();
  });

  it("owners of 10,000 keys are the model's, and the replicas that answer those keys", async () => {
    const keys = Array.from({ length: 10_000 }, (_, k) => (k % 7 === 0 ? String(k) : `user-${k}`));
    const answer = await lb.call('POST', '/membership/owners', { keys });
    assert.equal(answer.status, 200, answer.text);
    const members = (await lb.call('GET', '/membership')).json;
    assert.equal(answer.json.message.length, 10_000);
    for (const [k, owner] of answer.json.message.entries()) {
      assert.deepEqual(
        [owner.key, owner.replica, owner.version],
        [keys[k], modelOwner(members.members, keys[k]!), members.version],
      );
    }
    for (const key of keys.slice(0, 100)) {
      const served = await send(planeUrl, 'GET', '/home', undefined, { 'x-key': key });
      const one = (await send(planeUrl, 'GET', `/membership/owner?key=${encodeURIComponent(key)}`)).json.message;
      assert.equal(served.headers.get('x-served-by'), one.replica, key);
    }
    // kit's helper for replicas asks the same, in batches of 10,000.
    const { ownerOf } = await import('../../../kit/src/handoff.js');
    const byHelper = await ownerOf(lb.url, [...keys, 'one-more']);
    assert.equal(byHelper.size, 10_001);
    for (const owner of answer.json.message) assert.equal(byHelper.get(owner.key), owner.replica);
    const single = (await lb.call('GET', '/membership/owner?key=123')).json.message;
    assert.deepEqual([single.key, single.routingId], ['123', '123'], 'digits are their own routing id');
  });

  it('refuses a missing or too long key and a batch over 10,000', async () => {
    const missing = await lb.call('GET', '/membership/owner');
    assert.deepEqual([missing.status, missing.json.message], [400, '<Error> key must be a non-empty string']);
    const long = await lb.call('GET', `/membership/owner?key=${'k'.repeat(1025)}`);
    assert.deepEqual([long.status, long.json.message], [400, '<Error> key is longer than 1024 characters (got 1025)']);
    const many = await lb.call('POST', '/membership/owners', {
      keys: Array.from({ length: 10_001 }, (_, k) => `${k}`),
    });
    assert.equal(many.status, 400);
    assert.match(many.json.message, /keys.*10000/);
  });

  it('a plan changes nothing and predicts what the change then moves; what /add and /rm refuse, it refuses alike', async () => {
    const versionBefore = (await lb.call('GET', '/membership')).json.version;
    const feed = await subscribe(lb.url);
    try {
      for (const [op, body, path, method] of [
        ['add', { n: 1, hostnames: ['Server-9'] }, '/add', 'POST'],
        ['rm', { n: 1, hostnames: ['Server-2'] }, '/rm', 'DELETE'],
        ['add', { n: 2, hostnames: ['heavy'], weight: 3 }, '/add', 'POST'],
      ] as const) {
        const plan = await lb.call('POST', '/membership/plan', { op, ...body });
        assert.equal(plan.status, 200, plan.text);
        assert.equal(
          (await lb.call('GET', '/membership')).json.version,
          versionBefore + feed.events.length - 1,
          'the plan changed nothing',
        );
        const seen = feed.events.length;
        const done = await lb.call(method, path, body);
        assert.equal(done.status, 200, done.text);
        await waitFor(`the ${op}'s change`, () => (feed.events.length > seen ? true : undefined), 5000);
        const change = feed.events.at(-1)!.data;
        assert.equal(change.reason, op);
        assert.deepEqual(change.moved, plan.json.message.moved, `${op}: the moved ranges`);
        assert.equal(change.movedRatio, plan.json.message.movedRatio);
        assert.deepEqual(change.shares, plan.json.message.sharesAfter);
        assert.deepEqual(plan.json.message.replicas, done.json.message.replicas);
        assert.ok(change.movedRatio > 0 && change.movedRatio < 1);
      }
    } finally {
      feed.close();
    }
    for (const [body, path, method] of [
      [{ n: 0 }, '/add', 'POST'],
      [{ n: 1, hostnames: ['Server-1'] }, '/add', 'POST'],
      [{ n: 1, weight: 17 }, '/add', 'POST'],
      [{ n: 99 }, '/rm', 'DELETE'],
      [{ n: 1, hostnames: ['nobody'] }, '/rm', 'DELETE'],
    ] as const) {
      const real = await lb.call(method, path, body);
      const plan = await lb.call('POST', '/membership/plan', { op: path.slice(1), ...body });
      assert.equal(real.status, 400);
      assert.deepEqual([plan.status, plan.json], [real.status, real.json], JSON.stringify(body));
    }
  });

  it('the feed resumes after the last event seen, with every version; an id it no longer holds gets the table', async () => {
    const first = await subscribe(lb.url);
    await waitFor('the table', () => first.events[0], 2000);
    assert.equal(first.events[0]!.event, 'reset');
    const table = first.events[0]!.data;
    assert.equal(table.positions, 512);
    assert.deepEqual(Object.keys(table.shares).sort(), (await lb.call('GET', '/rep')).json.message.replicas.sort());
    // Through a data plane: the same events, ids and all.
    const viaPlane = await subscribe(planeUrl);
    await waitFor('the table via the data plane', () => viaPlane.events[0], 2000);
    assert.equal((await lb.call('POST', '/add', { n: 1 })).status, 200);
    await waitFor(
      'one change',
      () => (first.events.length === 2 && viaPlane.events.length === 2 ? true : undefined),
      5000,
    );
    first.close();
    const lastSeen = first.events[1]!.id;
    assert.equal((await lb.call('DELETE', '/rm', { n: 1 })).status, 200);
    assert.equal((await lb.call('POST', '/add', { n: 1 })).status, 200);
    await waitFor('two more via the data plane', () => (viaPlane.events.length === 4 ? true : undefined), 5000);
    const resumed = await subscribe(lb.url, lastSeen);
    await waitFor('the missed changes', () => (resumed.events.length === 2 ? true : undefined), 5000);
    const versionOf = (id: string) => Number(id.split(':')[1]);
    assert.deepEqual(
      resumed.events.map((e) => [e.event, versionOf(e.id), e.data.reason]),
      [
        ['message', versionOf(lastSeen) + 1, 'rm'],
        ['message', versionOf(lastSeen) + 2, 'add'],
      ],
    );
    assert.deepEqual(
      viaPlane.events.slice(1).map((e) => [e.id, e.data]),
      [first.events[1]!, ...resumed.events].map((e) => [e.id, e.data]),
      'the data plane publishes the same events',
    );
    resumed.close();
    viaPlane.close();
    const stale = await subscribe(lb.url, 'another-run:3');
    await waitFor('the table', () => stale.events[0], 2000);
    assert.equal(stale.events[0]!.event, 'reset');
    stale.close();
  });
});
