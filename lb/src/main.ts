import { ConfigError, parseConfig, type Config } from './config.js';
import { createLoadBalancer } from './lb.js';

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
const lb = await createLoadBalancer(config).catch((error: unknown) => {
  // One clear line (e.g. Docker engine unreachable), not a stack trace.
  console.error(`lb: cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C does not wait
    lb.app.log.info({ signal }, 'shutting down: draining requests');
    lb.stop().then(
      () => process.exit(0),
      (error) => {
        lb.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

try {
  const url = await lb.start();
  lb.app.log.info(
    { url, driver: config.driver, hash: config.hashFunction, replicas: lb.manager.names() },
    `load balancer listening on ${url}`,
  );
} catch (error) {
  lb.app.log.fatal({ err: error }, 'load balancer failed to start');
  await lb.stop().catch(() => undefined);
  process.exit(1);
}
