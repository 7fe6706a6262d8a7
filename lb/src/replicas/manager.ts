import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { Mutex } from 'async-mutex';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { smallestFreeIndex, type Router, type RingMember } from '../ring/index.js';
import { probeHeartbeat, waitForHeartbeat, type Probe } from '../health/probe.js';
import type { ReplicaDriver, ReplicaHandle } from './driver.js';
import { AdminError } from './errors.js';
import { generateNames, nameKey, quoteName, REPLICA_NAME } from './names.js';

export type ReplicaState = 'starting' | 'healthy' | 'failing' | 'flatlined' | 'respawning';

/** What the manager knows of one member. Mutated only by the manager. */
export interface Replica {
  readonly name: string;
  readonly index: number;
  url: string;
  state: ReplicaState;
  /** Consecutive failed heartbeats. */
  failures: number;
  respawns: number;
  startedAt: number;
  /** When a failed respawn may be tried again (ms epoch). */
  retryAt: number;
  retryDelayMs: number;
  lastError: string | undefined;
}

/** A ring member carries where to reach it, so a snapshot is all a request needs. */
export interface RingEntry extends RingMember {
  readonly url: string;
}

export type ReplicaEventType = 'added' | 'removed' | 'flatlined' | 'respawned' | 'respawn-failed' | 'adopted';

export interface ReplicaEvent {
  readonly type: ReplicaEventType;
  readonly name: string;
  readonly at: number;
  readonly detail?: string;
}

export interface ManagerOptions {
  readonly driver: ReplicaDriver;
  /** The empty routing table (ring or Maglev) that membership changes build on. */
  readonly router: Router<RingEntry>;
  readonly maxReplicas: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly log: Logger;
  readonly probe?: Probe;
  /** Replicas started or stopped at once by one call. */
  readonly concurrency?: number;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * Owns membership: names, ring indices and the current immutable ring. Every
 * change runs under one FIFO mutex, so concurrent /add and /rm calls apply one
 * after the other in arrival order while requests keep reading the snapshot.
 */
export class ReplicaManager extends EventEmitter {
  private readonly mutex = new Mutex();
  private readonly replicas = new Map<string, Replica>();
  private snapshot: Router<RingEntry>;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly probe: Probe;
  readonly recentEvents: ReplicaEvent[] = [];

  constructor(private readonly options: ManagerOptions) {
    super();
    this.snapshot = options.router;
    this.limit = pLimit(options.concurrency ?? 8);
    this.probe = options.probe ?? probeHeartbeat;
  }

  /** The current routing table: immutable, safe to read without locking. */
  get ring(): Router<RingEntry> {
    return this.snapshot;
  }

  get driver(): ReplicaDriver {
    return this.options.driver;
  }

  /** Member names in ring-index order. */
  names(): string[] {
    return this.members().map((r) => r.name);
  }

  members(): Replica[] {
    return [...this.replicas.values()].sort((a, b) => a.index - b.index);
  }

  get(name: string): Replica | undefined {
    return this.replicas.get(name);
  }

  /** Adopts the driver's running replicas, then starts `Server-k` ones up to `n`. */
  init(n: number): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const adopted = (await this.options.driver.list()).sort((a, b) => a.index - b.index);
      const ring: RingEntry[] = [];
      for (const handle of adopted) {
        if (this.replicas.has(handle.name) || ring.some((m) => m.index === handle.index)) {
          this.options.log.warn({ name: handle.name }, 'duplicate replica found at start; removing it');
          await this.options.driver.stop(handle.name, 0);
          continue;
        }
        const replica = this.record(handle, 'healthy');
        this.replicas.set(handle.name, replica);
        if (await this.probe(handle.url, this.options.heartbeatTimeoutMs)) ring.push(handle);
        else Object.assign(replica, { state: 'flatlined', lastError: 'no heartbeat at adoption' });
        this.emitEvent('adopted', handle.name, replica.state);
      }
      this.setRing(this.options.router.with(...ring));
      const missing = Math.min(n, this.options.maxReplicas) - this.replicas.size;
      if (missing > 0) await this.startAll(generateNames(missing, this.replicas.keys()));
    });
  }

  /** `/add`: starts `n` replicas (the named ones first), all or nothing. */
  add(n: number, hostnames: readonly string[]): Promise<string[]> {
    return this.mutex.runExclusive(async () => {
      if (n < 1) throw new AdminError(`<Error> n must be at least 1 (got ${n})`);
      if (hostnames.length > n) throw new AdminError('<Error> Length of hostname list is more than newly added instances');
      this.checkNames(hostnames);
      for (const name of hostnames) {
        if ([...this.replicas.keys()].some((taken) => nameKey(taken) === nameKey(name))) {
          throw new AdminError(`<Error> Hostname ${quoteName(name)} already exists`);
        }
      }
      const total = this.replicas.size + n;
      if (total > this.options.maxReplicas) {
        throw new AdminError(
          `<Error> Cannot add ${n} replicas: ${this.replicas.size} exist and at most ${this.options.maxReplicas} fit (MAX_REPLICAS)`,
        );
      }
      const names = [...hostnames, ...generateNames(n - hostnames.length, [...this.replicas.keys(), ...hostnames])];
      for (const name of names) {
        const reason = await this.options.driver.conflict(name);
        if (reason) throw new AdminError(`<Error> Hostname ${quoteName(name)} cannot be used: ${reason}`);
      }
      await this.startAll(names);
      return this.names();
    });
  }

  /** `/rm`: removes the named replicas, then `n - len(hostnames)` random others. */
  remove(n: number, hostnames: readonly string[]): Promise<string[]> {
    return this.mutex.runExclusive(async () => {
      const size = this.replicas.size;
      const outOfRange = () =>
        new AdminError(
          size === 0 ? '<Error> There is no replica to remove' : `<Error> n must be between 1 and ${size} (the number of replicas), got ${n}`,
        );
      if (n < 1) throw outOfRange();
      if (hostnames.length > n) throw new AdminError('<Error> Length of hostname list is more than removable instances');
      if (n > size) {
        throw outOfRange();
      }
      this.checkNames(hostnames);
      for (const name of hostnames) {
        if (!this.replicas.has(name)) throw new AdminError(`<Error> Hostname ${quoteName(name)} is not a replica of this load balancer`);
      }
      const others = [...this.replicas.keys()].filter((name) => !hostnames.includes(name));
      const chosen = [...hostnames, ...pickRandom(others, n - hostnames.length)];

      // Out of the ring first, so no new request goes there; then stop (in-flight requests finish).
      let ring = this.snapshot;
      for (const name of chosen) ring = ring.without(name);
      this.setRing(ring);
      for (const name of chosen) this.replicas.delete(name);
      await Promise.all(chosen.map((name) => this.limit(() => this.stopQuietly(name, this.options.stopTimeoutMs))));
      for (const name of chosen) this.emitEvent('removed', name);
      return this.names();
    });
  }

  /** A heartbeat answered: the replica is healthy again. */
  heartbeatSucceeded(name: string): void {
    const replica = this.replicas.get(name);
    if (replica && replica.state === 'failing') {
      replica.state = 'healthy';
      replica.failures = 0;
      this.emit('state', replica);
    }
  }

  /** A heartbeat (or a proxied request) failed; returns the consecutive failure count. */
  heartbeatFailed(name: string): number {
    const replica = this.replicas.get(name);
    if (!replica || (replica.state !== 'healthy' && replica.state !== 'failing')) return 0;
    replica.state = 'failing';
    replica.failures++;
    this.emit('state', replica);
    return replica.failures;
  }

  /**
   * Flatlines a replica: out of the ring at once, stopped, and started again
   * under the same name and index; back in the ring once its heartbeat answers.
   * A replica removed meanwhile by /rm is left alone.
   */
  async flatlineAndRespawn(name: string): Promise<void> {
    await this.mutex.runExclusive(() => {
      const replica = this.replicas.get(name);
      if (!replica || replica.state === 'respawning' || replica.state === 'flatlined') return;
      replica.state = 'flatlined';
      replica.retryAt = 0;
      this.setRing(this.snapshot.without(name));
      this.emitEvent('flatlined', name, `${replica.failures} failed heartbeats`);
    });
    await this.respawn(name);
  }

  /** Starts a flatlined replica again; on failure it stays flatlined and retries with backoff. */
  respawn(name: string): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const replica = this.replicas.get(name);
      if (!replica || replica.state !== 'flatlined') return;
      replica.state = 'respawning';
      this.emit('state', replica);
      await this.stopQuietly(name, 0);
      try {
        const handle = await this.startOne(name, replica.index);
        Object.assign(replica, {
          url: handle.url,
          state: 'healthy',
          failures: 0,
          startedAt: Date.now(),
          retryDelayMs: RETRY_MIN_MS,
          lastError: undefined,
        });
        replica.respawns++;
        this.setRing(this.snapshot.with(handle));
        this.emitEvent('respawned', name);
      } catch (error) {
        const message = errorText(error);
        await this.stopQuietly(name, 0);
        Object.assign(replica, {
          state: 'flatlined',
          lastError: message,
          retryAt: Date.now() + replica.retryDelayMs,
          retryDelayMs: Math.min(replica.retryDelayMs * 2, RETRY_MAX_MS),
        });
        this.emitEvent('respawn-failed', name, message);
        this.options.log.error({ name, err: message }, 'respawn failed; will retry');
      }
    });
  }

  /** Flatlined replicas whose retry time has come (the heartbeat loop respawns them). */
  dueForRespawn(now = Date.now()): string[] {
    return this.members()
      .filter((r) => r.state === 'flatlined' && r.retryAt <= now)
      .map((r) => r.name);
  }

  /** Waits for queued changes, then releases the driver (process replicas stop). */
  async close(): Promise<void> {
    await this.mutex.runExclusive(() => this.options.driver.close(this.options.stopTimeoutMs));
  }

  private checkNames(hostnames: readonly string[]): void {
    const seen = new Set<string>();
    for (const name of hostnames) {
      if (!REPLICA_NAME.test(name)) {
        throw new AdminError(
          `<Error> Invalid hostname ${quoteName(name)}: use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit`,
        );
      }
      if (seen.has(nameKey(name))) throw new AdminError(`<Error> Hostname ${quoteName(name)} appears more than once`);
      seen.add(nameKey(name));
    }
  }

  /** Starts every name in parallel; if any fails, stops them all and throws. */
  private async startAll(names: readonly string[]): Promise<void> {
    const taken = this.members().map((r) => r.index);
    const indices: number[] = [];
    for (const _ of names) indices.push(smallestFreeIndex([...taken, ...indices]));
    const results = await Promise.allSettled(names.map((name, k) => this.limit(() => this.startOne(name, indices[k]!))));
    const failed = results.flatMap((r, k) => (r.status === 'rejected' ? [`${names[k]} (${errorText(r.reason)})`] : []));
    if (failed.length > 0) {
      await Promise.all(names.map((name) => this.limit(() => this.stopQuietly(name, 0))));
      throw new AdminError(`<Error> Could not start ${failed.join(', ')}; nothing was added`, 500);
    }
    const handles = results.map((r) => (r as PromiseFulfilledResult<ReplicaHandle>).value);
    for (const handle of handles) this.replicas.set(handle.name, this.record(handle, 'healthy'));
    this.setRing(this.snapshot.with(...handles));
    for (const name of names) this.emitEvent('added', name);
  }

  private async startOne(name: string, index: number): Promise<ReplicaHandle> {
    const handle = await this.options.driver.start(name, index);
    try {
      await waitForHeartbeat(handle.url, this.options.startTimeoutMs, this.probe);
    } catch (error) {
      await this.stopQuietly(name, 0);
      throw error;
    }
    return handle;
  }

  private async stopQuietly(name: string, graceMs: number): Promise<void> {
    try {
      await this.options.driver.stop(name, graceMs);
    } catch (error) {
      this.options.log.error({ name, err: errorText(error) }, 'could not stop replica');
    }
  }

  private record(handle: ReplicaHandle, state: ReplicaState): Replica {
    return {
      name: handle.name,
      index: handle.index,
      url: handle.url,
      state,
      failures: 0,
      respawns: 0,
      startedAt: Date.now(),
      retryAt: 0,
      retryDelayMs: RETRY_MIN_MS,
      lastError: undefined,
    };
  }

  private setRing(ring: Router<RingEntry>): void {
    this.snapshot = ring;
    this.emit('ring', ring);
  }

  private emitEvent(type: ReplicaEventType, name: string, detail?: string): void {
    const event: ReplicaEvent = { type, name, at: Date.now(), ...(detail ? { detail } : {}) };
    this.recentEvents.push(event);
    if (this.recentEvents.length > 200) this.recentEvents.shift();
    this.options.log.info(event, `replica ${type}`);
    this.emit('event', event);
  }
}

function pickRandom<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  for (let k = pool.length - 1; k > 0; k--) {
    const r = randomInt(k + 1);
    [pool[k], pool[r]] = [pool[r]!, pool[k]!];
  }
  return pool.slice(0, count);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
