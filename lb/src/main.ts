import cluster from 'node:cluster';
import { ConfigError, parseConfig, type Config } from './config.js';
import { createDataPlaneInstance, createLoadBalancer } from './lb.js';

/** What main runs: start it, and stop it on a signal. */
interface Runnable {
  start(): Promise<string>;
  stop(): Promise<void>;
}

function loadConfig(): Config {
  try {
    // The image sets REPLICA_DRIVER=docker; from a checkout replicas are local processes.
    return parseConfig(process.env, { driver: 'process' });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`lb: configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

const config = loadConfig();
const withWorkers = config.workers > 1 && config.role === 'all';

/**
 * One process is the controller and the data plane (the default). With LB_WORKERS=k it is
 * the controller only, and k worker processes forward, sharing the port (node:cluster) and
 * following its membership over its internal socket. LB_ROLE=data-plane forwards only,
 * following CONTROLLER_URL.
 */
async function create(): Promise<{ runnable: Runnable; log: (msg: string, extra?: object) => void }> {
  if (config.role === 'data-plane') {
    const instance = createDataPlaneInstance(config);
    return { runnable: instance, log: (msg, extra) => console.log(JSON.stringify({ level: 30, time: Date.now(), service: 'lb-data-plane', pid: process.pid, ...extra, msg })) };
  }
  const lb = await createLoadBalancer(config, { serveTraffic: !withWorkers });
  return { runnable: withWorkers ? withWorkerProcesses(lb, lb.controllerAddress) : lb, log: (msg, extra) => lb.app.log.info(extra ?? {}, msg) };
}

/** The controller, then `config.workers` data-plane processes on the port; stopping drains them first. */
function withWorkerProcesses(controller: Runnable, address: string): Runnable {
  return {
    async start() {
      await controller.start();
      cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2) });
      const env = { LB_ROLE: 'data-plane', CONTROLLER_URL: address, LB_WORKERS: '1' };
      const listening = Array.from({ length: config.workers }, () => {
        const worker = cluster.fork(env);
        return new Promise<number>((resolve, reject) => {
          worker.once('listening', (address) => resolve(address.port));
          worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before listening`)));
        });
      });
      const ports = await Promise.all(listening);
      return `http://${config.host}:${ports[0]}`;
    },
    async stop() {
      const exits = Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker!.once('exit', () => resolve());
            worker!.process.kill('SIGTERM');
          }),
      );
      await Promise.all(exits);
      await controller.stop();
    },
  };
}

const { runnable, log } = await create().catch((error: unknown) => {
  // One clear line (e.g. Docker engine unreachable), not a stack trace.
  console.error(`lb: cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C does not wait
    log('shutting down: draining requests', { signal });
    runnable.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(`lb: shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  });
}

try {
  const url = await runnable.start();
  log(`load balancer listening on ${url}`, { url, role: config.role, workers: withWorkers ? config.workers : 1, driver: config.driver, hash: config.hashFunction });
} catch (error) {
  console.error(`lb: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  await runnable.stop().catch(() => undefined);
  process.exit(1);
}
