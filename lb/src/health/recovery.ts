import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { messageOf } from '../contract/errors.js';
import { type ReplicaEvent, type ReplicaEventType, replicaEvent } from '../replicas/events.js';
import type { ReplicaManager } from '../replicas/manager.js';

export type HealthState = 'healthy' | 'failing' | 'flatlined' | 'respawning';
export const HEALTH_STATES: readonly HealthState[] = ['healthy', 'failing', 'flatlined', 'respawning'];

/** What recovery knows of one member. */
export interface Health {
  state: HealthState;
  /** Consecutive failed heartbeats. */
  failures: number;
  respawns: number;
  /** When a failed respawn may be tried again (ms epoch). */
  retryAt: number;
  retryDelayMs: number;
  lastError: string | undefined;
}

export interface RecoveryEvents {
  /** A member's health changed. */
  state: [name: string, health: Readonly<Health>];
  /** flatlined, respawned, respawn-failed. */
  event: [event: ReplicaEvent];
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * The health state machine of every member: healthy <-> failing -> flatlined ->
 * respawning -> healthy, or back to flatlined with a doubling retry delay. It follows
 * the manager's membership and asks it to eject and restart members.
 */
export class Recovery extends EventEmitter<RecoveryEvents> {
  private readonly health = new Map<string, Health>();

  constructor(
    private readonly manager: ReplicaManager,
    private readonly log: Logger,
  ) {
    super();
    manager.on('member', ({ type, name, detail }) => {
      if (type === 'removed') this.health.delete(name);
      else if (type === 'added') this.health.set(name, fresh('healthy'));
      // An adopted replica that did not answer is out of the routing table: respawn it at once.
      else if (type === 'adopted')
        this.health.set(
          name,
          manager.router.has(name) ? fresh('healthy') : { ...fresh('flatlined'), lastError: detail },
        );
    });
  }

  get(name: string): Readonly<Health> | undefined {
    return this.health.get(name);
  }

  /** Heartbeats failing, not yet flatlined: still in the routing table, passed over while another can serve. */
  isFailing(name: string): boolean {
    return this.health.get(name)?.state === 'failing';
  }

  /** Names that heartbeats should check: members in the routing table. */
  checked(): string[] {
    return this.manager.names().filter((name) => {
      const state = this.health.get(name)?.state;
      return state === 'healthy' || state === 'failing';
    });
  }

  /** A heartbeat answered: the member is healthy again. */
  succeeded(name: string): void {
    const health = this.health.get(name);
    if (health?.state !== 'failing') return;
    Object.assign(health, { state: 'healthy', failures: 0 });
    this.emit('state', name, health);
  }

  /** A heartbeat failed; returns the consecutive failure count (0 when not checked). */
  failed(name: string): number {
    const health = this.health.get(name);
    if (health?.state !== 'healthy' && health?.state !== 'failing') return 0;
    health.state = 'failing';
    health.failures++;
    this.emit('state', name, health);
    return health.failures;
  }

  /**
   * Flatlines a member: out of the routing table at once, then started again under the
   * same name and index; back in the table once its heartbeat answers.
   */
  async flatline(name: string): Promise<void> {
    const health = this.health.get(name);
    if (!health || health.state === 'respawning' || health.state === 'flatlined') return;
    Object.assign(health, { state: 'flatlined', retryAt: 0 });
    await this.manager.eject(name);
    this.record('flatlined', name, `${health.failures} failed heartbeats`);
    await this.respawn(name);
  }

  /** Starts a flatlined member again; on failure it stays flatlined and is retried with backoff. */
  async respawn(name: string): Promise<void> {
    const health = this.health.get(name);
    if (health?.state !== 'flatlined') return;
    health.state = 'respawning';
    this.emit('state', name, health);
    try {
      if (!(await this.manager.restart(name))) return; // removed meanwhile
      Object.assign(health, { state: 'healthy', failures: 0, retryDelayMs: RETRY_MIN_MS, lastError: undefined });
      health.respawns++;
      this.record('respawned', name);
    } catch (error) {
      const message = messageOf(error);
      Object.assign(health, {
        state: 'flatlined',
        lastError: message,
        retryAt: Date.now() + health.retryDelayMs,
        retryDelayMs: Math.min(health.retryDelayMs * 2, RETRY_MAX_MS),
      });
      this.record('respawn-failed', name, message);
    }
  }

  /** Flatlined members whose retry time has come. */
  dueForRespawn(now = Date.now()): string[] {
    return this.manager.names().filter((name) => {
      const health = this.health.get(name);
      return health?.state === 'flatlined' && health.retryAt <= now;
    });
  }

  /** How many members are in each state (metrics). */
  countByState(): Record<HealthState, number> {
    const counts = Object.fromEntries(HEALTH_STATES.map((s) => [s, 0])) as Record<HealthState, number>;
    for (const health of this.health.values()) counts[health.state]++;
    return counts;
  }

  private record(type: ReplicaEventType, name: string, detail?: string): void {
    const event = replicaEvent(type, name, detail);
    if (type === 'respawn-failed') this.log.error(event, 'respawn failed; will retry');
    else this.log.info(event, `replica ${type}`);
    const health = this.health.get(name);
    if (health) this.emit('state', name, health);
    this.emit('event', event);
  }
}

function fresh(state: HealthState): Health {
  return { state, failures: 0, respawns: 0, retryAt: 0, retryDelayMs: RETRY_MIN_MS, lastError: undefined };
}
