import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type Config, readConfig } from '../config.js';
import { LbError } from '../contract/errors.js';
import { EventLog } from '../dashboard/event-log.js';
import { TrafficStats } from '../dashboard/stats.js';
import { HeartbeatMonitor } from '../health/monitor.js';
import { Recovery } from '../health/recovery.js';
import { buildApp } from '../http/app.js';
import { createLogger } from '../logging.js';
import { ChangeFeed } from '../membership/changes.js';
import type { ReplicaHandle } from '../membership/replica.js';
import { ControllerMetrics, exposition } from '../metrics.js';
import { assertPortFree } from '../proxy/front/data-plane.js';
import { UPSTREAM_IDLE_TIMEOUT_MS } from '../proxy/upstream.js';
import type { ReplicaDriver } from '../replicas/driver.js';
import { ReplicaManager } from '../replicas/manager.js';
import { healthProbe, type Probe } from '../replicas/probe.js';
import { ProcessDriver } from '../replicas/process-driver.js';
import { hashFunctionByName, MaglevTable, Ring, type RoutingTable } from '../routing/index.js';
import { buildForwarding, type Forwarding, warnIfAdminOpen } from './forwarding.js';
import { keyHandoff } from './handoff.js';
import { ConfigVersions } from './reload.js';

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
  /** The configuration's versions: SIGHUP and POST /config/reload reload it. */
  readonly versions: ConfigVersions;
  /** Adopts/starts replicas, starts heartbeats, listens; resolves to the bound URL. */
  start(): Promise<string>;
  /** Drains requests, stops heartbeats, releases the driver (process replicas stop). */
  stop(): Promise<void>;
  /** SIGHUP: the access log's file is opened again by its name (logrotate). */
  reopenLogs(): void;
}

/** Data-plane worker processes (LB_WORKERS) forward instead of this process; their metrics join its own. */
export interface WorkerPlanes {
  /** The workers' forwarding metrics, combined (prom-client's AggregatorRegistry). */
  metrics(): Promise<string>;
}

/** /add may wait its turn behind other changes and then start replicas: give it time. */
const OWN_ROUTES_TIMEOUT_MS = 600_000;

async function createDriver(config: Config, log: Logger): Promise<ReplicaDriver> {
  if (config.driver === 'process') {
    return new ProcessDriver({
      startTimeoutMs: config.startTimeoutMs,
      command: config.replicas.command,
      protocol: config.replicaProtocol,
    });
  }
  const engine = {
    network: config.network,
    image: config.serverImage,
    lbId: config.lbId,
    prefix: config.containerPrefix,
    stopTimeoutMs: config.stopTimeoutMs,
    replicaPort: config.replicas.port,
    // The replicas speak what the LB speaks to them (REPLICA_ENV cannot say otherwise).
    replicaEnv: [...config.replicas.env, `REPLICA_PROTOCOL=${config.replicaProtocol}`],
    log,
  };
  if (config.driver === 'swarm') {
    const { SwarmDriver } = await import('../replicas/swarm-driver.js');
    return SwarmDriver.connect(engine);
  }
  const { DockerDriver } = await import('../replicas/docker-driver.js');
  return DockerDriver.connect(engine);
}

/** The gRPC health probe, loaded with gRPC's library at its first heartbeat (an LB of HTTP/1 replicas never loads it). */
function grpcHealthProbe(): Probe {
  let loaded: Promise<Probe> | undefined;
  return async (url, timeoutMs) => {
    loaded ??= import('../replicas/grpc-probe.js').then((module) => module.grpcHealthProbe);
    return (await loaded)(url, timeoutMs);
  };
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

/** Membership and its keepers: the manager (with the driver), recovery, heartbeats, the event log. */
function membershipOwner(config: Config, driver: ReplicaDriver, log: Logger, inFlight: (name: string) => number) {
  // How heartbeats ask, read at each one (HEALTH_PATH and HEALTH_STATUS may change on reload).
  const grpc = grpcHealthProbe();
  const http = healthProbe({
    get path() {
      return config.healthPath;
    },
    get statuses() {
      return config.healthStatus;
    },
  });
  const probe: Probe = (url, timeoutMs) => (config.healthCheck === 'grpc' ? grpc : http)(url, timeoutMs);
  const handoff = keyHandoff(config, log);
  const manager = new ReplicaManager({
    beforeSwitch: handoff.beforeSwitch,
    driver,
    router: emptyRouter(config),
    maxReplicas: config.maxReplicas,
    get startTimeoutMs() {
      return config.startTimeoutMs;
    },
    get stopTimeoutMs() {
      return config.stopTimeoutMs;
    },
    get heartbeatTimeoutMs() {
      return config.heartbeatTimeoutMs;
    },
    probe,
    get drainTimeoutMs() {
      return config.drainTimeoutMs;
    },
    inFlight,
    log,
  });
  const recovery = new Recovery(manager, log);
  const events = new EventLog(manager, recovery, handoff.notifier);
  const monitor = new HeartbeatMonitor({
    manager,
    recovery,
    settings: config,
    probe,
    log,
  });
  return { manager, recovery, events, monitor, handoff };
}

type Owner = ReturnType<typeof membershipOwner>;

/** The admin API, /metrics and the dashboard (Fastify, on the LB's own socket). */
function adminApp(
  config: Config,
  log: Logger,
  owner: Owner,
  parts: {
    forwarding: Forwarding;
    stats: TrafficStats;
    metrics: ControllerMetrics;
    workers?: WorkerPlanes;
    versions: ConfigVersions;
    feed: ChangeFeed;
  },
): FastifyInstance {
  const { manager, recovery, events } = owner;
  const { forwarding, stats, metrics, workers, versions, feed } = parts;
  return buildApp({
    config: versions,
    feed,
    manager,
    metricsText: () => exposition(metrics.registry, workers ? () => workers.metrics() : forwarding.metrics.registry),
    log,
    adminToken: config.adminToken,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: 2 * UPSTREAM_IDLE_TIMEOUT_MS,
    dashboard: {
      manager,
      recovery,
      outliers: forwarding.outliers,
      events,
      stats,
      tunnels: () => forwarding.forwarder.tunnelCounts(),
      streams: () => forwarding.forwarder.streamCounts(),
      clients: () => forwarding.dataPlane.clientCounts(),
      config: {
        routing: config.routing,
        hashFunction: config.hashFunction,
        slots: config.slots,
        virtualServers: config.virtualServers,
        get maxFailCount() {
          return config.maxFailCount;
        },
        adminTokenRequired: config.adminToken !== undefined,
      },
    },
  });
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
  // This process's data plane counts the requests in flight (with LB_WORKERS, the workers' are not seen: 0).
  const owner = membershipOwner(config, driver, log, (name) => forwarding.forwarder.inFlight(name));
  const { manager, recovery, monitor } = owner;
  const stats = new TrafficStats();
  // The LB's own routes listen on an abstract Unix socket: this process's data plane and its workers reach it.
  const socketName = `consistent-hash-lb-${process.pid}-${randomUUID()}`;
  const ownSocket = `\0${socketName}`;
  const forwarding = buildForwarding({
    config,
    log,
    serviceName: 'lb',
    membership: manager,
    ownRoutes: {
      target: { path: ownSocket },
      unavailable: (code) => new LbError('INTERNAL', `The load balancer's own routes failed: ${code}`),
      timeoutMs: OWN_ROUTES_TIMEOUT_MS,
    },
    controller: { manager, recovery, monitor },
    onResult: (replica, ok, ms) => stats.record(replica, ok, ms),
  });
  const { workers } = overrides;
  // With workers, this process's own metrics are named apart from theirs (lb_process_* is theirs,
  // summed; lb_controller_process_* its own).
  const metrics = new ControllerMetrics(manager, recovery, workers ? 'lb_controller_' : undefined);
  const feed = new ChangeFeed(manager);
  metrics.observeKeyspace(feed);
  owner.handoff.follow(feed);
  metrics.observeHandoff(owner.handoff.notifier);
  const versions = new ConfigVersions(
    config,
    () => readConfig(config.sources.env, config.sources),
    log,
    () => metrics.configReloadFailures.inc(),
  );
  metrics.configVersion.set(versions.version);
  versions.on('applied', (changed, version) => {
    metrics.configVersion.set(version);
    forwarding.reconfigured(changed, version);
  });
  forwarding.metrics.configVersion.set(versions.version);
  const app = adminApp(config, log, owner, { forwarding, stats, metrics, workers, versions, feed });
  const serveTraffic = workers === undefined;

  let stopped: Promise<void> | undefined;
  return {
    config,
    app,
    ...owner,
    driver,
    stats,
    metrics,
    controllerAddress: `unix:@${socketName}`,
    versions,
    async start() {
      // A port in use stops the start before any replica runs (the data plane or workers bind it last).
      await assertPortFree(config.port, config.host);
      await manager.init(config.n, config.initialReplicas);
      monitor.start();
      // With workers this data plane serves no traffic: no tracer (its access log file was opened,
      // which checks ACCESS_LOG at start with one clear line, and stays empty).
      if (serveTraffic) await forwarding.start();
      await app.listen({ path: ownSocket, listenTextResolver: () => "the LB's own routes are ready" });
      warnIfAdminOpen(config, log);
      return serveTraffic ? forwarding.dataPlane.listen(config.port, config.host) : `unix:@${socketName}`;
    },
    stop() {
      stopped ??= (async () => {
        // Client connections drain (answers in flight finish, each closing its connection)
        // while Fastify ends its event streams, long polls and admin calls.
        await Promise.all([serveTraffic ? forwarding.dataPlane.close(config.drainTimeoutMs) : undefined, app.close()]);
        await forwarding.close();
        await monitor.stop();
        await manager.close();
      })();
      return stopped;
    },
    reopenLogs: () => forwarding.reload(),
  };
}
