import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { monotonicMs } from '../clock.js';
import type { Config } from '../config.js';
import { listensBeyondLoopback } from '../config.js';
import { LbError } from '../contract/errors.js';
import type { HeartbeatMonitor } from '../health/monitor.js';
import { OutlierDetector } from '../health/outliers.js';
import type { Recovery } from '../health/recovery.js';
import type { RoutingSource } from '../membership/source.js';
import { ForwardingMetrics } from '../metrics.js';
import { type DataPlaneObservers, dataPlaneObservers } from '../observers.js';
import { Deadlines } from '../proxy/deadlines.js';
import { Forwarder } from '../proxy/forwarder.js';
import { DataPlane } from '../proxy/front/data-plane.js';
import { UpstreamPool } from '../proxy/http1/pool.js';
import { H2cUpstream } from '../proxy/http2/upstream-session.js';
import type { OwnRoute } from '../proxy/own-route.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, type UpstreamTarget } from '../proxy/upstream.js';
import type { ReplicaManager } from '../replicas/manager.js';
import { readTlsFiles, type TlsFiles } from '../settings/tls.js';

/** Deadlines of the data plane are met within this. */
const DEADLINE_RESOLUTION_MS = 50;

/** Where the LB's own paths are served, and the error when they cannot be reached. */
export interface OwnRoutesTarget {
  readonly target: UpstreamTarget;
  readonly unavailable: (code: string) => LbError;
  readonly timeoutMs: number;
}

/** What the forwarding path is built from. */
export interface ForwardingDeps {
  readonly config: Config;
  readonly log: Logger;
  /** `service.name` of its spans. */
  readonly serviceName: string;
  /** The routing table, whoever owns it (the manager, or a follower of the controller). */
  readonly membership: RoutingSource;
  readonly ownRoutes: OwnRoutesTarget;
  /** The controller in this process, when there is one: failures reach its heartbeats. */
  readonly controller?: { manager: ReplicaManager; recovery: Recovery; monitor: HeartbeatMonitor };
  /** Told each replica outcome (the dashboard's traffic numbers). */
  readonly onResult?: (replica: string, ok: boolean, ms: number) => void;
  /** A separate data-plane instance answers /metrics itself (its own forwarding metrics). */
  readonly ownMetrics?: boolean;
}

export interface Forwarding {
  readonly dataPlane: DataPlane;
  /** Its access log and tracer. */
  readonly observed: DataPlaneObservers;
  readonly forwarder: Forwarder;
  readonly deadlines: Deadlines;
  readonly outliers: OutlierDetector;
  readonly metrics: ForwardingMetrics;
  /** Starts what it serves besides the data plane (its own /metrics route, when it has one). */
  start(): Promise<void>;
  /** Closes everything but the data plane, after it closed. */
  close(): Promise<void>;
  /**
   * SIGHUP: the access log's file is opened again by its name (logrotate), and the TLS certificate
   * and key are read again; files that cannot be used leave the old pair in use, and say why.
   */
  reload(): void;
  /**
   * Configuration `version` is applied (its run-time settings written into the configuration): what
   * read them once reads them again, the log takes its level, the metrics say the version.
   */
  reconfigured(changed: ReadonlySet<string>, version: number): void;
}

/** The forwarding path (data plane, forwarder, outliers, metrics), fed by `membership`, whoever owns it. */
export function buildForwarding(deps: ForwardingDeps): Forwarding {
  const { config, log, membership, controller } = deps;
  const deadlines = new Deadlines(DEADLINE_RESOLUTION_MS);
  const outliers = outlierDetector(config, log, membership, (name) => metrics.outlierEjections.inc({ replica: name }));
  const metrics = new ForwardingMetrics(membership, outliers, controller?.manager);
  if (controller) {
    // A replica that left, or came back respawned, starts clean.
    controller.manager.on('member', (event) => event.type === 'removed' && outliers.forget(event.name));
    controller.recovery.on('event', (event) => event.type === 'respawned' && outliers.forget(event.name));
  }
  const forwarder = new Forwarder(
    {
      settings: config,
      membership,
      metrics,
      log,
      // A data plane has no heartbeats of its own: it passes over failed replicas (suspects, outliers).
      onUpstreamFailure: (name) => controller?.monitor.reportFailure(name),
      onResult: deps.onResult,
      outliers,
      isFailing: (name) => controller?.recovery.isFailing(name) ?? false,
      newUpstream:
        config.replicaProtocol === 'h2c'
          ? (target, options, clock) => new H2cUpstream(target, options, clock)
          : (target, options, clock) => new UpstreamPool(target, options, clock),
    },
    deadlines,
  );
  const own = ownRoute(deps.ownRoutes, deadlines, 64);
  const local = deps.ownMetrics ? localMetrics(metrics, deadlines, log) : undefined;
  const observed = dataPlaneObservers(config, log, metrics, deps.serviceName);
  const dataPlane = new DataPlane({
    forwarder,
    ownRoute: local ? (path) => (path === '/metrics' ? local.route : own) : () => own,
    deadlines,
    get requestTimeoutMs() {
      return config.requestTimeoutMs;
    },
    get shutdownGraceMs() {
      return config.shutdownGraceMs;
    },
    observers: observed.observers,
    tls: config.tls,
    h2MaxConcurrentStreams: config.h2MaxConcurrentStreams,
    onConnection: (via) => metrics.clientConnection(via),
  });
  return {
    dataPlane,
    observed,
    forwarder,
    deadlines,
    outliers,
    metrics,
    start: async () => {
      await observed.start();
      await local?.start();
    },
    close: async () => {
      await local?.stop();
      own.pool.close();
      forwarder.close();
      await observed.close();
      deadlines.close();
    },
    reload: () => {
      observed.reopen();
      if (config.tls) reloadTls(dataPlane, config.tls, log);
    },
    reconfigured: (changed, version) => {
      if (changed.has('logLevel')) log.level = config.logLevel;
      forwarder.reconfigured(changed);
      observed.reconfigured(changed);
      metrics.configVersion.set(version);
    },
  };
}

/** Reads TLS_CERT and TLS_KEY again; a pair that cannot be used is logged and the old one kept. */
function reloadTls(dataPlane: DataPlane, files: TlsFiles, log: Logger): void {
  try {
    dataPlane.reloadTls(readTlsFiles(files.certPath, files.keyPath));
    log.info({ cert: files.certPath }, 'TLS certificate and key read again');
  } catch (error) {
    log.error({ err: (error as Error).message }, 'TLS certificate and key not reloaded: the old pair stays in use');
  }
}

function outlierDetector(
  config: Config,
  log: Logger,
  membership: RoutingSource,
  ejected: (name: string) => void,
): OutlierDetector {
  return new OutlierDetector(
    config,
    () => membership.router.size,
    (name, until) => {
      ejected(name);
      log.warn(
        { replica: name, forMs: Math.round(until - monotonicMs()) },
        'replica ejected: consecutive 5xx or failed attempts',
      );
    },
  );
}

/** A pool of connections to an internal route (the LB's own app, the controller, a local /metrics). */
function ownRoute(target: OwnRoutesTarget, deadlines: Deadlines, maxConnections: number): OwnRoute {
  const pool = new UpstreamPool(
    target.target,
    {
      maxConnections,
      connectTimeoutMs: 1000,
      // Read when a call is relayed: ADMIN_RELAY_TIMEOUT_MS may change on reload.
      get responseTimeoutMs() {
        return target.timeoutMs;
      },
      idleTimeoutMs: UPSTREAM_IDLE_TIMEOUT_MS,
    },
    deadlines,
  );
  return { pool, unavailable: target.unavailable };
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
  const route = ownRoute(
    {
      target: { path },
      unavailable: (code: string) => new LbError('INTERNAL', `This data plane's metrics failed: ${code}`),
      timeoutMs: 10_000,
    },
    deadlines,
    8,
  );
  return {
    route,
    start: () => app.listen({ path, listenTextResolver: () => "this data plane's metrics route is ready" }),
    stop: async () => {
      route.pool.close();
      await app.close();
    },
  };
}

/** No ADMIN_TOKEN on a port other machines reach: said once at start, as a warning. */
export function warnIfAdminOpen(config: Config, log: Logger): void {
  if (config.adminToken !== undefined || !listensBeyondLoopback(config.host)) return;
  log.warn(
    { host: config.host, port: config.port },
    `the admin API (/add, /rm) is open to every client that reaches ${config.host}:${config.port}: set ADMIN_TOKEN`,
  );
}
