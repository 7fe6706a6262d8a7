import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Router } from '../routing/index.js';
import type { MembershipSnapshot, PublishedSettings, ReplicaHandle } from './replica.js';
import type { ControllerTarget, RoutingSource } from './source.js';

export interface FollowerOptions {
  readonly controller: ControllerTarget;
  /** The empty table the members are put in (ring or Maglev, as configured alike everywhere). */
  readonly emptyRouter: Router<ReplicaHandle>;
  readonly log: Logger;
  /** How long the controller may hold a long poll open. */
  readonly waitMs?: number;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

/**
 * A data plane's view of membership: long-polls the controller's `GET /membership` for each
 * new version and rebuilds the routing table from it. While the controller is away it keeps
 * routing on the last version it has (static stability) and retries with backoff.
 */
export class MembershipFollower
  extends EventEmitter<{ routing: [Router<ReplicaHandle>]; settings: [PublishedSettings] }>
  implements RoutingSource
{
  router: Router<ReplicaHandle>;
  /** Epoch (controller run) and version of the table in use; undefined before the first. */
  current: { epoch: string; version: number } | undefined;
  /** The version of the controller's run-time settings applied; undefined before the first. */
  settingsVersion: number | undefined;
  /** Its controller's run and that version (a restarted controller counts from 1 again). */
  private settingsSeen: string | undefined;
  /** Whether the last poll reached the controller. */
  reachable = false;
  private readonly agent: Agent;
  private readonly origin: string;
  private running = false;
  private first: Promise<void>;
  private resolveFirst!: () => void;

  constructor(private readonly options: FollowerOptions) {
    super();
    this.router = options.emptyRouter;
    const { controller } = options;
    const socketPath = 'path' in controller ? controller.path : undefined;
    this.agent = new Agent({ connect: socketPath ? { socketPath } : {}, keepAliveTimeout: 60_000 });
    this.origin = 'path' in controller ? 'http://controller' : `http://${controller.host}:${controller.port}`;
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  /** Starts following; resolves once the first membership arrived, or after `timeoutMs` (routing on nothing yet). */
  async start(timeoutMs: number): Promise<void> {
    this.running = true;
    void this.loop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.first, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.agent.destroy().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (this.running) {
      try {
        await this.poll();
        delay = RETRY_MIN_MS;
        if (!this.reachable) this.options.log.info({ version: this.current?.version }, 'controller reachable');
        this.reachable = true;
      } catch (error) {
        if (!this.running) return;
        if (this.reachable)
          this.options.log.warn(
            { err: (error as Error).message },
            'controller unreachable: routing on the last membership',
          );
        this.reachable = false;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  private async poll(): Promise<void> {
    const after = this.current ? `${this.current.epoch}:${this.current.version}` : '';
    const wait = this.options.waitMs ?? 25_000;
    const settings = this.settingsVersion === undefined ? '' : `&settings=${this.settingsVersion}`;
    const res = await request(`${this.origin}/membership?after=${encodeURIComponent(after)}${settings}&wait=${wait}`, {
      dispatcher: this.agent,
      headersTimeout: wait + 5000,
      bodyTimeout: wait + 5000,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`controller answered ${res.statusCode}`);
    }
    const snapshot = (await res.body.json()) as MembershipSnapshot;
    this.apply(snapshot);
  }

  private apply(snapshot: MembershipSnapshot): void {
    // Settings first: the routing table that comes with them is read by them (its keys, its slow start).
    const { settings } = snapshot;
    const seen = settings === undefined ? undefined : `${snapshot.epoch}:${settings.version}`;
    if (settings !== undefined && seen !== this.settingsSeen) {
      this.settingsSeen = seen;
      this.settingsVersion = settings.version;
      this.emit('settings', settings);
    }
    const { current } = this;
    if (current && current.epoch === snapshot.epoch && current.version >= snapshot.version) return;
    this.router = this.options.emptyRouter.with(...snapshot.members);
    this.current = { epoch: snapshot.epoch, version: snapshot.version };
    this.emit('routing', this.router);
    this.resolveFirst();
  }
}
