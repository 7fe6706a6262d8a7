import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { TrafficBatch } from '../dashboard/stats.js';
import { isTrafficMessage } from './worker.js';

export interface SupervisorOptions {
  readonly count: number;
  /** What each worker gets in its environment (its role, where the controller is). */
  readonly env: Readonly<Record<string, string>>;
  readonly log: Logger;
  /** A worker died and another is being started. */
  readonly onRestart: () => void;
  /** Workers cannot be kept up: the process should exit non-zero, so Docker or swarm restarts it. */
  readonly onGiveUp: (reason: string) => void;
  readonly onTraffic: (batch: TrafficBatch) => void;
}

/** A worker that dies sooner than this after it was started is crash-looping (pm2's min_uptime). */
export const MIN_UPTIME_MS = 10_000;
/** Crash-looping deaths in a row before the supervisor gives up. */
export const MAX_QUICK_DEATHS = 5;
const FIRST_DELAY_MS = 100;
const STARTING_WAIT_MS = 3000;
const MAX_DELAY_MS = 5000;

/** Delay before starting the replacement of the `streak`-th quick death in a row (1-based): doubling, capped. */
export function restartDelay(streak: number): number {
  return Math.min(FIRST_DELAY_MS * 2 ** Math.max(0, streak - 1), MAX_DELAY_MS);
}

/**
 * The primary's data-plane workers (node:cluster, one shared port): started together, each one
 * that dies replaced with a growing delay while they crash-loop, their metrics combined on request.
 */
export class WorkerSupervisor {
  private readonly startedAt = new Map<Worker, number>();
  /** Forked, not yet listening. */
  private readonly starting = new Set<Worker>();
  private readonly metricsRegistry = new AggregatorRegistry();
  private stopping = false;
  private quickDeaths = 0;
  private readonly pending = new Set<NodeJS.Timeout>();
  /** The port the first workers bound. */
  private port: number | undefined;
  /**
   * What replacements ask to listen on. node:cluster shares one socket among workers that ask
   * for the same port; it closes once no worker holds it, and then PORT=0 would pick a new
   * port: from then on replacements ask for the port the first workers got.
   */
  private listenPort: string | undefined;

  constructor(private readonly options: SupervisorOptions) {
    cluster.on('message', (_worker, message) => {
      if (isTrafficMessage(message)) for (const batch of message.batches) options.onTraffic(batch);
    });
  }

  /** Starts every worker; resolves to the port they listen on once all do. */
  async start(): Promise<number> {
    const ports = await Promise.all(Array.from({ length: this.options.count }, () => this.fork()));
    this.port = ports[0]!;
    return this.port;
  }

  /**
   * The workers' forwarding metrics, combined by prom-client's AggregatorRegistry. A worker still
   * starting has not yet installed its answer to the request (it would be lost, and the whole
   * scrape time out): the request waits for it, up to STARTING_WAIT_MS.
   */
  async metrics(): Promise<string> {
    const deadline = Date.now() + STARTING_WAIT_MS;
    while (this.starting.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.metricsRegistry.clusterMetrics();
  }

  /** Sends `signal` to every live worker (SIGHUP: they reopen their access logs). */
  signal(signal: NodeJS.Signals): void {
    for (const worker of this.startedAt.keys()) if (!worker.isDead()) worker.process.kill(signal);
  }

  /** Stops replacing workers, sends each SIGTERM (they drain) and waits for every exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.pending) clearTimeout(timer);
    const exits = [...this.startedAt.keys()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }

  private fork(): Promise<number> {
    const worker = cluster.fork(
      this.listenPort === undefined ? this.options.env : { ...this.options.env, PORT: this.listenPort },
    );
    this.startedAt.set(worker, Date.now());
    this.starting.add(worker);
    worker.once('exit', (code, signal) => this.onExit(worker, code, signal));
    return new Promise<number>((resolve, reject) => {
      worker.once('listening', (address) => {
        this.starting.delete(worker);
        resolve(address.port);
      });
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before listening`)));
    });
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const lived = Date.now() - this.startedAt.get(worker)!;
    this.startedAt.delete(worker);
    this.starting.delete(worker);
    if (this.stopping) return;
    if (this.startedAt.size === 0) this.listenPort = String(this.port);
    this.quickDeaths = lived < MIN_UPTIME_MS ? this.quickDeaths + 1 : 0;
    if (this.quickDeaths >= MAX_QUICK_DEATHS) {
      this.options.onGiveUp(
        `${MAX_QUICK_DEATHS} workers in a row died within ${MIN_UPTIME_MS} ms of starting (last: ${signal ?? `exit code ${code}`})`,
      );
      return;
    }
    const delayMs = restartDelay(Math.max(1, this.quickDeaths));
    this.options.log.error(
      { worker: worker.process.pid, code, signal, livedMs: lived, restartInMs: delayMs },
      'data-plane worker died; starting another',
    );
    this.options.onRestart();
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      if (this.stopping) return;
      this.fork().then(
        (port) => this.options.log.info({ port }, 'replacement data-plane worker listening'),
        () => undefined, // its exit is handled like any other
      );
    }, delayMs);
    this.pending.add(timer);
  }
}
