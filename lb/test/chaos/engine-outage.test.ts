import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { send, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createLoadBalancer } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { driverError, type ReplicaDriver } from '../../src/replicas/driver.js';
import { ProcessDriver } from '../../src/replicas/process-driver.js';

/** The process driver behind a switch: while `down`, every call fails as an unreachable engine would. */
class OutageDriver implements ReplicaDriver {
  readonly kind = 'outage';
  down = false;
  startAttempts = 0;
  constructor(readonly inner: ProcessDriver) {}
  private check(): void {
    if (this.down) throw driverError('cannot reach the Docker engine: connect ECONNREFUSED /var/run/docker.sock');
  }
  async start(name: string, index: number): Promise<ReplicaHandle> {
    this.startAttempts++;
    this.check();
    return this.inner.start(name, index);
  }
  async stop(name: string, graceMs: number): Promise<void> {
    this.check();
    return this.inner.stop(name, graceMs);
  }
  list = () => this.inner.list();
  conflict = () => this.inner.conflict();
  close = (graceMs: number) => this.inner.close(graceMs);
}

describe('replica engine unreachable for a while', () => {
  it('respawns fail with a clear error and retry with backoff; /add is refused cleanly; all resumes afterwards', async () => {
    const driver = new OutageDriver(new ProcessDriver());
    const config = parseConfig(
      { PORT: '0', N: '2', HEARTBEAT_INTERVAL_MS: '100', HEARTBEAT_TIMEOUT_MS: '100', MAX_FAIL_COUNT: '2' },
      { driver: 'process' },
    );
    const lb = await createLoadBalancer(config, { driver, log: pino({ level: 'silent' }) });
    const url = await lb.start();
    try {
      driver.down = true;
      process.kill(driver.inner.pid('Server-1')!, 'SIGKILL');
      // Flatlined, and every respawn attempt fails while the engine is down.
      await waitFor(
        'a failed respawn',
        () => lb.events.recent().some((e) => e.type === 'respawn-failed') || undefined,
        5000,
      );
      const attemptsAt = driver.startAttempts;
      await new Promise((r) => setTimeout(r, 1500));
      const retries = driver.startAttempts - attemptsAt;
      // Backoff: 0.5 s, 1 s, 2 s ... so about two retries in 1.5 s, not one per heartbeat (15).
      assert.ok(retries >= 1 && retries <= 3, `${retries} retries in 1.5 s`);
      assert.equal(lb.recovery.get('Server-1')!.state, 'flatlined');
      assert.match(lb.recovery.get('Server-1')!.lastError!, /cannot reach the Docker engine/);

      // Requests still flow to the survivor; admin calls fail cleanly and change nothing.
      for (let k = 0; k < 20; k++) assert.equal((await send(url, 'GET', '/home')).status, 200);
      const add = await send(url, 'POST', '/add', { n: 1 });
      assert.equal(add.status, 500);
      assert.match(
        add.json.message,
        /^<Error> Could not start Server-3 \(cannot reach the Docker engine: .*\); nothing was added$/,
      );
      assert.deepEqual((await send(url, 'GET', '/rep')).json.message.replicas, ['Server-1', 'Server-2']);

      driver.down = false;
      await waitFor(
        'Server-1 back',
        () => (lb.recovery.get('Server-1')!.state === 'healthy' && lb.manager.router.has('Server-1')) || undefined,
        10_000,
      );
      assert.equal((await send(url, 'POST', '/add', { n: 1 })).status, 200);
      assert.deepEqual((await send(url, 'GET', '/rep')).json.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    } finally {
      driver.down = false;
      await lb.stop();
    }
  });
});
