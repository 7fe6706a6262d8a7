import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { failureBody, type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { Ring, routingIdOf, sha256 } from '../../src/routing/index.js';

describe('weights on /add (SPEC "Weights")', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '2', HASH_KEY: 'header:x-key' });
  });
  after(() => lb.stop());

  const membership = async () =>
    (await lb.call('GET', '/membership')).json.members.map((m: ReplicaHandle) => [m.name, m.index, m.weight]);

  it('adds a replica of weight 2: /rep keeps its shape, /membership and the dashboard show the weight', async () => {
    const added = await lb.call('POST', '/add', { n: 1, hostnames: ['Heavy'], weight: 2 });
    assert.equal(added.status, 200, added.text);
    assert.deepEqual(added.json, {
      message: { N: 3, replicas: ['Server-1', 'Server-2', 'Heavy'] },
      status: 'successful',
    });
    assert.deepEqual(await membership(), [
      ['Server-1', 1, 1],
      ['Server-2', 2, 1],
      ['Heavy', 3, 2],
    ]);
    const state = (await lb.call('GET', '/dashboard/state')).json;
    assert.deepEqual(
      state.replicas.map((r: { name: string; weight: number }) => [r.name, r.weight]),
      [
        ['Server-1', 1],
        ['Server-2', 1],
        ['Heavy', 2],
      ],
    );
    assert.equal(state.layout.virtualServers.filter((v: { replica: string }) => v.replica === 'Heavy').length, 18);
  });

  it('bad weights are a 400 that changes nothing', async () => {
    const before = await membership();
    const version = lb.lb.manager.snapshot().version;
    for (const [weight, shown] of [
      [0, '0'],
      [-1, '-1'],
      [1.5, '1.5'],
      [17, '17'],
      ['2', '"2"'],
      [null, 'null'],
      [true, 'true'],
      [[2], '[2]'],
    ] as const) {
      const answer = await lb.call('POST', '/add', { n: 1, weight });
      assert.equal(answer.status, 400, `weight ${shown}`);
      assert.deepEqual(answer.json, failureBody(`<Error> weight must be an integer from 1 to 16 (got ${shown})`));
    }
    const rm = await lb.call('DELETE', '/rm', { n: 1, weight: 2 });
    assert.equal(rm.status, 400);
    assert.deepEqual(await membership(), before);
    assert.equal(lb.lb.manager.snapshot().version, version);
  });

  it('capacity counts weights: MAX_REPLICAS bounds their sum', async () => {
    // 56 units at SLOTS = 512, K = 9; 4 are taken (1 + 1 + 2).
    const answer = await lb.call('POST', '/add', { n: 4, weight: 14 });
    assert.equal(answer.status, 400);
    assert.deepEqual(
      answer.json,
      failureBody(
        '<Error> Cannot add 4 replicas of weight 14: the weights of the 3 that exist add up to 4, and at most 56 fit (MAX_REPLICAS; a replica of weight w counts w times)',
      ),
    );
  });

  it('the weight-2 replica takes its share of 2,000 keys (within sampling noise of the model)', async () => {
    const members = lb.lb.manager.router.members;
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, members);
    const share = (name: string) =>
      Array.from({ length: 512 }, (_, s) => model.ownerOfSlot(s)?.name === name).filter(Boolean).length / 512;
    let heavy = 0;
    for (let k = 0; k < 2000; k++) {
      const answer = await lb.call('GET', '/home', undefined, { 'x-key': `user-${k}` });
      assert.equal(answer.headers.get('x-served-by'), model.lookup(routingIdOf(`user-${k}`))!.name);
      if (answer.headers.get('x-served-by') === 'Heavy') heavy++;
    }
    const p = share('Heavy');
    assert.ok(
      Math.abs(heavy / 2000 - p) < 4 * Math.sqrt((p * (1 - p)) / 2000),
      `Heavy took ${heavy / 2000}, model ${p}`,
    );
  });

  it('a data-plane instance builds the same weighted table from /membership and routes alike', async () => {
    const config = parseConfig(
      { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: lb.url, HASH_KEY: 'header:x-key' },
      { driver: 'process' },
    );
    const plane = createDataPlaneInstance(config, { log: pino({ level: 'silent' }) });
    const url = await plane.start();
    try {
      assert.deepEqual(
        plane.follower.router.members.map((m) => [m.name, m.weight]),
        [
          ['Server-1', 1],
          ['Server-2', 1],
          ['Heavy', 2],
        ],
      );
      const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
      for (let k = 0; k < 300; k++) {
        const answer = await send(url, 'GET', '/home', undefined, { 'x-key': `user-${k}` });
        assert.equal(answer.headers.get('x-served-by'), model.lookup(routingIdOf(`user-${k}`))!.name);
      }
    } finally {
      await plane.stop();
    }
  });

  it('a respawned replica keeps its weight', async () => {
    const old = lb.pid('Heavy');
    process.kill(old, 'SIGKILL');
    await waitFor(
      'Heavy respawned',
      () => {
        const pid = lb.pid('Heavy');
        return lb.lb.manager.router.has('Heavy') && pid !== undefined && pid !== old ? true : undefined;
      },
      10_000,
    );
    assert.deepEqual((await membership()).at(-1), ['Heavy', 3, 2]);
  });
});
