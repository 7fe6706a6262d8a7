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
import { EventLog } from './dashboard/event-log.js';
import { Forwarder } from './proxy/forwarder.js';
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

/**
 * Stops accepting, lets in-flight requests finish, and closes keep-alive connections
 * as they go idle: Node closes idle ones only once, when close() is called, so a
 * connection busy then would hold the server open for its whole keep-alive timeout.
 * Whatever is still open after `boundMs` is cut.
 */
async function drainAndClose(app: FastifyInstance, boundMs: number): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
  const cut = setTimeout(() => app.server.closeAllConnections(), boundMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}

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
  const metrics = new LbMetrics(manager, recovery);
  const stats = new TrafficStats();
  const forwarder = new Forwarder({
    manager,
    metrics,
    log,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    balanceFactor: config.hashBalanceFactor,
    onUpstreamFailure: (name) => monitor.reportFailure(name),
    onResult: (replica, ok, ms) => stats.record(replica, ok, ms),
  });
  const app = buildApp({
    manager,
    forwarder,
    metrics,
    log,
    adminToken: config.adminToken,
    requestTimeoutMs: config.requestTimeoutMs,
    dashboard: {
      manager,
      recovery,
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
      return app.listen({ port: config.port, host: config.host });
    },
    stop() {
      stopped ??= (async () => {
        await drainAndClose(app, 2 * config.upstreamTimeoutMs);
        await monitor.stop();
        await forwarder.close();
        await manager.close();
      })();
      return stopped;
    },
  };
}
