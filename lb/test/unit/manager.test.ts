import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LbError } from '../../src/contract/errors.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import type { ReplicaEvent } from '../../src/replicas/events.js';
import { ReplicaManager } from '../../src/replicas/manager.js';
import { given, Ring } from '../../src/routing/index.js';
import { FakeDriver, fakeProbe } from '../helpers/fake-driver.js';

/** A driver that replaces a replica in place (as the swarm driver does), recording it. */
class RestartingDriver extends FakeDriver {
  async restart(name: string, index: number): Promise<ReplicaHandle> {
    this.calls.push(`restart ${name} ${index}`);
    const handle = { name, index, url: `fake://${name}/restarted` };
    this.running.set(name, handle);
    return handle;
  }
}

function managerWith(driver = new FakeDriver(), maxReplicas = 10, down = new Set<string>()) {
  const manager = new ReplicaManager({
    driver,
    router: Ring.empty({ slots: 512, virtualServers: 9, hash: given }),
    maxReplicas,
    startTimeoutMs: 200,
    stopTimeoutMs: 0,
    heartbeatTimeoutMs: 50,
    log: pino({ level: 'silent' }),
    probe: fakeProbe(driver, down),
  });
  const events: string[] = [];
  manager.on('member', (e: ReplicaEvent) => events.push(`${e.type} ${e.name}`));
  return { manager, driver, events };
}

const refused = async (promise: Promise<unknown>, status: number, detail: RegExp | string) => {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof LbError, `not an LbError: ${String(error)}`);
  assert.equal(error.status, status);
  if (typeof detail === 'string') assert.equal(error.detail, detail);
  else assert.match(error.detail, detail);
};

describe('ReplicaManager (fake driver)', () => {
  it('init starts Server-1..n with indices 1..n, all routed, in index order', async () => {
    const { manager, events } = managerWith();
    await manager.init(3);
    assert.deepEqual(manager.names(), ['Server-1', 'Server-2', 'Server-3']);
    assert.deepEqual(
      manager.members().map((m) => m.index),
      [1, 2, 3],
    );
    assert.deepEqual(
      manager.router.members.map((m) => m.name),
      ['Server-1', 'Server-2', 'Server-3'],
    );
    assert.deepEqual(events, ['added Server-1', 'added Server-2', 'added Server-3']);
  });

  it('init adopts running replicas with their indices, keeps one that does not answer out of the table, and tops up', async () => {
    const driver = new FakeDriver();
    driver.adoptable = [
      { name: 'Server-2', index: 2, url: 'fake://Server-2/a' },
      { name: 'S9', index: 5, url: 'fake://S9/a' },
    ];
    const { manager, events } = managerWith(driver, 10, new Set(['S9']));
    await manager.init(3);
    // S9 does not answer its heartbeat: a member, not routed to.
    assert.deepEqual(manager.names(), ['Server-1', 'Server-2', 'S9']);
    assert.deepEqual(
      manager.members().map((m) => m.index),
      [1, 2, 5],
    );
    assert.equal(manager.router.has('S9'), false);
    assert.deepEqual(events, ['adopted Server-2', 'adopted S9', 'added Server-1']);
  });

  it('add names the listed replicas first, generates the rest, and reuses freed indices', async () => {
    const { manager } = managerWith();
    await manager.init(3);
    await manager.remove(1, ['Server-2']);
    assert.deepEqual(await manager.add(3, ['S5']), ['Server-1', 'S5', 'Server-3', 'Server-2', 'Server-4']);
    assert.deepEqual(
      manager.members().map((m) => `${m.name}:${m.index}`),
      ['Server-1:1', 'S5:2', 'Server-3:3', 'Server-2:4', 'Server-4:5'],
    );
  });

  it('refuses bad /add input with the contract texts and changes nothing', async () => {
    const { manager, driver } = managerWith(new FakeDriver(), 4);
    await manager.init(3);
    const before = manager.snapshot();
    const calls = driver.calls.length;
    // The body's own checks (n, names, weight) are http/admin-input.ts's (admin-input.test.ts).
    await refused(manager.add(1, ['server-1']), 400, "Hostname 'server-1' already exists");
    await refused(manager.add(2, []), 400, 'Cannot add 2 replicas: 3 exist and at most 4 fit (MAX_REPLICAS)');
    await refused(
      manager.add(1, ['foreign1']),
      400,
      /^Hostname 'foreign1' cannot be used: a container this load balancer does not manage/,
    );
    assert.deepEqual(manager.snapshot(), before);
    assert.equal(driver.calls.length, calls);
  });

  it('add is all or nothing: one failed start stops the others and names the failure (500)', async () => {
    const { manager, driver } = managerWith();
    await manager.init(2);
    driver.failStart.add('Bb');
    const before = manager.snapshot();
    await refused(manager.add(3, ['Aa', 'Bb']), 500, /^Could not start Bb \(Bb would not start\); nothing was added$/);
    assert.deepEqual(manager.snapshot(), before);
    assert.deepEqual([...driver.running.keys()].sort(), ['Server-1', 'Server-2']);
  });

  it('remove takes the named ones, then random others; refuses bad input with the contract texts', async () => {
    const { manager, events } = managerWith();
    await manager.init(4);
    await refused(manager.remove(1, ['a', 'b']), 400, 'Length of hostname list is more than removable instances');
    await refused(manager.remove(5, []), 400, 'n must be between 1 and 4 (the number of replicas), got 5');
    await refused(manager.remove(1, ['nope']), 400, "Hostname 'nope' is not a replica of this load balancer");
    const left = await manager.remove(2, ['Server-3']);
    assert.equal(left.length, 2);
    assert.ok(!left.includes('Server-3'));
    assert.deepEqual(
      manager.router.members.map((m) => m.name),
      left,
    );
    assert.equal(events.filter((e) => e.startsWith('removed')).length, 2);
    await manager.remove(2, []);
    await refused(manager.remove(1, []), 400, 'There is no replica to remove');
  });

  it('eject takes a member out of the table only; restart brings it back under the same name and index with a new URL', async () => {
    const { manager, driver } = managerWith();
    await manager.init(3);
    const oldUrl = manager.get('Server-2')!.url;
    assert.equal(await manager.eject('Server-2'), true);
    assert.equal(await manager.eject('Server-2'), false);
    assert.deepEqual(manager.names(), ['Server-1', 'Server-2', 'Server-3']);
    assert.equal(manager.router.has('Server-2'), false);
    assert.equal(await manager.restart('Server-2'), true);
    assert.equal(manager.router.has('Server-2'), true);
    assert.equal(manager.get('Server-2')!.index, 2);
    assert.notEqual(manager.get('Server-2')!.url, oldUrl);
    assert.equal(driver.running.get('Server-2')!.url, manager.get('Server-2')!.url);
    assert.equal(await manager.restart('gone'), false);
  });

  it('a failed restart leaves the member out of the table and throws', async () => {
    const { manager, driver } = managerWith();
    await manager.init(2);
    driver.failStart.add('Server-1');
    await assert.rejects(manager.restart('Server-1'), /would not start/);
    assert.deepEqual(manager.names(), ['Server-1', 'Server-2']);
    assert.equal(manager.router.has('Server-1'), false);
  });

  it('every routing change raises the snapshot version and lists members with URLs in index order', async () => {
    const { manager } = managerWith();
    const versions: number[] = [];
    manager.on('routing', () => versions.push(manager.snapshot().version));
    await manager.init(2);
    await manager.add(1, ['Aa']);
    await manager.eject('Server-1');
    const snapshot = manager.snapshot();
    assert.deepEqual(versions, [1, 2, 3, 4]); // init: adoption, then the started ones
    assert.deepEqual(
      snapshot.members.map((m) => [m.name, m.index]),
      [
        ['Server-2', 2],
        ['Aa', 3],
      ],
    );
    assert.match(snapshot.members[0]!.url, /^fake:\/\/Server-2\//);
  });

  it('a follower is told of a newer table by epoch:version, never of the one it has', async () => {
    const { manager } = managerWith();
    await manager.init(1);
    const { epoch, version } = manager.snapshot();
    assert.equal(manager.isNewerThan(`${epoch}:${version}`), false);
    assert.equal(manager.isNewerThan(`${epoch}:${version - 1}`), true);
    assert.equal(manager.isNewerThan(`another-run:${version}`), true);
    await manager.add(1, []);
    assert.equal(manager.isNewerThan(`${epoch}:${version}`), true);
  });

  it('adoption takes replicas in ring-index order, removes duplicates (same name or index), and changes the table once when none is missing', async () => {
    const driver = new FakeDriver();
    driver.adoptable = [
      { name: 'S9', index: 3, url: 'fake://S9/a' },
      { name: 'Server-1', index: 1, url: 'fake://Server-1/a' },
      { name: 'Twin', index: 3, url: 'fake://Twin/a' },
      { name: 'Server-1', index: 2, url: 'fake://Server-1/b' },
    ];
    const { manager, events } = managerWith(driver);
    await manager.init(2);
    assert.deepEqual(events, ['adopted Server-1', 'adopted S9']);
    assert.deepEqual(
      manager.members().map((m) => `${m.name}:${m.index}:${m.url}`),
      ['Server-1:1:fake://Server-1/a', 'S9:3:fake://S9/a'],
    );
    assert.deepEqual(driver.calls.filter((c) => c.startsWith('stop')).sort(), ['stop Server-1', 'stop Twin']);
    assert.equal(manager.snapshot().version, 1, 'one routing change: the adoption; nothing to start');
  });

  it('remove stops what it removes, refuses n = 0, and picks the others at random', async () => {
    const { manager, driver } = managerWith();
    await manager.init(3);
    await refused(manager.remove(0, []), 400, 'n must be between 1 and 3 (the number of replicas), got 0');
    await manager.remove(1, ['Server-2']);
    assert.ok(driver.calls.includes('stop Server-2'));
    assert.equal(driver.running.has('Server-2'), false);
    const picked = new Set<string>();
    for (let k = 0; k < 30; k++) {
      const { manager: m } = managerWith();
      await m.init(3);
      const left = await m.remove(1, []);
      picked.add(['Server-1', 'Server-2', 'Server-3'].find((name) => !left.includes(name))!);
    }
    assert.equal(picked.size, 3, `30 random removals of 1 of 3 picked only ${[...picked]}`);
  });

  it('a new replica that never answers its heartbeat fails /add (500, naming it) and is stopped', async () => {
    const driver = new FakeDriver();
    const { manager } = managerWith(driver, 10, new Set(['Mute']));
    await manager.init(1);
    await refused(manager.add(1, ['Mute']), 500, /^Could not start Mute \(.+\); nothing was added$/);
    assert.equal(driver.running.has('Mute'), false);
    assert.deepEqual(manager.names(), ['Server-1']);
  });

  it('restart replaces in place when the driver can (no stop and start)', async () => {
    const driver = new RestartingDriver();
    const { manager } = managerWith(driver);
    await manager.init(2);
    driver.calls.length = 0;
    assert.equal(await manager.restart('Server-2'), true);
    assert.deepEqual(driver.calls, ['restart Server-2 2']);
    assert.equal(manager.get('Server-2')!.url, 'fake://Server-2/restarted');
    assert.equal(manager.router.has('Server-2'), true);
  });

  it('a silent adoptee is announced as such; remove never picks a named replica twice; close releases the driver', async () => {
    const driver = new FakeDriver();
    driver.adoptable = [{ name: 'Quiet', index: 4, url: 'fake://Quiet/a' }];
    const { manager } = managerWith(driver, 10, new Set(['Quiet']));
    const details: string[] = [];
    manager.on('member', (e: ReplicaEvent) => details.push(`${e.type} ${e.name}: ${e.detail ?? ''}`));
    await manager.init(3);
    assert.equal(details[0], 'adopted Quiet: no heartbeat at adoption');
    for (let k = 0; k < 20; k++) {
      const { manager: m } = managerWith();
      await m.init(3);
      assert.equal((await m.remove(2, ['Server-1'])).length, 1, 'the named one and one other');
    }
    await manager.close();
    assert.equal(driver.calls.at(-1), 'close');
  });

  it('a replica the driver cannot stop is still removed (the error is logged)', async () => {
    const driver = new FakeDriver();
    driver.stop = async (name: string) => {
      driver.calls.push(`stop ${name}`);
      throw new Error('engine unreachable');
    };
    const { manager } = managerWith(driver);
    await manager.init(2);
    assert.deepEqual(await manager.remove(1, ['Server-2']), ['Server-1']);
  });

  it('concurrent calls apply one after the other in arrival order', async () => {
    const { manager } = managerWith();
    await manager.init(1);
    const results = await Promise.all([manager.add(1, ['Aa']), manager.remove(1, ['Aa']), manager.add(1, ['Bb'])]);
    assert.deepEqual(results, [['Server-1', 'Aa'], ['Server-1'], ['Server-1', 'Bb']]);
  });

  it('a name the driver says its platform would refuse is a 400 before anything starts (generated names too)', async () => {
    /** Names as swarm takes them: no dots. */
    class DotlessDriver extends FakeDriver {
      nameProblem(name: string): string | undefined {
        return name.includes('.') ? 'no dots here' : undefined;
      }
    }
    const { manager, driver } = managerWith(new DotlessDriver());
    await manager.init(1);
    const before = [...driver.calls];
    await refused(manager.add(2, ['ok-name', 'a.b']), 400, "Invalid hostname 'a.b': no dots here");
    assert.deepEqual(driver.calls, before, 'nothing was started');
    assert.deepEqual(manager.names(), ['Server-1']);
  });
});
