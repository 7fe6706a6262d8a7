import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { HeartbeatMonitor } from '../../src/health/monitor.js';
import { Recovery } from '../../src/health/recovery.js';
import { ReplicaManager } from '../../src/replicas/manager.js';
import type { ReplicaEvent } from '../../src/replicas/events.js';
import { given, Ring } from '../../src/routing/index.js';
import { FakeDriver, fakeProbe } from '../helpers/fake-driver.js';

const log = pino({ level: 'silent' });

async function setup(n = 3, maxFailCount = 3) {
  const driver = new FakeDriver();
  const down = new Set<string>();
  const probe = fakeProbe(driver, down);
  const manager = new ReplicaManager({
    driver,
    router: Ring.empty({ slots: 512, virtualServers: 9, hash: given }),
    maxReplicas: 10,
    startTimeoutMs: 100,
    stopTimeoutMs: 0,
    heartbeatTimeoutMs: 50,
    log,
    probe,
  });
  const recovery = new Recovery(manager, log);
  const events: string[] = [];
  recovery.on('event', (e: ReplicaEvent) => events.push(`${e.type} ${e.name}`));
  // Ticks are driven by hand: intervalMs only spaces counted failures.
  const monitor = new HeartbeatMonitor({ manager, recovery, intervalMs: 0, timeoutMs: 50, maxFailCount, log, probe });
  await manager.init(n);
  return { driver, down, manager, recovery, monitor, events };
}

/** Lets recoveries started by a tick (off the tick) finish. */
const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('health recovery (fake driver, ticks by hand)', () => {
  it('a replica failing maxFailCount heartbeats in a row is flatlined and respawned under its name and index', async () => {
    const { down, manager, recovery, monitor, events, driver } = await setup();
    down.add('Server-2');
    await monitor.tick();
    assert.deepEqual(recovery.get('Server-2'), { state: 'failing', failures: 1, respawns: 0, retryAt: 0, retryDelayMs: 500, lastError: undefined });
    assert.equal(manager.router.has('Server-2'), true, 'a failing replica stays in the table');
    await monitor.tick();
    await monitor.tick();
    down.delete('Server-2'); // the respawned one answers (its start polls the heartbeat)
    await settle(150);
    assert.deepEqual(events, ['flatlined Server-2', 'respawned Server-2']);
    assert.equal(recovery.get('Server-2')!.state, 'healthy');
    assert.equal(recovery.get('Server-2')!.respawns, 1);
    assert.equal(manager.get('Server-2')!.index, 2);
    assert.ok(driver.calls.includes('start Server-2 2'));
    assert.equal(manager.router.has('Server-2'), true);
  });

  it('a heartbeat that answers again resets the count', async () => {
    const { down, recovery, monitor } = await setup();
    down.add('Server-1');
    await monitor.tick();
    await monitor.tick();
    down.delete('Server-1');
    await monitor.tick();
    assert.equal(recovery.get('Server-1')!.state, 'healthy');
    assert.equal(recovery.get('Server-1')!.failures, 0);
  });

  it('a failed respawn stays flatlined, out of the table, and is retried with a doubling delay', async () => {
    const { down, driver, manager, recovery, monitor, events } = await setup(2, 1);
    down.add('Server-1');
    driver.failStart.add('Server-1');
    await monitor.tick();
    await settle();
    const first = recovery.get('Server-1')!;
    assert.equal(first.state, 'flatlined');
    assert.match(first.lastError!, /would not start/);
    assert.equal(first.retryDelayMs, 1000);
    assert.equal(manager.router.has('Server-1'), false);
    assert.deepEqual(recovery.dueForRespawn(first.retryAt - 1), []);
    assert.deepEqual(recovery.dueForRespawn(first.retryAt), ['Server-1']);
    await recovery.respawn('Server-1');
    assert.equal(recovery.get('Server-1')!.retryDelayMs, 2000);
    driver.failStart.delete('Server-1');
    down.delete('Server-1');
    await recovery.respawn('Server-1');
    assert.equal(recovery.get('Server-1')!.state, 'healthy');
    assert.equal(recovery.get('Server-1')!.retryDelayMs, 500);
    assert.deepEqual(events, ['flatlined Server-1', 'respawn-failed Server-1', 'respawn-failed Server-1', 'respawned Server-1']);
  });

  it('a replica removed while flatlined is not brought back', async () => {
    const { down, driver, manager, recovery, monitor } = await setup(2, 1);
    down.add('Server-2');
    driver.failStart.add('Server-2');
    await monitor.tick();
    await settle();
    await manager.remove(1, ['Server-2']);
    driver.failStart.delete('Server-2');
    await recovery.respawn('Server-2');
    assert.equal(recovery.get('Server-2'), undefined);
    assert.deepEqual(manager.names(), ['Server-1']);
    assert.equal(driver.running.has('Server-2'), false);
  });

  it('counts states for metrics', async () => {
    const { down, recovery, monitor } = await setup(3);
    down.add('Server-3');
    await monitor.tick();
    assert.deepEqual(recovery.countByState(), { healthy: 2, failing: 1, flatlined: 0, respawning: 0 });
  });
});
