import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { exportToPrimary, TrafficReporter } from './cluster/worker.js';
import { type Config, listensBeyondLoopback } from './config.js';
import { LbError } from './contract/errors.js';
import { EventLog } from './dashboard/event-log.js';
import { TrafficStats } from './dashboard/stats.js';
import { HeartbeatMonitor } from './health/monitor.js';
import { OutlierDetector } from './health/outliers.js';
import { Recovery } from './health/recovery.js';
import { buildApp } from './http/app.js';
import { createLogger } from './logging.js';
import { MembershipFollower } from './membership/follower.js';
import type { ReplicaHandle } from './membership/replica.js';
import { controllerTarget, type RoutingSource } from './membership/source.js';
import { ControllerMetrics, exposition, ForwardingMetrics } from './metrics.js';
import { type DataPlaneObservers, dataPlaneObservers } from './observers.js';
import { assertPortFree, DataPlane } from './proxy/data-plane.js';
import { Deadlines } from './proxy/deadlines.js';
import { Forwarder } from './proxy/forwarder.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, UpstreamPool, type UpstreamTarget } from './proxy/upstream.js';
import type { ReplicaDriver } from './replicas/driver.js';
import { ReplicaManager } from './replicas/manager.js';
import { healthProbe } from './replicas/probe.js';
import { ProcessDriver } from './replicas/process-driver.js';
import { hashFunctionByName, MaglevTable, Ring, type RoutingTable } from './routing/index.js';

export interface LoadBalancer {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly manager: ReplicaManager;
  readonly recovery: Recovery;
  readonly monitor: HeartbeatMonitor;
  readonly events: EventLog;
  readonly driver: ReplicaDriver;
  /** The dashboard's traffic numbers (workers report theirs here). */
  readonly stats: TrafficStats;
  readonly metrics: ControllerMetrics;
  /** Where data planes on this host follow it (`unix:@...`, its own routes' socket). */
  readonly controllerAddress: string;
  /** Adopts/starts replicas, starts heartbeats, listens; resolves to the bound URL. */
  start(): Promise<string>;
  /** Drains requests, stops heartbeats, releases the driver (process replicas stop). */
  stop(): Promise<void>;
  /** SIGHUP: the access log's file is opened again by its name (logrotate). */
  reopenLogs(): void;
}

async function createDriver(config: Config, log: Logger): Promise<ReplicaDriver> {
  if (config.driver === 'process') {
    return new ProcessDriver({ startTimeoutMs: config.startTimeoutMs, command: config.replicas.command });
  }
  const engine = {
    network: config.network,
    image: config.serverImage,
    lbId: config.lbId,
    prefix: config.containerPrefix,
    stopTimeoutMs: config.stopTimeoutMs,
    replicaPort: config.replicas.port,
    replicaEnv: config.replicas.env,
    log,
  };
  if (config.driver === 'swarm') {
    const { SwarmDriver } = await import('./replicas/swarm-driver.js');
    return SwarmDriver.connect(engine);
  }
  const { DockerDriver } = await import('./replicas/docker-driver.js');
  return DockerDriver.connect(engine);
}

/** The empty routing table: the SPEC ring by default, Maglev when ROUTING=maglev. */
export function emptyRouter(config: Config): RoutingTable<ReplicaHandle> {
  if (config.routing === 'maglev') return MaglevTable.empty(config.maglevTableSize, config.maxReplicas);
  return Ring.empty({
    slots: config.slots,
    virtualServers: config.virtualServers,
    hash: hashFunctionByName(config.hashFunction),
  });
}

/** No ADMIN_TOKEN on a port other machines reach: said once at start, as a warning. */
function warnIfAdminOpen(config: Config, log: Logger): void {
  if (config.adminToken !== undefined || !listensBeyondLoopback(config.host)) return;
  log.warn(
    { host: config.host, port: config.port },
    `the admin API (/add, /rm) is open to every client that reaches ${config.host}:${config.port}: set ADMIN_TOKEN`,
  );
}

/** Deadlines of the data plane are met within this. */
const DEADLINE_RESOLUTION_MS = 50;
/** /add may wait its turn behind other changes and then start replicas: give it time. */
const OWN_ROUTES_TIMEOUT_MS = 600_000;
/** A data plane waits this long for its first membership before it listens (then routes on nothing: 503s). */
const FIRST_MEMBERSHIP_WAIT_MS = 10_000;

interface Forwarding {
  readonly dataPlane: DataPlane;
  /** Its access log and tracer. */
  readonly observed: DataPlaneObservers;
  readonly forwarder: Forwarder;
  readonly ownRoutes: UpstreamPool;
  readonly deadlines: Deadlines;
  readonly outliers: OutlierDetector;
  readonly metrics: ForwardingMetrics;
}

/** The forwarding path (data plane, forwarder, outliers, metrics), fed by `membership`, whoever owns it. */
function buildForwarding(
  config: Config,
  log: Logger,
  serviceName: string,
  membership: RoutingSource,
  ownRoutes: { target: UpstreamTarget; unavailable: (code: string) => LbError; timeoutMs: number },
  controller?: { manager: ReplicaManager; recovery: Recovery; monitor: HeartbeatMonitor },
  onResult?: (replica: string, ok: boolean, ms: number) => void,
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
  const metrics = new ForwardingMetrics(membership, outliers, controller?.manager);
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
      keySources: config.hashKey,
      pass404: config.upstream404 === 'pass',
      rehomeGraceMs: config.rehomeGraceMs,
      tunnelIdleTimeoutMs: config.tunnelIdleTimeoutMs,
      slowStartMs: config.slowStartMs,
      // A data plane has no heartbeats of its own: it passes over failed replicas (suspects, outliers).
      onUpstreamFailure: (name) => controller?.monitor.reportFailure(name),
      onResult,
      outliers,
      isFailing: (name) => controller?.recovery.isFailing(name) ?? false,
    },
    deadlines,
  );
  const pool = new UpstreamPool(
    ownRoutes.target,
    {
      maxConnections: 64,
      connectTimeoutMs: 1000,
      responseTimeoutMs: ownRoutes.timeoutMs,
      idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS,
    },
    deadlines,
  );
  const own = { pool, unavailable: ownRoutes.unavailable };
  const observed = dataPlaneObservers(config, log, metrics, serviceName);
  const dataPlane = new DataPlane({
    forwarder,
    ownRoute: () => own,
    deadlines,
    requestTimeoutMs: config.requestTimeoutMs,
    shutdownGraceMs: config.shutdownGraceMs,
    observers: observed.observers,
  });
  return { dataPlane, observed, forwarder, ownRoutes: pool, deadlines, outliers, metrics };
}

/** Data-plane worker processes (LB_WORKERS) forward instead of this process; their metrics join its own. */
export interface WorkerPlanes {
  /** The workers' forwarding metrics, combined (prom-client's AggregatorRegistry). */
  metrics(): Promise<string>;
}

/**
 * The controller (membership, heartbeats, respawns, driver, admin API) and, unless `workers`
 * forward instead (LB_WORKERS), the data plane on PORT.
 */
export async function createLoadBalancer(
  config: Config,
  overrides: { driver?: ReplicaDriver; log?: Logger; workers?: WorkerPlanes } = {},
): Promise<LoadBalancer> {
  const log = overrides.log ?? createLogger(config.logLevel, 'lb');
  const driver = overrides.driver ?? (await createDriver(config, log));
  const probe = healthProbe({ path: config.replicas.healthPath, statuses: config.replicas.healthStatus });
  let forwarding: Forwarding | undefined;
  const manager = new ReplicaManager({
    driver,
    router: emptyRouter(config),
    maxReplicas: config.maxReplicas,
    startTimeoutMs: config.startTimeoutMs,
    stopTimeoutMs: config.stopTimeoutMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    probe,
    drainTimeoutMs: config.drainTimeoutMs,
    // This process's data plane counts them (with LB_WORKERS, the workers' are not seen: 0).
    inFlight: (name) => forwarding?.forwarder.inFlight(name) ?? 0,
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
    probe,
    log,
  });
  const stats = new TrafficStats();
  // The LB's own routes listen on an abstract Unix socket: this process's data plane and its workers reach it.
  const socketName = `consistent-hash-lb-${process.pid}-${randomUUID()}`;
  const ownSocket = `\0${socketName}`;
  forwarding = buildForwarding(
    config,
    log,
    'lb',
    manager,
    {
      target: { path: ownSocket },
      unavailable: (code) => new LbError('INTERNAL', `The load balancer's own routes failed: ${code}`),
      timeoutMs: OWN_ROUTES_TIMEOUT_MS,
    },
    { manager, recovery, monitor },
    (replica, ok, ms) => stats.record(replica, ok, ms),
  );
  const { dataPlane, observed, forwarder, ownRoutes, deadlines, outliers, metrics } = forwarding;
  const { workers } = overrides;
  // With workers, this process's own metrics are named apart from theirs (lb_process_* is theirs,
  // summed; lb_controller_process_* its own).
  const controllerMetrics = new ControllerMetrics(manager, recovery, workers ? 'lb_controller_' : undefined);
  const app = buildApp({
    manager,
    metricsText: () => exposition(controllerMetrics.registry, workers ? () => workers.metrics() : metrics.registry),
    log,
    adminToken: config.adminToken,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: 2 * UPSTREAM_IDLE_TIMEOUT_MS,
    dashboard: {
      manager,
      recovery,
      outliers,
      events,
      stats,
      tunnels: () => forwarder.tunnelCounts(),
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
  const serveTraffic = workers === undefined;

  let stopped: Promise<void> | undefined;
  return {
    config,
    app,
    manager,
    recovery,
    monitor,
    events,
    driver,
    stats,
    metrics: controllerMetrics,
    controllerAddress: `unix:@${socketName}`,
    async start() {
      // A port in use stops the start before any replica runs (the data plane or workers bind it last).
      await assertPortFree(config.port, config.host);
      await manager.init(config.n);
      monitor.start();
      // With workers this data plane serves no traffic: no tracer (its access log file was opened,
      // which checks ACCESS_LOG at start with one clear line, and stays empty).
      if (serveTraffic) await observed.start();
      await app.listen({ path: ownSocket, listenTextResolver: () => "the LB's own routes are ready" });
      warnIfAdminOpen(config, log);
      return serveTraffic ? dataPlane.listen(config.port, config.host) : `unix:@${socketName}`;
    },
    stop() {
      stopped ??= (async () => {
        // Client connections drain (answers in flight finish, each closing its connection)
        // while Fastify ends its event streams, long polls and admin calls.
        await Promise.all([serveTraffic ? dataPlane.close(config.drainTimeoutMs) : undefined, app.close()]);
        ownRoutes.close();
        forwarder.close();
        await observed.close();
        await monitor.stop();
        await manager.close();
        deadlines.close();
      })();
      return stopped;
    },
    reopenLogs: () => observed.reopen(),
  };
}

/** A data-plane instance: follows a controller's membership, forwards, relays admin calls to it. */
export interface DataPlaneInstance {
  readonly config: Config;
  readonly follower: MembershipFollower;
  start(): Promise<string>;
  stop(): Promise<void>;
  reopenLogs(): void;
}

/**
 * Outcome of an admin call the controller did not answer: a call that never reached it was not
 * applied; one that may have reached it (sent, then no answer in time or a reset) is unknown.
 */
function relayFailure(shown: string, timeoutMs: number, code: string): LbError {
  const never = [
    'ECONNREFUSED',
    'ENOENT',
    'CONNECT_TIMEOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'ENOTFOUND',
    'POOL_TIMEOUT',
    'POOL_CLOSED',
  ];
  const why =
    code === 'HEADERS_TIMEOUT' || code === 'BODY_TIMEOUT'
      ? `did not answer within ${timeoutMs} ms (ADMIN_RELAY_TIMEOUT_MS); the outcome of this call is unknown (GET /rep shows the membership)`
      : never.includes(code)
        ? `is unavailable: ${code}; the call was not applied`
        : `failed: ${code}; the outcome of this call is unknown (GET /rep shows the membership)`;
  return new LbError(
    'CONTROLLER_UNAVAILABLE',
    `The controller (${shown}) ${why}; requests are still forwarded on the last membership`,
  );
}

/**
 * A data-plane instance (LB_ROLE=data-plane): follows the controller's membership, forwards,
 * relays admin calls to it (bounded by ADMIN_RELAY_TIMEOUT_MS). As an LB worker (`worker`) its
 * metrics and traffic go to the primary; on its own it serves its own /metrics, with an
 * `instance` label.
 */
export function createDataPlaneInstance(
  config: Config,
  overrides: { log?: Logger; worker?: boolean } = {},
): DataPlaneInstance {
  const log = overrides.log ?? createLogger(config.logLevel, 'lb-data-plane');
  const address = config.controllerUrl!;
  const target = controllerTarget(address);
  const follower = new MembershipFollower({ controller: target, emptyRouter: emptyRouter(config), log });
  const shown = address.startsWith('unix:@') ? 'the controller process' : address;
  const reporter = overrides.worker ? new TrafficReporter((message) => process.send?.(message)) : undefined;
  const forwarding = buildForwarding(
    config,
    log,
    'lb-data-plane',
    follower,
    {
      target,
      unavailable: (code) => relayFailure(shown, config.adminRelayTimeoutMs, code),
      timeoutMs: config.adminRelayTimeoutMs,
    },
    undefined,
    reporter?.record,
  );
  const { dataPlane, observed, forwarder, ownRoutes, deadlines, metrics } = forwarding;
  const local = overrides.worker ? undefined : localMetrics(metrics, deadlines, log);
  if (local) {
    const controllerRoute = dataPlane.ownRoute;
    dataPlane.ownRoute = (path) => (path === '/metrics' ? local.route : controllerRoute(path));
  } else {
    exportToPrimary(metrics.registry);
  }
  let stopped: Promise<void> | undefined;
  return {
    config,
    follower,
    async start() {
      await follower.start(FIRST_MEMBERSHIP_WAIT_MS);
      await observed.start();
      await local?.start();
      const url = await dataPlane.listen(config.port, config.host);
      if (!overrides.worker) warnIfAdminOpen(config, log);
      if (local) metrics.registry.setDefaultLabels({ instance: `${hostname()}:${new URL(url).port}` });
      return url;
    },
    stop() {
      stopped ??= (async () => {
        await dataPlane.close(config.drainTimeoutMs);
        reporter?.stop();
        await follower.stop();
        await local?.stop();
        ownRoutes.close();
        forwarder.close();
        await observed.close();
        deadlines.close();
      })();
      return stopped;
    },
    reopenLogs: () => observed.reopen(),
  };
}

/**
 * A data-plane instance's own /metrics: a Fastify app on an internal socket, relayed to like the
 * controller's routes.
 */
function localMetrics(metrics: ForwardingMetrics, deadlines: Deadlines, log: Logger) {
  const path = `\0consistent-hash-lb-metrics-${process.pid}-${randomUUID()}`;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(Registry.PROMETHEUS_CONTENT_TYPE).send(await metrics.registry.metrics()),
  );
  const pool = new UpstreamPool(
    { path },
    { maxConnections: 8, connectTimeoutMs: 1000, responseTimeoutMs: 10_000, idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS },
    deadlines,
  );
  const route = {
    pool,
    unavailable: (code: string) => new LbError('INTERNAL', `This data plane's metrics failed: ${code}`),
  };
  return {
    route,
    start: () => app.listen({ path, listenTextResolver: () => "this data plane's metrics route is ready" }),
    stop: async () => {
      pool.close();
      await app.close();
    },
  };
}
