import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { HeartbeatMonitor } from '../../src/health/monitor.js';
import { Recovery } from '../../src/health/recovery.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import type { ReplicaEvent } from '../../src/replicas/events.js';
import { ReplicaManager } from '../../src/replicas/manager.js';
import { given, Ring } from '../../src/routing/index.js';
import { FakeDriver, fakeProbe } from '../helpers/fake-driver.js';

const log = pino({ level: 'silent' });

async function setup(n = 3, maxFailCount = 3, adoptable: ReplicaHandle[] = [], down = new Set<string>()) {
  const driver = new FakeDriver();
  driver.adoptable = adoptable;
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
  const monitor = new HeartbeatMonitor({
    manager,
    recovery,
    settings: { heartbeatIntervalMs: 0, heartbeatTimeoutMs: 50, maxFailCount },
    log,
    probe,
  });
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
    assert.deepEqual(recovery.get('Server-2'), {
      state: 'failing',
      failures: 1,
      respawns: 0,
      retryAt: 0,
      retryDelayMs: 500,
      lastError: undefined,
    });
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

  it('adopted replicas that answer are kept: healthy, routed, never restarted, past maxFailCount ticks', async () => {
    const adoptable = [1, 2, 3].map((i) => ({ name: `Server-${i}`, index: i, url: `fake://Server-${i}/old` }));
    const { manager, recovery, monitor, events, driver } = await setup(3, 3, adoptable);
    for (let tick = 0; tick < 6; tick++) await monitor.tick();
    await settle(150);
    assert.deepEqual(events, []);
    assert.deepEqual(driver.calls, [], 'nothing started or stopped');
    assert.deepEqual(
      manager.snapshot().members.map((m) => m.url),
      ['fake://Server-1/old', 'fake://Server-2/old', 'fake://Server-3/old'],
    );
    for (const name of ['Server-1', 'Server-2', 'Server-3']) assert.equal(recovery.get(name)!.state, 'healthy');
  });

  it('an adopted replica that does not answer is respawned under its name and index; the others are kept', async () => {
    const adoptable = [1, 2].map((i) => ({ name: `Server-${i}`, index: i, url: `fake://Server-${i}/old` }));
    const { manager, monitor, events, driver, down } = await setup(2, 3, adoptable, new Set(['Server-2']));
    down.delete('Server-2'); // its replacement answers
    await monitor.tick(); // due respawns are started by a tick
    await settle(150);
    assert.deepEqual(events, ['respawned Server-2']);
    assert.deepEqual(driver.calls, ['stop Server-2', 'start Server-2 2']);
    assert.equal(manager.snapshot().members[0]!.url, 'fake://Server-1/old');
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
    assert.deepEqual(events, [
      'flatlined Server-1',
      'respawn-failed Server-1',
      'respawn-failed Server-1',
      'respawned Server-1',
    ]);
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

  it('only members in the ring are heartbeated; states change only along the machine, each change announced once', async () => {
    const { down, driver, recovery, monitor } = await setup(2, 1);
    const states: string[] = [];
    recovery.on('state', (name, health) => states.push(`${name} ${health.state}`));
    recovery.succeeded('Server-1'); // healthy already: nothing to announce
    assert.equal(recovery.isFailing('Server-1'), false);
    down.add('Server-2');
    driver.failStart.add('Server-2');
    await monitor.tick();
    await settle();
    assert.equal(recovery.get('Server-2')!.state, 'flatlined');
    assert.deepEqual(recovery.checked(), ['Server-1'], 'a flatlined member is not heartbeated');
    assert.equal(recovery.failed('Server-2'), 0, 'a flatlined member counts no heartbeat failures');
    await recovery.flatline('Server-2'); // already flatlined: nothing happens
    assert.deepEqual(states, ['Server-2 failing', 'Server-2 flatlined', 'Server-2 respawning', 'Server-2 flatlined']);
    assert.ok(recovery.get('Server-2')!.retryAt > Date.now(), 'the retry waits its delay');
    assert.deepEqual(recovery.dueForRespawn(), []);
  });

  it('a failing member is passed over (isFailing) until a heartbeat answers', async () => {
    const { down, recovery, monitor } = await setup(2, 3);
    const states: string[] = [];
    recovery.on('state', (name, health) => states.push(`${name} ${health.state}`));
    down.add('Server-1');
    await monitor.tick();
    assert.equal(recovery.isFailing('Server-1'), true);
    assert.equal(recovery.isFailing('Server-2'), false);
    down.delete('Server-1');
    await monitor.tick();
    assert.equal(recovery.isFailing('Server-1'), false);
    assert.deepEqual(states, ['Server-1 failing', 'Server-1 healthy']);
  });

  it('the loop: started it heartbeats every interval and checks a reported failure at once; stopped it does neither', async () => {
    const driver = new FakeDriver();
    const probed: string[] = [];
    const probe = async (url: string) => {
      probed.push(url.split('/')[2]!);
      return true;
    };
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
    await manager.init(2);
    probed.length = 0;
    const monitor = new HeartbeatMonitor({
      manager,
      recovery,
      settings: { heartbeatIntervalMs: 30, heartbeatTimeoutMs: 50, maxFailCount: 3 },
      log,
      probe,
    });
    monitor.reportFailure('Server-1');
    await settle(10);
    assert.deepEqual(probed, [], 'not started: a report checks nothing');
    monitor.start();
    monitor.start(); // a second start does not double the loop
    monitor.reportFailure('Server-2');
    await settle(10);
    assert.deepEqual(probed, ['Server-2']);
    await settle(200);
    const rounds = probed.filter((n) => n === 'Server-1').length;
    assert.ok(rounds >= 2 && rounds <= 8, `${rounds} rounds in ~200 ms at 30 ms apart`);
    await monitor.stop();
    const after = probed.length;
    await settle(100);
    assert.equal(probed.length, after, 'stopped: no more rounds');
  });

  it('failures reported back to back count at most once per interval', async () => {
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
    await manager.init(1);
    const monitor = new HeartbeatMonitor({
      manager,
      recovery,
      settings: { heartbeatIntervalMs: 10_000, heartbeatTimeoutMs: 50, maxFailCount: 2 },
      log,
      probe,
    });
    monitor.start();
    down.add('Server-1');
    for (let k = 0; k < 5; k++) {
      monitor.reportFailure('Server-1');
      await settle(5);
    }
    assert.equal(recovery.get('Server-1')!.failures, 1, 'five reports within one interval count once');
    await monitor.stop();
  });

  it('names it does not know are neither failing nor counted; a flatline runs once however often it is asked', async () => {
    const { driver, recovery, events } = await setup(2, 1);
    assert.equal(recovery.isFailing('nobody'), false);
    recovery.succeeded('nobody');
    assert.equal(recovery.failed('nobody'), 0);
    await recovery.flatline('nobody');
    recovery.failed('Server-1');
    driver.calls.length = 0;
    await Promise.all([recovery.flatline('Server-1'), recovery.flatline('Server-1')]);
    assert.deepEqual(driver.calls, ['stop Server-1', 'start Server-1 1'], 'one restart');
    assert.deepEqual(events, ['flatlined Server-1', 'respawned Server-1']);
  });

  it('events carry what the dashboard shows: how many heartbeats failed', async () => {
    const { down, recovery, monitor } = await setup(2, 2);
    const details: string[] = [];
    recovery.on('event', (e: ReplicaEvent) => details.push(`${e.type}: ${e.detail ?? ''}`));
    down.add('Server-2');
    await monitor.tick();
    await monitor.tick();
    down.delete('Server-2');
    await settle(150);
    assert.deepEqual(details, ['flatlined: 2 failed heartbeats', 'respawned: ']);
  });

  it('the loop, stopped in the middle of a round, starts no other; a reported failure after stop checks nothing', async () => {
    const driver = new FakeDriver();
    let probes = 0;
    const probe = async () => {
      probes++;
      await new Promise((r) => setTimeout(r, 60));
      return true;
    };
    const manager = new ReplicaManager({
      driver,
      router: Ring.empty({ slots: 512, virtualServers: 9, hash: given }),
      maxReplicas: 10,
      startTimeoutMs: 1000,
      stopTimeoutMs: 0,
      heartbeatTimeoutMs: 50,
      log,
      probe,
    });
    const recovery = new Recovery(manager, log);
    await manager.init(1);
    const monitor = new HeartbeatMonitor({
      manager,
      recovery,
      settings: { heartbeatIntervalMs: 10, heartbeatTimeoutMs: 50, maxFailCount: 3 },
      log,
      probe,
    });
    monitor.start();
    await settle(30); // a round is in flight (its probe takes 60 ms)
    await monitor.stop();
    const after = probes;
    monitor.reportFailure('Server-1');
    await settle(150);
    assert.equal(probes, after, 'no round and no check after stop');
  });

  it('one check of a member at a time; a failure of a replaced incarnation is not counted against the new one', async () => {
    const driver = new FakeDriver();
    const probed: string[] = [];
    // The first incarnation (url .../1) fails slowly; later ones answer.
    const probe = async (url: string) => {
      probed.push(url);
      if (!url.endsWith('/1')) return true;
      await new Promise((r) => setTimeout(r, 80));
      return false;
    };
    const manager = new ReplicaManager({
      driver,
      router: Ring.empty({ slots: 512, virtualServers: 9, hash: given }),
      maxReplicas: 10,
      startTimeoutMs: 1000,
      stopTimeoutMs: 0,
      heartbeatTimeoutMs: 50,
      log,
      probe: async (url) => !url.endsWith('/1') || probed.length === 0,
    });
    const recovery = new Recovery(manager, log);
    await manager.init(1);
    const monitor = new HeartbeatMonitor({
      manager,
      recovery,
      settings: { heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 50, maxFailCount: 3 },
      log,
      probe,
    });
    monitor.start();
    monitor.reportFailure('Server-1');
    monitor.reportFailure('Server-1'); // already being checked
    await settle(10);
    assert.deepEqual(probed, ['fake://Server-1/1']);
    await manager.restart('Server-1'); // replaced while its check is in flight
    await settle(120);
    assert.equal(recovery.get('Server-1')!.failures, 0);
    await monitor.stop();
  });

  it('a member whose respawn failed is retried by a later round (recoveries run one at a time, and end)', async () => {
    const { down, driver, monitor, events } = await setup(1, 1);
    down.add('Server-1');
    driver.failStart.add('Server-1');
    await monitor.tick();
    await settle(50);
    assert.deepEqual(events, ['flatlined Server-1', 'respawn-failed Server-1']);
    await settle(550); // the first retry is due 500 ms after the failure
    await monitor.tick();
    await settle(50);
    assert.deepEqual(events, ['flatlined Server-1', 'respawn-failed Server-1', 'respawn-failed Server-1']);
  });

  it('counts states for metrics', async () => {
    const { down, recovery, monitor } = await setup(3);
    down.add('Server-3');
    await monitor.tick();
    assert.deepEqual(recovery.countByState(), { healthy: 2, failing: 1, flatlined: 0, respawning: 0 });
  });
});
