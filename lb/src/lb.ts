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
import { UpstreamPool, type UpstreamTarget } from './proxy/upstream.js';
import { LbError } from './contract/errors.js';
import { MembershipFollower } from './membership/follower.js';
import { controllerTarget, type RoutingSource } from './membership/source.js';
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
  /** Where data planes on this host follow it (`unix:@...`, its own routes' socket). */
  readonly controllerAddress: string;
  /** Adopts/starts replicas, starts heartbeats, listens; resolves to the bound URL. */
  start(): Promise<string>;
  /** Drains requests, stops heartbeats, releases the driver (process replicas stop). */
  stop(): Promise<void>;
}

async function createDriver(config: Config, log: Logger): Promise<ReplicaDriver> {
  if (config.driver === 'swarm') {
    const { SwarmDriver } = await import('./replicas/swarm-driver.js');
    return SwarmDriver.connect(config, log);
  }
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
/** A data plane waits this long for its first membership before it listens (then routes on nothing: 503s). */
const FIRST_MEMBERSHIP_WAIT_MS = 10_000;

interface Forwarding {
  readonly dataPlane: DataPlane;
  readonly forwarder: Forwarder;
  readonly ownRoutes: UpstreamPool;
  readonly deadlines: Deadlines;
  readonly outliers: OutlierDetector;
  readonly metrics: LbMetrics;
}

/** The forwarding path (data plane, forwarder, outliers, metrics), fed by `membership`, whoever owns it. */
function buildForwarding(
  config: Config,
  log: Logger,
  membership: RoutingSource,
  ownRoutes: { target: UpstreamTarget; unavailable: (code: string) => LbError },
  controller?: { manager: ReplicaManager; recovery: Recovery; monitor: HeartbeatMonitor; stats: TrafficStats },
): Forwarding {
  const deadlines = new Deadlines(DEADLINE_RESOLUTION_MS);
  const outliers = new OutlierDetector(
    {
      consecutiveErrors: config.outlierConsecutiveErrors || Infinity,
      baseEjectionMs: config.outlierEjectionMs,
      maxEjectedPercent: config.outlierMaxEjectedPercent,
    },
    () => membership.router.size,
    (name, until) => {
      metrics.outlierEjections.inc({ replica: name });
      log.warn({ replica: name, forMs: until - Date.now() }, 'replica ejected: consecutive 5xx or failed attempts');
    },
  );
  const metrics = new LbMetrics(membership, outliers, controller);
  if (controller) {
    // A replica that left, or came back respawned, starts clean.
    controller.manager.on('member', (event) => event.type === 'removed' && outliers.forget(event.name));
    controller.recovery.on('event', (event) => event.type === 'respawned' && outliers.forget(event.name));
  }
  const forwarder = new Forwarder(
    {
      membership,
      metrics,
      log,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      maxConnectionsPerReplica: config.upstreamMaxConnections,
      balanceFactor: config.hashBalanceFactor,
      // A data plane has no heartbeats of its own: it passes over failed replicas (suspects, outliers).
      onUpstreamFailure: (name) => controller?.monitor.reportFailure(name),
      onResult: (replica, ok, ms) => controller?.stats.record(replica, ok, ms),
      outliers,
      isFailing: (name) => controller?.recovery.isFailing(name) ?? false,
    },
    deadlines,
  );
  const pool = new UpstreamPool(
    ownRoutes.target,
    { maxConnections: 64, connectTimeoutMs: 1000, responseTimeoutMs: OWN_ROUTES_TIMEOUT_MS, idleTimeoutMs: 30_000 },
    deadlines,
  );
  const dataPlane = new DataPlane({ forwarder, ownRoutes: pool, ownRoutesUnavailable: ownRoutes.unavailable, deadlines, requestTimeoutMs: config.requestTimeoutMs });
  return { dataPlane, forwarder, ownRoutes: pool, deadlines, outliers, metrics };
}

/**
 * The controller (membership, heartbeats, respawns, driver, admin API) and, unless
 * `serveTraffic` is false (LB workers forward instead), the data plane on PORT.
 */
export async function createLoadBalancer(
  config: Config,
  overrides: { driver?: ReplicaDriver; log?: Logger; serveTraffic?: boolean } = {},
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
  const stats = new TrafficStats();
  // The LB's own routes listen on an abstract Unix socket: this process's data plane and its workers reach it.
  const socketName = `consistent-hash-lb-${process.pid}-${randomUUID()}`;
  const ownSocket = `\0${socketName}`;
  const forwarding = buildForwarding(
    config,
    log,
    manager,
    { target: { path: ownSocket }, unavailable: (code) => new LbError('INTERNAL', `The load balancer's own routes failed: ${code}`) },
    { manager, recovery, monitor, stats },
  );
  const { dataPlane, forwarder, ownRoutes, deadlines, outliers, metrics } = forwarding;
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
  const serveTraffic = overrides.serveTraffic ?? true;

  let stopped: Promise<void> | undefined;
  return {
    config,
    app,
    manager,
    recovery,
    monitor,
    events,
    driver,
    controllerAddress: `unix:@${socketName}`,
    async start() {
      await manager.init(config.n);
      monitor.start();
      await app.listen({ path: ownSocket });
      return serveTraffic ? dataPlane.listen(config.port, config.host) : `unix:@${socketName}`;
    },
    stop() {
      stopped ??= (async () => {
        // Client connections drain (answers in flight finish, each closing its connection)
        // while Fastify ends its event streams, long polls and admin calls.
        await Promise.all([serveTraffic ? dataPlane.close(2 * config.upstreamTimeoutMs) : undefined, app.close()]);
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

/** A data-plane instance: follows a controller's membership, forwards, relays admin calls to it. */
export interface DataPlaneInstance {
  readonly config: Config;
  readonly follower: MembershipFollower;
  start(): Promise<string>;
  stop(): Promise<void>;
}

export function createDataPlaneInstance(config: Config, overrides: { log?: Logger } = {}): DataPlaneInstance {
  const log = overrides.log ?? pino({ level: config.logLevel, base: { service: 'lb-data-plane' } });
  const address = config.controllerUrl!;
  const target = controllerTarget(address);
  const follower = new MembershipFollower({ controller: target, emptyRouter: emptyRouter(config), log });
  const shown = address.startsWith('unix:@') ? 'the controller process' : address;
  const { dataPlane, forwarder, ownRoutes, deadlines } = buildForwarding(config, log, follower, {
    target,
    unavailable: (code) => new LbError('CONTROLLER_UNAVAILABLE', `The controller (${shown}) is unavailable: ${code}; requests are still forwarded on the last membership`),
  });
  let stopped: Promise<void> | undefined;
  return {
    config,
    follower,
    async start() {
      await follower.start(FIRST_MEMBERSHIP_WAIT_MS);
      return dataPlane.listen(config.port, config.host);
    },
    stop() {
      stopped ??= (async () => {
        await dataPlane.close(2 * config.upstreamTimeoutMs);
        await follower.stop();
        ownRoutes.close();
        forwarder.close();
        deadlines.close();
      })();
      return stopped;
    },
  };
}
