import { pino } from 'pino';
import { parseConfig } from '../../src/config.js';
import { createLoadBalancer, type LoadBalancer } from '../../src/lb.js';
import type { ReplicaDriver } from '../../src/replicas/driver.js';

export interface RunningLb {
  readonly lb: LoadBalancer;
  readonly url: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  stop(): Promise<void>;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
}

/** A real LB on 127.0.0.1 with real replica processes (or the given driver's), fast heartbeats, quiet logs. */
export async function startLb(env: Record<string, string> = {}, driver?: ReplicaDriver): Promise<RunningLb> {
  const config = parseConfig(
    { PORT: '0', HEARTBEAT_INTERVAL_MS: '200', HEARTBEAT_TIMEOUT_MS: '200', STOP_TIMEOUT_MS: '2000', ...env },
    { driver: 'process' },
  );
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const lb = await createLoadBalancer(config, driver ? { driver, log } : { log });
  const url = await lb.start();
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    send(url, method, path, body, headers);
  return { lb, url, call, stop: () => lb.stop() };
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

export const replicasBody = (names: string[]) => ({ message: { N: names.length, replicas: names }, status: 'successful' });
export const failureBody = (message: string) => ({ message, status: 'failure' });

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
