import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { hashFunctionByName, MaglevTable, Ring, type RoutingTable } from './routing/index.js';
import type { ReplicaDriver } from './replicas/driver.js';
import { ReplicaManager } from './replicas/manager.js';
import type { ReplicaHandle } from './replicas/driver.js';
import { ProcessDriver } from './replicas/process-driver.js';
import { HeartbeatMonitor } from './health/monitor.js';
import { Recovery } from './health/recovery.js';
import { OutlierDetector } from './health/outliers.js';
import { EventLog } from './dashboard/event-log.js';
import { randomUUID } from 'node:crypto';
import { Forwarder } from './proxy/forwarder.js';
import { DataPlane } from './proxy/data-plane.js';
import { Deadlines } from './proxy/deadlines.js';
import { UpstreamPool } from './proxy/upstream.js';
import { LbMetrics } from './metrics.js';
import { buildApp } from './http/app.js';
import { TrafficStats } from './dashboard/stats.js';

export interface LoadBalancer {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly manager: ReplicaManager;
  readonly recovery: Recovery;
  readonly monitor: HeartbeatMonitor;
  readonly events: EventLog;
  readonly driver: ReplicaDriver;
  /** Adopts/starts replicas, starts heartbeats, listens; resolves to the bound URL. */
  start(): Promise<string>;
  /** Drains requests, stops heartbeats, releases the driver (process replicas stop). */
  stop(): Promise<void>;
}

async function createDriver(config: Config, log: Logger): Promise<ReplicaDriver> {
  if (config.driver === 'docker') {
    const { DockerDriver } = await import('./replicas/docker-driver.js');
    return DockerDriver.connect(config, log);
  }
  return new ProcessDriver({ startTimeoutMs: config.startTimeoutMs });
}

/** The empty routing table: the SPEC ring by default, Maglev when ROUTING=maglev. */
export function emptyRouter(config: Config): RoutingTable<ReplicaHandle> {
  if (config.routing === 'maglev') return MaglevTable.empty(config.maglevTableSize, config.maxReplicas);
  return Ring.empty({ slots: config.slots, virtualServers: config.virtualServers, hash: hashFunctionByName(config.hashFunction) });
}

/** Deadlines of the data plane are met within this. */
const DEADLINE_RESOLUTION_MS = 50;
/** /add may wait its turn behind other changes and then start replicas: give it time. */
const OWN_ROUTES_TIMEOUT_MS = 600_000;

/** Wires config -> driver -> manager -> health -> proxy -> routes. */
export async function createLoadBalancer(
  config: Config,
  overrides: { driver?: ReplicaDriver; log?: Logger } = {},
): Promise<LoadBalancer> {
  const log = overrides.log ?? pino({ level: config.logLevel, base: { service: 'lb' } });
  const driver = overrides.driver ?? (await createDriver(config, log));
  const manager = new ReplicaManager({
    driver,
    router: emptyRouter(config),
    maxReplicas: config.maxReplicas,
    startTimeoutMs: config.startTimeoutMs,
    stopTimeoutMs: config.stopTimeoutMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    log,
  });
  const recovery = new Recovery(manager, log);
  const events = new EventLog(manager, recovery);
  const monitor = new HeartbeatMonitor({
    manager,
    recovery,
    intervalMs: config.heartbeatIntervalMs,
    timeoutMs: config.heartbeatTimeoutMs,
    maxFailCount: config.maxFailCount,
    log,
  });
  const outliers = new OutlierDetector(
    {
      consecutiveErrors: config.outlierConsecutiveErrors || Infinity,
      baseEjectionMs: config.outlierEjectionMs,
      maxEjectedPercent: config.outlierMaxEjectedPercent,
    },
    () => manager.router.size,
    (name, until) => {
      metrics.outlierEjections.inc({ replica: name });
      log.warn({ replica: name, forMs: until - Date.now() }, 'replica ejected: consecutive 5xx or failed attempts');
    },
  );
  // A replica that left, or came back respawned, starts clean.
  manager.on('member', (event) => event.type === 'removed' && outliers.forget(event.name));
  recovery.on('event', (event) => event.type === 'respawned' && outliers.forget(event.name));
  const metrics = new LbMetrics(manager, recovery, outliers);
  const stats = new TrafficStats();
  const deadlines = new Deadlines(DEADLINE_RESOLUTION_MS);
  const forwarder = new Forwarder({
    manager,
    metrics,
    log,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    balanceFactor: config.hashBalanceFactor,
    onUpstreamFailure: (name) => monitor.reportFailure(name),
    onResult: (replica, ok, ms) => stats.record(replica, ok, ms),
    outliers,
    isFailing: (name) => recovery.isFailing(name),
  }, deadlines);
  const app = buildApp({
    manager,
    metrics,
    log,
    adminToken: config.adminToken,
    requestTimeoutMs: config.requestTimeoutMs,
    dashboard: {
      manager,
      recovery,
      outliers,
      events,
      stats,
      config: {
        routing: config.routing,
        hashFunction: config.hashFunction,
        slots: config.slots,
        virtualServers: config.virtualServers,
        maxFailCount: config.maxFailCount,
        adminTokenRequired: config.adminToken !== undefined,
      },
    },
  });

  // The LB's own routes listen on an abstract Unix socket that only this process reaches.
  const ownSocket = `\0consistent-hash-lb-${process.pid}-${randomUUID()}`;
  const ownRoutes = new UpstreamPool(
    { path: ownSocket },
    { maxConnections: 64, connectTimeoutMs: 1000, responseTimeoutMs: OWN_ROUTES_TIMEOUT_MS, idleTimeoutMs: 30_000 },
    deadlines,
  );
  const dataPlane = new DataPlane({ forwarder, ownRoutes, deadlines, requestTimeoutMs: config.requestTimeoutMs });

  let stopped: Promise<void> | undefined;
  return {
    config,
    app,
    manager,
    recovery,
    monitor,
    events,
    driver,
    async start() {
      await manager.init(config.n);
      monitor.start();
      await app.listen({ path: ownSocket });
      return dataPlane.listen(config.port, config.host);
    },
    stop() {
      stopped ??= (async () => {
        // Client connections drain (answers in flight finish, each closing its connection)
        // while Fastify ends its event streams and finishes admin calls.
        await Promise.all([dataPlane.close(2 * config.upstreamTimeoutMs), app.close()]);
        ownRoutes.close();
        forwarder.close();
        await monitor.stop();
        await manager.close();
        deadlines.close();
      })();
      return stopped;
    },
  };
}
