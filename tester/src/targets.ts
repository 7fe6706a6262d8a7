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

/** The real setup: `make up` with names of its own, removed by `make stop`. */
async function dockerTarget(hash: string, n: number, extra: Record<string, string>): Promise<Target> {
  const id = 'lbtester';
  const port = await freePort();
  const env = {
    ...process.env,
    ...quick,
    LB_ID: id,
    NETWORK: `${id}-net`,
    LB_CONTAINER: `${id}-lb`,
    CONTAINER_PREFIX: `${id}-`,
    COMPOSE_PROJECT_NAME: id,
    LB_PORT: String(port),
    HASH_FUNCTION: hash,
    N: String(n),
    ...extra,
  };
  const make = (target: string) => {
    const run = spawnSync('make', [target], { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`make ${target} failed: ${run.stderr || run.stdout}`);
  };
  make('stop');
  make('up');
  return {
    url: `http://127.0.0.1:${port}`,
    // Not spawnSync: the load must keep flowing while docker kills the container.
    kill: (replica) => void spawn('docker', ['kill', `${id}-${replica}`], { stdio: 'ignore' }),
    stop: async () => make('stop'),
  };
}

/** `extra`: more LB settings, e.g. { ROUTING: 'maglev' }. */
export function startTarget(driver: DriverKind, hash: string, n: number, extra: Record<string, string> = {}): Promise<Target> {
  return driver === 'docker' ? dockerTarget(hash, n, extra) : processTarget(hash, n, extra);
}
