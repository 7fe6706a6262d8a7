import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReplicaHandle } from '../membership/replica.js';
import { driverError, type ReplicaDriver } from './driver.js';

interface Child {
  readonly handle: ReplicaHandle;
  readonly process: ChildProcess;
  readonly exited: Promise<unknown>;
}

export interface ProcessDriverOptions {
  /** argv after `node` that runs one replica; defaults to the built bundle or the TypeScript source. */
  readonly serverArgs?: readonly string[];
  readonly startTimeoutMs?: number;
  readonly logLevel?: string;
  /**
   * REPLICA_COMMAND: any program instead (argv, `{port}` and `{name}` replaced; SERVER_ID and PORT
   * in its environment). The LB picks its port and waits for it to accept connections.
   */
  readonly command?: readonly string[] | undefined;
  /** REPLICA_PROTOCOL, told to every replica (this project's server then speaks gRPC over h2c). */
  readonly protocol?: 'http1' | 'h2c';
}

/** Walks up from this file to the checkout's root (where package.json names this project). */
export function projectRoot(from = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'consistent-hash-lb') return dir;
  }
  throw driverError('cannot find the project root (package.json of consistent-hash-lb)');
}

/** The bundle when built (fast start), else the source through tsx. */
export function defaultServerArgs(root = projectRoot()): string[] {
  const bundle = join(root, 'dist', 'server.js');
  return existsSync(bundle) ? [bundle] : ['--import', 'tsx', join(root, 'server', 'src', 'main.ts')];
}

/**
 * Replicas as child processes on 127.0.0.1. Each child listens on a port the OS
 * picks and reports it over IPC (no port races); it exits when the IPC channel
 * closes, so even a SIGKILLed LB leaves no orphans.
 */
export class ProcessDriver implements ReplicaDriver {
  readonly kind = 'process';
  private readonly children = new Map<string, Child>();
  private readonly serverArgs: readonly string[];
  private readonly startTimeoutMs: number;
  private readonly logLevel: string;
  private readonly command: readonly string[] | undefined;
  private readonly protocol: 'http1' | 'h2c';
  private readonly killAllOnExit = () => {
    for (const child of this.children.values()) signalReplica(child.process, 'SIGKILL');
  };

  constructor(options: ProcessDriverOptions = {}) {
    this.serverArgs = options.serverArgs ?? defaultServerArgs();
    this.startTimeoutMs = options.startTimeoutMs ?? 20_000;
    this.logLevel = options.logLevel ?? 'warn';
    this.command = options.command;
    this.protocol = options.protocol ?? 'http1';
    process.on('exit', this.killAllOnExit);
  }

  async start(name: string, index: number, weight = 1): Promise<ReplicaHandle> {
    if (this.children.has(name)) throw driverError(`replica process '${name}' is already running`);
    const command = this.command;
    const port = command ? await freePort() : 0;
    const env = {
      ...process.env,
      SERVER_ID: name,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: this.logLevel,
      REPLICA_PROTOCOL: this.protocol,
    };
    const child = command
      ? spawn(
          command[0]!,
          command.slice(1).map((word) => fill(word, name, port)),
          // Its own process group (and session): whatever it forks is stopped with it.
          { env, stdio: ['ignore', 'ignore', 'inherit'], detached: true },
        )
      : // This project's server forks nothing: it stays in the LB's session, so the kernel's
        // autogroup scheduling shares the CPU between the LB and it as before (a session of its
        // own gives each replica a share of its own: the LB's CPU per request rose 4-6% under wrk).
        spawn(process.execPath, [...this.serverArgs], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const exited = once(child, 'exit').catch(() => undefined);
    if (command) {
      GROUP_LEADERS.add(child);
      // A replica whose main process ended leaves nothing behind (a forked server would keep its port).
      void exited.then(() => signalReplica(child, 'SIGKILL'));
    }
    try {
      const bound = command ? await this.accepting(child, name, port) : await this.listeningPort(child, name);
      const handle = { name, index, weight, url: `http://127.0.0.1:${bound}` };
      this.children.set(name, { handle, process: child, exited });
      void exited.then(() => {
        if (this.children.get(name)?.process === child) this.children.delete(name);
      });
      return handle;
    } catch (error) {
      signalReplica(child, 'SIGKILL');
      throw error;
    }
  }

  /** A REPLICA_COMMAND child: its port accepts connections (or it exits, or the start times out). */
  private async accepting(child: ChildProcess, name: string, port: number): Promise<number> {
    const deadline = Date.now() + this.startTimeoutMs;
    let failed: Error | undefined;
    const onExit = (code: number | null, signal: string | null) => {
      failed = driverError(`replica '${name}' exited during start (${signal ?? `code ${code}`})`);
    };
    const onError = (error: Error) => {
      failed = driverError(`replica '${name}' could not be spawned: ${error.message}`);
    };
    child.on('exit', onExit).on('error', onError);
    try {
      for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
        if (failed) throw failed;
        if (await connects(port)) return port;
        if (Date.now() > deadline)
          throw driverError(`replica '${name}' did not listen on ${port} within ${this.startTimeoutMs} ms`);
        await new Promise((r) => setTimeout(r, delay));
      }
    } finally {
      child.off('exit', onExit).off('error', onError);
    }
  }

  private listeningPort(child: ChildProcess, name: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(driverError(`replica '${name}' did not start within ${this.startTimeoutMs} ms`)),
        this.startTimeoutMs,
      );
      const onMessage = (message: unknown) => {
        const m = message as { type?: string; port?: number };
        if (m?.type === 'listening' && typeof m.port === 'number') done(undefined, m.port);
      };
      const onExit = (code: number | null, signal: string | null) =>
        done(driverError(`replica '${name}' exited during start (${signal ?? `code ${code}`})`));
      const onError = (error: Error) => done(driverError(`replica '${name}' could not be spawned: ${error.message}`));
      const done = (error?: Error, port?: number) => {
        clearTimeout(timer);
        child.off('message', onMessage).off('exit', onExit).off('error', onError);
        if (error) reject(error);
        else resolve(port!);
      };
      child.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  }

  async stop(name: string, graceMs: number): Promise<void> {
    const child = this.children.get(name);
    if (!child) return;
    this.children.delete(name);
    await terminate(child, graceMs);
  }

  async list(): Promise<ReplicaHandle[]> {
    return [...this.children.values()].map((c) => c.handle);
  }

  /** The PIDs of running replicas (tests inject faults with them). */
  pid(name: string): number | undefined {
    return this.children.get(name)?.process.pid;
  }

  async conflict(): Promise<string | undefined> {
    return undefined;
  }

  async close(graceMs: number): Promise<void> {
    const all = [...this.children.values()];
    this.children.clear();
    await Promise.all(all.map((c) => terminate(c, graceMs)));
    process.off('exit', this.killAllOnExit);
  }
}

/**
 * SIGTERM to the replica (its process group, when it leads one), up to graceMs for its main
 * process to exit, then SIGKILL (it also reaches a SIGSTOPped child, and whatever it forked).
 */
async function terminate(child: Child, graceMs: number): Promise<void> {
  const { process: proc } = child;
  const running = () => proc.exitCode === null && proc.signalCode === null;
  if (running() && graceMs > 0) {
    signalReplica(proc, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, graceMs, 'timeout')));
    await Promise.race([child.exited, timedOut]);
    clearTimeout(timer);
  }
  // Once the main process has exited, the rest of its group was killed with it (see start).
  if (running()) signalReplica(proc, 'SIGKILL');
  await child.exited;
}

/** REPLICA_COMMAND children: each leads a process group of its own (spawned detached). */
const GROUP_LEADERS = new WeakSet<ChildProcess>();

/** A signal to the replica: to its whole process group when it leads one, else to it; none left is fine. */
function signalReplica(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (GROUP_LEADERS.has(child)) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // ESRCH: the group is gone
  }
}

/** A REPLICA_COMMAND word with `{name}` and `{port}` filled in. */
const fill = (word: string, name: string, port: number): string =>
  word.replaceAll('{name}', name).replaceAll('{port}', String(port));

/** A port the OS hands out now (free until someone takes it: the replica, a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
