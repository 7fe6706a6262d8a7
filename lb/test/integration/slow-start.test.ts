import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance, type DataPlaneInstance } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { Ring, routingIdOf, sha256, slowStartFraction } from '../../src/routing/index.js';

const WINDOW = 600_000;
const env = { HASH_KEY: 'header:x-key', SLOW_START_MS: String(WINDOW) };

describe('slow start through the controller and a data plane (SLOW_START_MS)', () => {
  let lb: RunningLb;
  let plane: DataPlaneInstance;
  let planeUrl = '';
  before(async () => {
    lb = await startLb({ N: '3', ...env });
    const config = parseConfig(
      { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: lb.url, ...env },
      { driver: 'process' },
    );
    plane = createDataPlaneInstance(config, { log: pino({ level: 'silent' }) });
    planeUrl = await plane.start();
  });
  after(async () => {
    await plane.stop();
    await lb.stop();
  });

  it('the join time travels in /membership; keys the newcomer took over stay with their previous owner early in the window, alike on both', async () => {
    const before = lb.lb.manager.router.members;
    const added = await lb.call('POST', '/add', { n: 1 });
    assert.equal(added.status, 200);
    const members = (await lb.call('GET', '/membership')).json.members as ReplicaHandle[];
    const joinedAt = members.find((m) => m.name === 'Server-4')?.joinedAt;
    assert.ok(typeof joinedAt === 'number' && Math.abs(joinedAt - Date.now()) < 5000, `joinedAt ${joinedAt}`);
    assert.equal(members.filter((m) => m.joinedAt !== undefined).length, 1, 'only a replica added by /add has one');
    await waitFor('the data plane to follow', () => (plane.follower.router.has('Server-4') ? true : undefined), 5000);

    const ring = (list: readonly ReplicaHandle[]) => Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, list);
    const [old, now] = [ring(before), ring(lb.lb.manager.router.members)];
    const taken = Array.from({ length: 3000 }, (_, k) => `user-${k}`).filter(
      (key) => now.lookup(routingIdOf(key))!.name === 'Server-4',
    );
    assert.ok(taken.length > 200, `${taken.length} keys taken over`);
    for (const key of taken.slice(0, 300)) {
      const answers = await Promise.all(
        [lb.url, planeUrl].map((url) => send(url, 'GET', '/home', undefined, { 'x-key': key })),
      );
      const by = answers.map((a) => a.headers.get('x-served-by'));
      assert.equal(by[0], by[1], `${key}: both instances choose alike`);
      // Early in a 10-minute window only keys with a tiny frac have moved.
      const elapsed: number = (Date.now() - (joinedAt ?? 0)) / WINDOW;
      const want: string =
        slowStartFraction(routingIdOf(key)) < elapsed ? 'Server-4' : old.lookup(routingIdOf(key))!.name;
      assert.equal(by[0], want, key);
    }
  });
});
