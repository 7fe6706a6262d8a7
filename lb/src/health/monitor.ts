import type { Logger } from 'pino';
import type { ReplicaManager } from '../replicas/manager.js';
import { type Probe, probeHeartbeat } from '../replicas/probe.js';
import type { Settings } from '../settings/schema.js';
import type { Recovery } from './recovery.js';

export interface MonitorOptions {
  readonly manager: ReplicaManager;
  readonly recovery: Recovery;
  /** HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, MAX_FAIL_COUNT: read at each round (a reload may change them). */
  readonly settings: Readonly<Pick<Settings, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'maxFailCount'>>;
  readonly log: Logger;
  readonly probe?: Probe;
}

/**
 * The heartbeat loop. Each tick checks every replica in the ring in parallel and
 * waits for all before the next interval starts, so ticks never overlap. A
 * replica that fails `maxFailCount` checks in a row is flatlined and respawned.
 */
export class HeartbeatMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly inFlight = new Set<string>();
  private readonly recovering = new Set<string>();
  /** When each replica's last failure was counted: failures count at most once per interval. */
  private readonly lastCounted = new Map<string, number>();
  private readonly probe: Probe;
  private tickDone: Promise<void> = Promise.resolve();

  constructor(private readonly options: MonitorOptions) {
    this.probe = options.probe ?? probeHeartbeat;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** Stops the loop and waits for a tick in progress. Respawns under way finish on their own. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.tickDone;
  }

  /** The proxy saw a refused/reset connection: check that replica now rather than at the next tick. */
  reportFailure(name: string): void {
    if (this.running) void this.check(name);
  }

  /** One round: heartbeat every replica in the ring, retry due respawns. */
  async tick(): Promise<void> {
    const { recovery } = this.options;
    for (const name of recovery.dueForRespawn()) this.recover(name, () => recovery.respawn(name));
    await Promise.all(recovery.checked().map((name) => this.check(name)));
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.tickDone = this.tick()
        .catch((error) => this.options.log.error({ err: error }, 'heartbeat tick failed'))
        .finally(() => {
          if (this.running) this.schedule();
        });
    }, this.options.settings.heartbeatIntervalMs);
  }

  private async check(name: string): Promise<void> {
    const { manager, recovery, log } = this.options;
    const { heartbeatTimeoutMs: timeoutMs, maxFailCount } = this.options.settings;
    const replica = manager.get(name);
    if (!replica || this.inFlight.has(name)) return;
    this.inFlight.add(name);
    try {
      const ok = await this.probe(replica.url, timeoutMs);
      if (manager.get(name) !== replica) return; // removed or replaced meanwhile
      if (ok) {
        recovery.succeeded(name);
        this.lastCounted.delete(name);
        return;
      }
      // Proxy reports can trigger checks back to back; the contract counts failures an interval apart.
      const now = Date.now();
      if (now - (this.lastCounted.get(name) ?? -Infinity) < this.options.settings.heartbeatIntervalMs) return;
      this.lastCounted.set(name, now);
      const failures = recovery.failed(name);
      if (failures > 0) log.warn({ name, failures, max: maxFailCount }, 'heartbeat failed');
      if (failures >= maxFailCount) {
        this.lastCounted.delete(name);
        this.recover(name, () => recovery.flatline(name));
      }
    } finally {
      this.inFlight.delete(name);
    }
  }

  /** Runs one recovery per replica at a time, off the tick so other heartbeats keep going. */
  private recover(name: string, action: () => Promise<void>): void {
    if (this.recovering.has(name)) return;
    this.recovering.add(name);
    action()
      .catch((error) => this.options.log.error({ name, err: error }, 'recovery failed'))
      .finally(() => this.recovering.delete(name));
  }
}
