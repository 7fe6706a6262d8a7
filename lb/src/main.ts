import cluster from 'node:cluster';
import { WorkerSupervisor } from './cluster/supervisor.js';
import { effectiveConfigText, parseCommand } from './command.js';
import type { LoadBalancer } from './composition/controller.js';
import { type Config, readConfig } from './config.js';
import { createDataPlaneInstance, createLoadBalancer } from './lb.js';
import { createLogger } from './logging.js';
import { SHUTDOWN_MARGIN_MS, shutdownWatchdog } from './shutdown.js';

/** What main runs: start it, and stop it on a signal. */
interface Runnable {
  start(): Promise<string>;
  stop(): Promise<void>;
  /** SIGHUP: access logs are opened again by their names. */
  reopenLogs(): void;
}

const command = parseCommand(process.argv.slice(2));

function loadConfig(): Config {
  // The image sets REPLICA_DRIVER=docker; from a checkout replicas are local processes.
  const reading = readConfig(process.env, { driver: 'process', file: command.file });
  if ('config' in reading) return reading.config;
  for (const line of reading.errors) console.error(`lb: configuration error: ${line}`);
  process.exit(2);
}

const config = loadConfig();
if (command.checkOnly) {
  process.stdout.write(effectiveConfigText(config));
  process.exit(0);
}
const withWorkers = config.lbWorkers > 1 && config.lbRole === 'all';

/**
 * One process is the controller and the data plane (the default). With LB_WORKERS=k it is
 * the controller only, and k worker processes forward, sharing the port (node:cluster) and
 * following its membership over its internal socket. LB_ROLE=data-plane forwards only,
 * following CONTROLLER_URL.
 */
async function create(): Promise<{
  runnable: Runnable;
  log: (msg: string, extra?: object) => void;
  /** SIGHUP: the controller's configuration is read again (data planes follow it; a refused one is logged and counted). */
  reload?: () => void;
}> {
  if (config.lbRole === 'data-plane') {
    const logger = createLogger(config.logLevel, 'lb-data-plane');
    const instance = createDataPlaneInstance(config, { worker: cluster.isWorker, log: logger });
    return { runnable: instance, log: (msg, extra) => logger.info(extra ?? {}, msg) };
  }
  if (!withWorkers) {
    const lb = await createLoadBalancer(config);
    return { runnable: lb, log: (msg, extra) => lb.app.log.info(extra ?? {}, msg), reload: reloadOf(lb) };
  }
  let supervisor: WorkerSupervisor | undefined;
  const lb = await createLoadBalancer(config, { workers: { metrics: () => supervisor!.metrics() } });
  supervisor = new WorkerSupervisor({
    count: config.lbWorkers,
    env: { LB_ROLE: 'data-plane', CONTROLLER_URL: lb.controllerAddress, LB_WORKERS: '1' },
    log: lb.app.log as never,
    onRestart: () => lb.metrics.workerRestarts.inc(),
    onTraffic: (batch) => lb.stats.merge(batch),
    onGiveUp: (reason) => {
      lb.app.log.fatal(
        { reason },
        'data-plane workers cannot be kept up; stopping (exit 1) so the container is restarted',
      );
      void runnable.stop().finally(() => process.exit(1));
    },
  });
  // Workers accept from the shared socket themselves (the kernel hands each connection to one that
  // waits), instead of the primary handing them round: a connection handed to a worker that has
  // just been killed would hang, never answered and never closed.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2) });
  const runnable = withWorkerProcesses(lb, supervisor);
  return { runnable, log: (msg, extra) => lb.app.log.info(extra ?? {}, msg), reload: reloadOf(lb) };
}

const reloadOf = (lb: LoadBalancer) => () => void lb.versions.reload().catch(() => undefined);

/** The controller, then the supervised workers on the port; stopping drains the workers first. */
function withWorkerProcesses(controller: Runnable, supervisor: WorkerSupervisor): Runnable {
  let stopped: Promise<void> | undefined;
  return {
    async start() {
      await controller.start();
      const port = await supervisor.start();
      return `http://${config.host}:${port}`;
    },
    stop() {
      stopped ??= supervisor.stop().then(() => controller.stop());
      return stopped;
    },
    reopenLogs() {
      controller.reopenLogs();
      supervisor.signal('SIGHUP');
    },
  };
}

const { runnable, log, reload } = await create().catch((error: unknown) => {
  // One clear line (e.g. Docker engine unreachable), not a stack trace.
  console.error(`lb: cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C does not wait
    log('shutting down: draining requests', { signal });
    shutdownWatchdog(config.drainTimeoutMs + SHUTDOWN_MARGIN_MS);
    runnable.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(`lb: shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  });
}

// logrotate's convention: after it moved the access log away, SIGHUP opens a new one by its name.
// It also reloads the configuration (nginx's, HAProxy's and Caddy's convention).
process.on('SIGHUP', () => {
  runnable.reopenLogs();
  reload?.();
});

try {
  const url = await runnable.start();
  log(`load balancer listening on ${url}`, {
    url,
    role: config.lbRole,
    workers: withWorkers ? config.lbWorkers : 1,
    driver: config.driver,
    hash: config.hashFunction,
  });
} catch (error) {
  console.error(`lb: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  await runnable.stop().catch(() => undefined);
  process.exit(1);
}
