import { connect } from 'node:net';
import { monotonicMs } from '../../clock.js';
import type { Deadlines, Timed } from '../deadlines.js';
import { type Acquired, type PoolOptions, type Upstream, UpstreamError, type UpstreamTarget } from '../upstream.js';
import { UpstreamConnection, type UpstreamSlot } from './upstream-connection.js';

/** A request waiting for a free connection, until its own deadline. */
class Waiter implements Timed {
  constructor(
    readonly pool: UpstreamPool,
    readonly done: Acquired,
    public deadline: number,
  ) {}

  expire(): void {
    this.pool.giveUp(this);
  }
}

/**
 * A keep-alive pool of raw sockets to one upstream (a replica, or the LB's own Fastify) and the
 * requests waiting for one. Its connections know it only as their `UpstreamSlot`.
 */
export class UpstreamPool implements Upstream, UpstreamSlot {
  readonly protocol = 'http1';
  /** What a request to this upstream says in Host when the client gave none. */
  readonly authority: string;
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiting: Waiter[] = [];
  private open = 0;
  private closed = false;

  constructor(
    readonly target: UpstreamTarget,
    readonly options: PoolOptions,
    readonly deadlines: Deadlines,
  ) {
    this.authority = 'path' in target ? 'localhost' : `${target.host}:${target.port}`;
  }

  /**
   * Hands a connection to `done`: an idle one (most recent first), a new one, or the next
   * freed one. A request that waits for one past `deadline` (ms epoch) gets POOL_TIMEOUT.
   */
  acquire(done: Acquired, deadline: number, fresh = false): () => void {
    if (this.closed) {
      done(new UpstreamError('POOL_CLOSED'));
      return noop;
    }
    if (!fresh) {
      const connection = this.idle.pop();
      if (connection) {
        connection.activate();
        done(null, connection);
        return noop;
      }
    }
    if (this.open < this.options.maxConnections || fresh) {
      this.connect(done);
      return noop;
    }
    const waiter = new Waiter(this, done, deadline);
    this.waiting.push(waiter);
    this.deadlines.watch(waiter);
    return () => this.dequeue(waiter);
  }

  /** A waiter's deadline passed: no connection was freed for it in time. */
  giveUp(waiter: Waiter): void {
    if (this.dequeue(waiter)) waiter.done(new UpstreamError('POOL_TIMEOUT'));
  }

  release(connection: UpstreamConnection): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    const next = this.nextWaiter();
    if (next) {
      connection.activate();
      next.done(null, connection);
      return;
    }
    connection.park(monotonicMs() + this.options.idleTimeoutMs);
    this.idle.push(connection);
  }

  discard(connection: UpstreamConnection): void {
    const at = this.idle.indexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
  }

  forget(connection: UpstreamConnection): void {
    this.open--;
    this.discard(connection);
    // A slot is free: a waiter gets a new connection.
    const next = this.nextWaiter();
    if (next) this.connect(next.done);
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) {
      this.deadlines.unwatch(waiter);
      waiter.done(new UpstreamError('POOL_CLOSED'));
    }
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private nextWaiter(): Waiter | undefined {
    const waiter = this.waiting.shift();
    if (waiter) this.deadlines.unwatch(waiter);
    return waiter;
  }

  /** False when the waiter was no longer waiting. */
  private dequeue(waiter: Waiter): boolean {
    const at = this.waiting.indexOf(waiter);
    if (at === -1) return false;
    this.waiting.splice(at, 1);
    this.deadlines.unwatch(waiter);
    return true;
  }

  private connect(done: Acquired): void {
    this.open++;
    const socket = connect(this.target as never);
    socket.setNoDelay(true);
    new UpstreamConnection(this, socket).connect(done);
  }
}

function noop(): void {}
