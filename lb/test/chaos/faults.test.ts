import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isAlive, type RunningLb, replicasBody, startLb, waitFor } from '../../../kit/src/lb.js';
import { type RequestResult, runLoad } from '../../../kit/src/load.js';

const INTERVAL = 200;
const MAX_FAIL = 3;
const env = {
  HASH_FUNCTION: 'sha256',
  N: '3',
  HEARTBEAT_INTERVAL_MS: String(INTERVAL),
  HEARTBEAT_TIMEOUT_MS: '200',
  MAX_FAIL_COUNT: String(MAX_FAIL),
  UPSTREAM_TIMEOUT_MS: '500',
};

/** Load from 50 keep-alive clients while `fault` runs; resolves with every request's outcome. */
async function underLoad(lb: RunningLb, requests: number, fault: () => Promise<void>) {
  const results: RequestResult[] = [];
  const load = runLoad({ url: lb.url, requests, concurrency: 50, timeoutMs: 5000, onResult: (r) => results.push(r) });
  await new Promise((r) => setTimeout(r, 100));
  await fault();
  const summary = await load;
  return { summary, results };
}

const pidOf = (lb: RunningLb, name: string) => lb.pid(name);
const newPid = (lb: RunningLb, name: string, old: number) => () => {
  const pid = pidOf(lb, name);
  return pid !== undefined && pid !== old && lb.lb.manager.router.has(name) ? pid : undefined;
};

describe('faults under load (process driver)', () => {
  let lb: RunningLb | undefined;
  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
  });

  it('SIGKILL of a replica: no failed GET, replaced within MAX_FAIL_COUNT x interval + start', async () => {
    lb = await startLb(env);
    const old = pidOf(lb, 'Server-2')!;
    let recoveredMs = 0;
    const { summary } = await underLoad(lb, 4000, async () => {
      const t0 = Date.now();
      process.kill(old, 'SIGKILL');
      await waitFor('Server-2 replaced', newPid(lb!, 'Server-2', old), MAX_FAIL * INTERVAL + 2000);
      recoveredMs = Date.now() - t0;
    });
    assert.equal(summary.failed, 0, `${summary.failed} of ${summary.requests} failed`);
    assert.ok(recoveredMs <= MAX_FAIL * INTERVAL + 2000, `recovered in ${recoveredMs} ms`);
    console.log(`# SIGKILL: ${summary.requests} requests, 0 failed, replaced in ${recoveredMs} ms`);
  });

  it('a hung replica (SIGSTOP): requests time out and fail over; it is flatlined and replaced', async () => {
    lb = await startLb(env);
    const old = pidOf(lb, 'Server-1')!;
    let recoveredMs = 0;
    const { summary, results } = await underLoad(lb, 4000, async () => {
      const t0 = Date.now();
      process.kill(old, 'SIGSTOP');
      await waitFor('Server-1 replaced', newPid(lb!, 'Server-1', old), MAX_FAIL * (INTERVAL + 200) + 3000);
      recoveredMs = Date.now() - t0;
    });
    assert.equal(isAlive(old), false, 'the hung process was killed');
    assert.equal(summary.failed, 0, `${summary.failed} of ${summary.requests} failed`);
    // Bounded: no request waited much beyond the upstream timeout plus a retry.
    const slowest = Math.max(...results.map((r, k) => r.at - (results[k - 1]?.at ?? 0)));
    assert.ok(slowest < 3000, `a gap of ${slowest} ms between answers`);
    console.log(`# SIGSTOP: ${summary.requests} requests, 0 failed, replaced in ${recoveredMs} ms`);
  });

  it('all replicas dead at once: clean 503s, then recovery without restarting the LB', async () => {
    lb = await startLb(env);
    const pids = ['Server-1', 'Server-2', 'Server-3'].map((n) => pidOf(lb!, n)!);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const during = await lb.call('GET', '/home');
    assert.ok(during.status === 503 || during.status === 200, `got ${during.status}`);
    if (during.status === 503)
      assert.deepEqual(during.json, { message: '<Error> No server replica is available', status: 'failure' });
    const t0 = Date.now();
    await waitFor(
      'all three back',
      async () => ((await lb!.call('GET', '/home')).status === 200 && lb!.lb.manager.router.size === 3) || undefined,
      10_000,
    );
    const recoveredMs = Date.now() - t0;
    const after = await runLoad({ url: lb.url, requests: 1000, concurrency: 20 });
    assert.equal(after.failed, 0);
    assert.deepEqual((await lb.call('GET', '/rep')).json, replicasBody(['Server-1', 'Server-2', 'Server-3']));
    for (const pid of pids) assert.equal(isAlive(pid), false);
    console.log(`# all dead: first answer ${during.status}, all back in ${recoveredMs} ms`);
  });

  it('parallel /add and /rm mixed with respawns end consistent, with no leaked process', async () => {
    lb = await startLb({ ...env, N: '3' });
    const victim = pidOf(lb, 'Server-1')!;
    const { summary } = await underLoad(lb, 3000, async () => {
      process.kill(victim, 'SIGKILL');
      const adds = await Promise.all(Array.from({ length: 10 }, () => lb!.call('POST', '/add', { n: 1 })));
      assert.ok(adds.every((a) => a.status === 200));
      const rms = await Promise.all(Array.from({ length: 10 }, () => lb!.call('DELETE', '/rm', { n: 1 })));
      assert.ok(rms.every((a) => a.status === 200));
    });
    await waitFor(
      'every replica healthy',
      () => lb!.lb.manager.names().every((name) => lb!.lb.recovery.get(name)?.state === 'healthy') || undefined,
      5000,
    );
    assert.equal(summary.failed, 0, `${summary.failed} of ${summary.requests} failed`);
    const names = lb.lb.manager.names();
    assert.equal(names.length, 3);
    assert.deepEqual((await lb.call('GET', '/rep')).json.message.replicas, names);
    assert.deepEqual(
      lb.lb.manager.router.members.map((m) => m.name),
      names,
    );
    const children = (await import('node:fs'))
      .readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const ours = names.map((n) => pidOf(lb!, n));
    const replicaChildren = children.filter((pid) => isAlive(pid) && !ours.includes(pid));
    // Only the three live replicas (plus tsx/test-runner helpers that are not node servers) remain.
    for (const pid of replicaChildren) {
      const cmd = (await import('node:fs')).readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      assert.ok(!cmd.includes('server'), `leaked replica process ${pid}: ${cmd}`);
    }
  });
});
