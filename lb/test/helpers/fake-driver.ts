import type { ReplicaHandle } from '../../src/membership/replica.js';
import type { ReplicaDriver } from '../../src/replicas/driver.js';

/**
 * Replicas in memory: `url` is `fake://<name>/<generation>`, so a restart is visible.
 * `failStart` names make start() throw; `adoptable` handles are what list() returns.
 */
export class FakeDriver implements ReplicaDriver {
  readonly kind = 'fake';
  readonly running = new Map<string, ReplicaHandle>();
  readonly failStart = new Set<string>();
  readonly calls: string[] = [];
  adoptable: ReplicaHandle[] = [];
  private generation = 0;

  async start(name: string, index: number): Promise<ReplicaHandle> {
    this.calls.push(`start ${name} ${index}`);
    if (this.failStart.has(name)) throw new Error(`${name} would not start`);
    const handle = { name, index, url: `fake://${name}/${++this.generation}` };
    this.running.set(name, handle);
    return handle;
  }

  async stop(name: string): Promise<void> {
    this.calls.push(`stop ${name}`);
    this.running.delete(name);
  }

  async list(): Promise<ReplicaHandle[]> {
    for (const handle of this.adoptable) this.running.set(handle.name, handle);
    return [...this.adoptable];
  }

  async conflict(name: string): Promise<string | undefined> {
    return name.startsWith('foreign')
      ? 'a container this load balancer does not manage already has that name'
      : undefined;
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

/** A heartbeat probe that answers for running replicas except those listed as down. */
export function fakeProbe(driver: FakeDriver, down: Set<string> = new Set()) {
  return async (url: string): Promise<boolean> => {
    const name = url.split('/')[2]!;
    return driver.running.get(name)?.url === url && !down.has(name);
  };
}
