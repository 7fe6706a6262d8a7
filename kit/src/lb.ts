import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { parseConfig } from '../../lb/src/config.js';
import {
  createDataPlaneInstance,
  createLoadBalancer,
  type DataPlaneInstance,
  type LoadBalancer,
} from '../../lb/src/lb.js';
import type { ReplicaHandle } from '../../lb/src/membership/replica.js';
import type { ReplicaDriver } from '../../lb/src/replicas/driver.js';
import type { ProcessDriver } from '../../lb/src/replicas/process-driver.js';

export interface RunningLb {
  readonly lb: LoadBalancer;
  readonly url: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** PID of a process-driver replica. */
  pid(replica: string): number;
  stop(): Promise<void>;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read any field of the answers they expect
  readonly json: any;
}

/** Fast heartbeats for tests; `startLb` and `spawnLb` callers override any of them. */
/** In-process LBs stop with a short shutdown grace (fetch keeps idle connections); spawned ones use the default. */
export const TEST_ENV: Readonly<Record<string, string>> = {
  HEARTBEAT_INTERVAL_MS: '200',
  HEARTBEAT_TIMEOUT_MS: '200',
  STOP_TIMEOUT_MS: '2000',
  SHUTDOWN_GRACE_MS: '100',
};

/** A real LB in this process on 127.0.0.1 with real replica processes (or the given driver's), quiet logs. */
export async function startLb(env: Record<string, string> = {}, driver?: ReplicaDriver): Promise<RunningLb> {
  const config = parseConfig({ PORT: '0', ...TEST_ENV, ...env }, { driver: 'process' });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const lb = await createLoadBalancer(config, driver ? { driver, log } : { log });
  const url = await lb.start();
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    send(url, method, path, body, headers);
  const pid = (replica: string) => (lb.driver as ProcessDriver).pid(replica)!;
  return { lb, url, call, pid, stop: () => lb.stop() };
}

/** A data-plane instance (LB_ROLE=data-plane) in this process, following `controller`, quiet logs. */
export async function startDataPlane(
  controller: string,
  env: Record<string, string> = {},
): Promise<{ instance: DataPlaneInstance; url: string }> {
  const config = parseConfig(
    { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: controller, ...env },
    { driver: 'process' },
  );
  const instance = createDataPlaneInstance(config, { log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  return { instance, url: await instance.start() };
}

/** An LB as its own process (the built bundle), as `npm start` runs it. */
export interface SpawnedLb {
  readonly url: string;
  readonly pid: number;
  /** What the LB routes to now (GET /membership). */
  members(): Promise<ReplicaHandle[]>;
  /** Everything it printed so far (pino JSON lines). */
  output(): string;
  /** SIGTERM (or `signal`); resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `dist/lb.js` (run `npm run build` first) and resolves once it listens. */
export async function spawnLb(
  env: Record<string, string> = {},
  timeoutMs = 20_000,
  bundle = 'dist/lb.js',
): Promise<SpawnedLb> {
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  // With LB_WORKERS, each worker says it listens too: the LB has started once its primary says so.
  const started =
    Number(env.LB_WORKERS ?? 1) > 1
      ? /"role":"all".*listening on (https?:\/\/[\d.:]+)/
      : /listening on (https?:\/\/[\d.:]+)/;
  const url = await waitFor(
    'the LB to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`the LB exited with ${child.exitCode}:\n${out}`);
      return started.exec(out)?.[1];
    },
    timeoutMs,
  ).catch((error) => {
    child.kill('SIGTERM'); // it stops its replicas too; never left running after a failed start
    throw error;
  });
  return {
    url,
    pid: child.pid!,
    members: async () => (await send(url, 'GET', '/membership')).json.members,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function send(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const replicasBody = (names: string[]) => ({
  message: { N: names.length, replicas: names },
  status: 'successful',
});
export const failureBody = (message: string) => ({ message, status: 'failure' });

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
