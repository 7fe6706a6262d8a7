import { spawn, spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { parseConfig } from '../../lb/src/config.js';
import { createLoadBalancer } from '../../lb/src/lb.js';
import type { ProcessDriver } from '../../lb/src/replicas/process-driver.js';
import { freePort } from './net.js';

/** An LB the analysis started, and how to kill one of its replicas. */
export interface Target {
  readonly url: string;
  kill(replica: string): void;
  stop(): Promise<void>;
}

export type DriverKind = 'process' | 'docker';

const quick = { HEARTBEAT_INTERVAL_MS: '250', HEARTBEAT_TIMEOUT_MS: '250', MAX_FAIL_COUNT: '3' };

/** An LB with the process driver, in this process (no Docker needed). */
async function processTarget(hash: string, n: number, extra: Record<string, string>): Promise<Target> {
  const config = parseConfig({ PORT: '0', N: String(n), HASH_FUNCTION: hash, ...quick, ...extra }, { driver: 'process' });
  const lb = await createLoadBalancer(config, { log: pino({ level: 'silent' }) });
  const url = await lb.start();
  return {
    url,
    kill: (replica) => process.kill((lb.driver as ProcessDriver).pid(replica)!, 'SIGKILL'),
    stop: () => lb.stop(),
  };
}

/**
 * An LB in Docker under names this caller owns (LB id, network, LB container, replica
 * prefix, compose project, host port), so `make stop` removes exactly what it started.
 */
export function isolatedDocker(id: string, port: number, settings: Record<string, string>) {
  const env = {
    ...process.env,
    LB_ID: id,
    NETWORK: `${id}-net`,
    LB_CONTAINER: `${id}-lb`,
    CONTAINER_PREFIX: `${id}-`,
    COMPOSE_PROJECT_NAME: id,
    LB_PORT: String(port),
    ...settings,
  };
  const make = (target: string): string => {
    const run = spawnSync('make', [target], { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`make ${target} failed:\n${run.stdout}\n${run.stderr}`);
    return run.stdout;
  };
  return { env, make, url: `http://127.0.0.1:${port}`, container: (replica: string) => `${id}-${replica}` };
}

/** The real setup: `make up` with names of its own, removed by `make stop`. */
async function dockerTarget(hash: string, n: number, extra: Record<string, string>): Promise<Target> {
  const lb = isolatedDocker('lbtester', await freePort(), { ...quick, HASH_FUNCTION: hash, N: String(n), ...extra });
  lb.make('stop');
  lb.make('up');
  return {
    url: lb.url,
    // Not spawnSync: the load must keep flowing while docker kills the container.
    kill: (replica) => void spawn('docker', ['kill', lb.container(replica)], { stdio: 'ignore' }),
    stop: async () => void lb.make('stop'),
  };
}

export function startTarget(driver: DriverKind, hash: string, n: number, extra: Record<string, string> = {}): Promise<Target> {
  return driver === 'docker' ? dockerTarget(hash, n, extra) : processTarget(hash, n, extra);
}
