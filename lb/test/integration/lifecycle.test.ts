import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isAlive, type RunningLb, replicasBody, send, spawnLb, startLb, waitFor } from '../../../kit/src/lb.js';
import type { ProcessDriver } from '../../src/replicas/process-driver.js';
import { given, Ring } from '../../src/routing/index.js';

const pids = (lb: RunningLb) => lb.lb.manager.names().map((name) => lb.pid(name));

describe('concurrent membership changes', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ HASH_FUNCTION: 'given', N: '3' });
  });
  after(() => lb.stop());

  it('20 parallel /add calls are served one after the other, ending in one consistent state', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => lb.call('POST', '/add', { n: 1 })));
    assert.ok(answers.every((a) => a.status === 200));
    // Serialized: each call saw the previous ones, so the N values are exactly 4..23.
    assert.deepEqual(
      answers.map((a) => a.json.message.N).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, k) => k + 4),
    );
    const expected = Array.from({ length: 23 }, (_, k) => `Server-${k + 1}`);
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(expected));
    // The live ring equals one rebuilt from scratch, and routing follows it.
    const model = Ring.of(
      { slots: 512, virtualServers: 9, hash: given },
      expected.map((name, k) => ({ index: k + 1, name })),
    );
    const live = lb.lb.manager.router;
    assert.ok(live instanceof Ring);
    assert.deepEqual(
      live.virtualServers().map((v) => [v.slot, v.member.name]),
      model.virtualServers().map((v) => [v.slot, v.member.name]),
    );
    for (const id of [11, 222, 3333, 44444, 555555, 666666]) {
      const res = await lb.call('GET', '/home', undefined, { 'x-request-id': String(id) });
      assert.equal(res.headers.get('x-served-by'), model.lookup(id)!.name);
    }
    assert.equal(new Set(pids(lb)).size, 23);
  });

  it('20 parallel /rm calls leave 3 replicas, requests keep succeeding, and stopped processes are gone', async () => {
    const before = pids(lb);
    let failed = 0;
    let sent = 0;
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        const res = await lb.call('GET', '/home');
        sent++;
        if (res.status !== 200) failed++;
      }
    })();
    const answers = await Promise.all(Array.from({ length: 20 }, () => lb.call('DELETE', '/rm', { n: 1 })));
    flowing = false;
    await traffic;
    assert.ok(answers.every((a) => a.status === 200));
    assert.deepEqual(
      answers.map((a) => a.json.message.N).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, k) => k + 3),
    );
    const rep = (await lb.call('GET', '/rep')).json;
    assert.equal(rep.message.N, 3);
    assert.ok(sent > 0);
    assert.equal(failed, 0, `${failed} of ${sent} requests failed during removal`);
    const kept = new Set(pids(lb));
    for (const pid of before.filter((p) => !kept.has(p)))
      assert.equal(isAlive(pid), false, `pid ${pid} outlived its /rm`);
  });
});

describe('a replica killed with SIGKILL', () => {
  let lb: RunningLb;
  const interval = 200;
  const maxFail = 3;
  before(async () => {
    lb = await startLb({
      HASH_FUNCTION: 'given',
      N: '3',
      HEARTBEAT_INTERVAL_MS: String(interval),
      MAX_FAIL_COUNT: String(maxFail),
    });
  });
  after(() => lb.stop());

  it('is replaced under the same name and index while requests fail over', async () => {
    const driver = lb.lb.driver as ProcessDriver;
    const victim = 'Server-1'; // `given` sends most ids here
    const oldPid = driver.pid(victim)!;
    const statuses = new Map<string, number>();
    let failed = 0;
    let flowing = true;
    const traffic = Array.from({ length: 4 }, async () => {
      while (flowing) {
        const res = await lb.call('GET', '/home');
        const by = res.headers.get('x-served-by') ?? `status ${res.status}`;
        statuses.set(by, (statuses.get(by) ?? 0) + 1);
        if (res.status !== 200) failed++;
      }
    });
    const killedAt = Date.now();
    process.kill(oldPid, 'SIGKILL');
    const newPid = await waitFor(
      'a new Server-1 process in the ring',
      () => {
        const pid = driver.pid(victim);
        const inRing = lb.lb.manager.router.has(victim);
        return pid !== undefined && pid !== oldPid && inRing ? pid : undefined;
      },
      maxFail * interval + 2000,
    );
    const recoveredMs = Date.now() - killedAt;
    // Failures count an interval apart, however many requests hit the dead replica.
    assert.ok(recoveredMs >= (maxFail - 1) * interval, `replaced after only ${recoveredMs} ms`);
    // Traffic reaches the replacement again.
    await waitFor('the new Server-1 to serve', () => (statuses.get(victim) ?? 0) > 0, 2000);
    flowing = false;
    await Promise.all(traffic);
    const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(isAlive(newPid));
    assert.equal(failed, 0, `${failed} of ${sent} requests failed (recovered in ${recoveredMs} ms)`);
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(['Server-1', 'Server-2', 'Server-3']));
    assert.equal(lb.lb.manager.get(victim)!.index, 1);
    assert.equal(lb.lb.recovery.get(victim)!.respawns, 1);
    const metrics = await lb.call('GET', '/metrics');
    assert.match(metrics.text, /^lb_respawns_total\{replica="Server-1"\} 1$/m);
  });

  it('a replica removed by /rm while flatlined is not brought back', async () => {
    const driver = lb.lb.driver as ProcessDriver;
    const pid = driver.pid('Server-2')!;
    process.kill(pid, 'SIGKILL');
    await lb.call('DELETE', '/rm', { n: 1, hostnames: ['Server-2'] });
    await new Promise((r) => setTimeout(r, (maxFail + 2) * interval));
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(['Server-1', 'Server-3']));
    assert.equal(driver.pid('Server-2'), undefined);
  });
});

describe('no child process outlives the LB', () => {
  it('stop() ends every replica process', async () => {
    const lb = await startLb({ N: '4' });
    const children = pids(lb);
    assert.equal(children.length, 4);
    await lb.stop();
    for (const pid of children) assert.equal(isAlive(pid), false);
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
    it(`an LB process ended by ${signal} takes its replicas with it`, async () => {
      const lb = await spawnLb({ N: '3' });
      const rep = await send(lb.url, 'GET', '/rep');
      assert.equal(rep.json.message.N, 3);
      const replicaPids = await childPids(lb.pid);
      assert.equal(replicaPids.length, 3);
      const code = await lb.stop(signal);
      if (signal !== 'SIGKILL') assert.equal(code, 0);
      await waitFor('replicas to exit', () => replicaPids.every((p) => !isAlive(p)) || undefined, 5000);
    });
  }
});

async function childPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}
