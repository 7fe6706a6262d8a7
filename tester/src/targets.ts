import { spawn } from 'node:child_process';
import { isolatedDocker } from '../../kit/src/docker.js';
import { startLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import type { DriverKind } from '../../lb/src/replicas/driver.js';

/** An LB the analysis started, and how to kill one of its replicas. */
export interface Target {
  readonly url: string;
  kill(replica: string): void;
  stop(): Promise<void>;
}

export type { DriverKind };

const quick = { HEARTBEAT_INTERVAL_MS: '250', HEARTBEAT_TIMEOUT_MS: '250', MAX_FAIL_COUNT: '3' };

/** An LB with the process driver, in this process (no Docker needed). */
async function processTarget(hash: string, n: number, extra: Record<string, string>): Promise<Target> {
  const lb = await startLb({ N: String(n), HASH_FUNCTION: hash, ...quick, ...extra });
  return { url: lb.url, kill: (replica) => process.kill(lb.pid(replica), 'SIGKILL'), stop: () => lb.stop() };
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

export function startTarget(
  driver: DriverKind,
  hash: string,
  n: number,
  extra: Record<string, string> = {},
): Promise<Target> {
  return driver === 'docker' ? dockerTarget(hash, n, extra) : processTarget(hash, n, extra);
}
