import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { LbError } from '../contract/errors.js';
import type { ChangeReason, MembershipSnapshot, ReplicaHandle } from '../membership/replica.js';
import { type RoutingTable, smallestFreeIndex, weightOf } from '../routing/index.js';
import type { ReplicaDriver } from './driver.js';
import { type MembershipEvents, type ReplicaEventType, replicaEvent } from './events.js';
import { ReplicaLifecycle } from './lifecycle.js';
import { checkNames, generateNames, nameKey, pickRandom, quoteName } from './names.js';
import { type Probe, probeHeartbeat } from './probe.js';
import { capacityRefusal, refuseOnDriver, takenRefusal } from './refusals.js';

/** A change previewed: the routing table after it, and the members then. */
export interface Plan {
  readonly after: RoutingTable<ReplicaHandle>;
  readonly names: readonly string[];
}

/** A member as the manager knows it. */
export interface Member extends ReplicaHandle {
  /** When this member's current process/container started (ms epoch). */
  readonly startedAt: number;
}

export interface ManagerOptions {
  readonly driver: ReplicaDriver;
  /** The empty routing table (ring or Maglev) that membership changes build on. */
  readonly router: RoutingTable<ReplicaHandle>;
  readonly maxReplicas: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly log: Logger;
  /** How a new or adopted replica is seen to answer. */
  readonly probe?: Probe;
  /** Replicas started or stopped at once by one call. */
  readonly concurrency?: number;
  /** DRAIN_TIMEOUT_MS: how long a removed replica's requests in flight may take before it is stopped. */
  readonly drainTimeoutMs?: number;
  /** Requests in flight on a replica, as this process's data plane counts them. */
  readonly inFlight?: (name: string) => number;
  /**
   * Before `/add` or `/rm` switches routing to `after` (which will be `version`): the key hand-off's
   * prepare (HANDOFF_TIMEOUT_MS bounds it). Other changes switch at once.
   */
  readonly beforeSwitch?: (
    before: RoutingTable<ReplicaHandle>,
    after: RoutingTable<ReplicaHandle>,
    version: number,
  ) => Promise<unknown>;
}

/** How often a drain looks at the requests still in flight. */
const DRAIN_POLL_MS = 50;

/**
 * Owns membership: names, ring indices and the current immutable routing table.
 * Every change runs under one FIFO mutex, so concurrent /add and /rm calls apply
 * one after the other in arrival order while requests keep reading the table.
 * Whether a member is healthy is health/'s business; it asks for `eject` and `restart`.
 */
export class ReplicaManager extends EventEmitter<MembershipEvents> {
  private readonly mutex = new Mutex();
  private readonly byName = new Map<string, Member>();
  /** Removed replicas still finishing their requests. */
  private readonly draining = new Map<string, Member>();
  private readonly drains = new Set<Promise<void>>();
  private current: RoutingTable<ReplicaHandle>;
  private version = 0;
  /** Why the table in use was made. */
  private reason: ChangeReason | undefined;
  private readonly epoch = randomUUID();
  private readonly probe: Probe;
  private readonly lifecycle: ReplicaLifecycle;

  constructor(private readonly options: ManagerOptions) {
    super();
    this.current = options.router;
    this.probe = options.probe ?? probeHeartbeat;
    const { driver, log } = options;
    this.lifecycle = new ReplicaLifecycle({
      driver,
      probe: this.probe,
      get startTimeoutMs() {
        return options.startTimeoutMs;
      },
      log,
      concurrency: options.concurrency ?? 8,
    });
  }

  /** The current routing table: immutable, safe to read without locking. */
  get router(): RoutingTable<ReplicaHandle> {
    return this.current;
  }

  /** Whether `after` ("epoch:version", as a follower last saw) is older than the current table. */
  isNewerThan(after: string): boolean {
    return after !== `${this.epoch}:${this.version}`;
  }

  /** The routing table's members and the version of this table. */
  snapshot(): MembershipSnapshot {
    return {
      epoch: this.epoch,
      version: this.version,
      ...(this.reason === undefined ? {} : { reason: this.reason }),
      members: this.current.members.map(({ name, index, url, weight, joinedAt }) => ({
        name,
        index,
        url,
        weight: weight ?? 1,
        ...(joinedAt === undefined ? {} : { joinedAt }),
      })),
    };
  }

  /** Member names in ring-index order. */
  names(): string[] {
    return this.members().map((m) => m.name);
  }

  /** Members in ring-index order, routed to or not (one being restarted is still a member). */
  members(): Member[] {
    return [...this.byName.values()].sort((a, b) => a.index - b.index);
  }

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  /**
   * Adopts the driver's running replicas, then starts `Server-k` ones up to `n`, or the `listed`
   * ones (a configuration file's `replicas:`) that are not running yet.
   * An adopted replica that does not answer stays a member, out of the routing table.
   */
  init(n: number, listed?: readonly { name: string; weight: number }[]): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const adopted = (await this.options.driver.list()).sort((a, b) => a.index - b.index);
      const adoptees: { handle: ReplicaHandle; answers: boolean }[] = [];
      for (const handle of adopted) {
        if (this.byName.has(handle.name) || this.members().some((m) => m.index === handle.index)) {
          this.options.log.warn({ name: handle.name }, 'duplicate replica found at start; removing it');
          await this.options.driver.stop(handle.name, 0);
          continue;
        }
        this.byName.set(handle.name, { ...handle, startedAt: Date.now() });
        adoptees.push({ handle, answers: await this.probe(handle.url, this.options.heartbeatTimeoutMs) });
      }
      // The table first: listeners (recovery) read it to tell a kept adoptee from one to respawn.
      this.setRouter(this.options.router.with(...adoptees.filter((a) => a.answers).map((a) => a.handle)), 'add');
      for (const { handle, answers } of adoptees)
        this.emitMember('adopted', handle.name, answers ? undefined : 'no heartbeat at adoption');
      if (listed !== undefined) return this.startListed(listed);
      const room = this.options.maxReplicas - this.totalWeight();
      const missing = Math.min(n - this.byName.size, room);
      if (missing > 0) await this.startAll(generateNames(missing, this.byName.keys()), 1);
    });
  }

  /**
   * `/add`: starts `n` replicas of `weight` (the named ones first), all or nothing. The input is
   * well formed (http/admin-input.ts checked it); what depends on membership is checked here.
   */
  add(n: number, hostnames: readonly string[], weight = 1): Promise<string[]> {
    return this.mutex.runExclusive(async () => {
      const names = await this.addition(n, hostnames, weight);
      await this.startAll(names, weight, Date.now());
      return this.names();
    });
  }

  /**
   * What `/add` would do now, changing nothing: the routing table after it and the member names
   * (POST /membership/plan). Refused as `/add` would refuse it.
   */
  async planAdd(n: number, hostnames: readonly string[], weight = 1): Promise<Plan> {
    const names = await this.addition(n, hostnames, weight);
    const indices = this.freeIndices(names.length);
    const planned = names.map((name, k) => ({ name, index: indices[k]!, weight, url: '' }));
    const all = [...this.members(), ...planned].sort((a, b) => a.index - b.index);
    return { after: this.current.with(...planned), names: all.map((m) => m.name) };
  }

  /**
   * What `/rm` would do now, changing nothing; the replicas it picks at random beyond the named
   * ones are picked here at random too (name them all for the plan of one exact change).
   */
  planRemove(n: number, hostnames: readonly string[]): Plan {
    const chosen = this.removal(n, hostnames);
    const after = chosen.reduce((router, name) => (router.has(name) ? router.without(name) : router), this.current);
    return { after, names: this.names().filter((name) => !chosen.includes(name)) };
  }

  /** The names `/add` starts; throws what `/add` refuses. */
  private async addition(n: number, hostnames: readonly string[], weight: number): Promise<string[]> {
    for (const name of hostnames) {
      const refusal = takenRefusal(name, this.byName.keys(), this.draining.keys());
      if (refusal) throw refusal;
    }
    const weights = [...this.byName.values()].map(weightOf);
    const full = capacityRefusal(n, weight, weights, this.options.maxReplicas);
    if (full) throw full;
    const taken = [...this.byName.keys(), ...this.draining.keys(), ...hostnames];
    const names = [...hostnames, ...generateNames(n - hostnames.length, taken)];
    await refuseOnDriver(this.options.driver, names);
    return names;
  }

  /** `/rm`: removes the named replicas, then `n - len(hostnames)` random others. */
  async remove(n: number, hostnames: readonly string[]): Promise<string[]> {
    const { names, chosen } = await this.unroute(n, hostnames);
    // Drained and stopped outside the mutex: a long drain holds back no other change (nor a respawn).
    await Promise.all(chosen.map((name) => this.drainAndStop(name)));
    return names;
  }

  /** Replicas taken out by `/rm` that still finish what they were serving (not members any more). */
  drainingMembers(): Member[] {
    return [...this.draining.values()];
  }

  /** `/rm`'s change: the chosen replicas leave the routing table and membership at once. */
  private unroute(n: number, hostnames: readonly string[]): Promise<{ names: string[]; chosen: string[] }> {
    return this.mutex.runExclusive(async () => {
      const chosen = this.removal(n, hostnames);
      const after = chosen.reduce((router, name) => (router.has(name) ? router.without(name) : router), this.current);
      await this.options.beforeSwitch?.(this.current, after, this.version + 1);
      // Out of the routing table first, so no new request goes there; then drained and stopped.
      this.setRouter(after, 'rm');
      for (const name of chosen) {
        this.draining.set(name, this.byName.get(name)!);
        this.byName.delete(name);
        this.emitMember('draining', name);
      }
      return { names: this.names(), chosen };
    });
  }

  /** The replicas `/rm` takes out (the named ones, then others at random); throws what `/rm` refuses. */
  private removal(n: number, hostnames: readonly string[]): string[] {
    const size = this.byName.size;
    const outOfRange = () =>
      new LbError(
        'BAD_REQUEST',
        size === 0
          ? 'There is no replica to remove'
          : `n must be between 1 and ${size} (the number of replicas), got ${n}`,
      );
    if (n < 1) throw outOfRange();
    // The contract's own check comes before the range: n = 5 with six names is that error.
    if (hostnames.length > n) throw new LbError('HOSTNAMES_OVER_REMOVABLE');
    if (n > size) throw outOfRange();
    checkNames(hostnames);
    for (const name of hostnames) {
      if (!this.byName.has(name))
        throw new LbError('BAD_REQUEST', `Hostname ${quoteName(name)} is not a replica of this load balancer`);
    }
    const others = [...this.byName.keys()].filter((name) => !hostnames.includes(name));
    return [...hostnames, ...pickRandom(others, n - hostnames.length)];
  }

  /**
   * Gives the requests in flight on a removed replica up to DRAIN_TIMEOUT_MS to finish (as this
   * process's data plane counts them), then stops it (SIGTERM, STOP_TIMEOUT_MS, kill).
   */
  private drainAndStop(name: string): Promise<void> {
    const drained = (async () => {
      const deadline = Date.now() + (this.options.drainTimeoutMs ?? 0);
      while (Date.now() < deadline && (this.options.inFlight?.(name) ?? 0) > 0) {
        await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
      }
      await this.lifecycle.stop(name, this.options.stopTimeoutMs);
      this.draining.delete(name);
      this.emitMember('removed', name);
    })();
    this.drains.add(drained);
    void drained.finally(() => this.drains.delete(drained));
    return drained;
  }

  /** Takes a member out of the routing table (it stays a member). False when it is not routed to. */
  eject(name: string): Promise<boolean> {
    return this.mutex.runExclusive(() => {
      if (!this.byName.has(name) || !this.current.has(name)) return false;
      this.setRouter(this.current.without(name), 'flatline');
      return true;
    });
  }

  /**
   * Stops a member and starts it again under the same name and index; it re-enters the
   * routing table once it answers. False when it is no longer a member (removed meanwhile).
   * On failure it stays a member, out of the table, and the error is thrown.
   */
  restart(name: string): Promise<boolean> {
    return this.mutex.runExclusive(async () => {
      const member = this.byName.get(name);
      if (!member) return false;
      if (this.current.has(name)) this.setRouter(this.current.without(name), 'flatline');
      // A respawn is no join: it keeps the join time it had (slow start is not started again).
      const joined = member.joinedAt === undefined ? {} : { joinedAt: member.joinedAt };
      const handle = { ...(await this.lifecycle.replace(name, member.index, weightOf(member))), ...joined };
      this.byName.set(name, { ...handle, startedAt: Date.now() });
      this.setRouter(this.current.with(handle), 'respawn');
      return true;
    });
  }

  /** Waits for queued changes, then releases the driver (process replicas stop). */
  async close(): Promise<void> {
    await Promise.all(this.drains);
    await this.mutex.runExclusive(() => this.options.driver.close(this.options.stopTimeoutMs));
  }

  /** The listed replicas not adopted, by weight, as far as MAX_REPLICAS leaves room. */
  private async startListed(listed: readonly { name: string; weight: number }[]): Promise<void> {
    const known = new Set([...this.byName.keys()].map(nameKey));
    let room = this.options.maxReplicas - this.totalWeight();
    const byWeight = new Map<number, string[]>();
    for (const { name, weight } of listed) {
      if (known.has(nameKey(name)) || weight > room) continue;
      room -= weight;
      byWeight.set(weight, [...(byWeight.get(weight) ?? []), name]);
    }
    for (const [weight, names] of byWeight) await this.startAll(names, weight);
  }

  /** The members' weights added up: what MAX_REPLICAS bounds. */
  private totalWeight(): number {
    let total = 0;
    for (const member of this.byName.values()) total += weightOf(member);
    return total;
  }

  /** The `count` smallest ring indices no member holds (what `/add`'s replicas get). */
  private freeIndices(count: number): number[] {
    const indices: number[] = [];
    const taken = this.members().map((m) => m.index);
    for (let k = 0; k < count; k++) indices.push(smallestFreeIndex([...taken, ...indices]));
    return indices;
  }

  /** Starts every name in parallel (the next free indices); if any fails, stops them all and throws. */
  private async startAll(names: readonly string[], weight: number, joinedAt?: number): Promise<void> {
    const started = await this.lifecycle.startAll(names, this.freeIndices(names.length), weight);
    const joined = joinedAt === undefined ? {} : { joinedAt };
    const handles = started.map((handle) => ({ ...handle, ...joined }));
    for (const handle of handles) this.byName.set(handle.name, { ...handle, startedAt: Date.now() });
    const after = this.current.with(...handles);
    // An /add (it has a join time) hands keys over first; the start does not.
    if (joinedAt !== undefined) await this.options.beforeSwitch?.(this.current, after, this.version + 1);
    this.setRouter(after, 'add');
    for (const name of names) this.emitMember('added', name);
  }

  private setRouter(router: RoutingTable<ReplicaHandle>, reason: ChangeReason): void {
    this.current = router;
    this.version++;
    this.reason = reason;
    this.emit('routing', router, reason);
  }

  private emitMember(type: ReplicaEventType, name: string, detail?: string): void {
    const event = replicaEvent(type, name, detail);
    this.options.log.info(event, `replica ${type}`);
    this.emit('member', event);
  }
}
