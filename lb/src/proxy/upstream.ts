import { connect, type Socket } from 'node:net';
import type { Deadlines, Timed } from './deadlines.js';
import { DirectWriter, type WriteOwner } from './direct-write.js';
import {
  type Head,
  HttpParser,
  isParseError,
  type ParsedReader,
  type ParseError,
  type ParserHandler,
  restOf,
} from './http-parser.js';
import { leaveHttp, readByStream, type SocketConnection, serveSocket } from './http-socket.js';
import { setReading } from './reading.js';

/** Why an upstream exchange failed; `code` is what the client's 502 names. */
export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string = code,
  ) {
    super(message);
  }
}

/** What one exchange gets from its upstream connection. */
export interface ResponseHandler {
  /** Return 1 when the answer has no body whatever its headers say (HEAD). */
  onResponseHead(head: Head): number;
  onResponseBody(chunk: Buffer): void;
  onResponseComplete(): void;
  onUpstreamError(error: UpstreamError): void;
  /** The connection can take more request body (after a write returned false). */
  onUpstreamDrain(): void;
  /**
   * The replica switched protocols (101) for a request sent with `upgrade`: the socket is the
   * handler's now, with what the replica sent after the head.
   */
  onSwitch?(head: Head, socket: Socket, rest: Buffer | undefined): void;
}

/**
 * How long a pooled connection may sit idle: below the keep-alive timeout of our replicas
 * (Fastify's 72 s) and of the LB's own app, so the pool closes first and no request is sent on
 * a connection the other side is closing. (Servers that close sooner are met by the stale retry.)
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 30_000;

export type UpstreamTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export interface PoolOptions {
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  /** Until the answer's head arrives, and then between two pieces of its body. */
  readonly responseTimeoutMs: number;
  /** An idle pooled connection is closed after this (below the replicas' own keep-alive timeout). */
  readonly idleTimeoutMs: number;
}

type Acquired = (error: UpstreamError | null, connection?: UpstreamConnection) => void;

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

/** A keep-alive pool of raw sockets to one upstream (a replica, or the LB's own Fastify). */
export class UpstreamPool {
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

  /** A connection finished its exchange cleanly and may carry another. */
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
    connection.park(Date.now() + this.options.idleTimeoutMs);
    this.idle.push(connection);
  }

  /** A connection was destroyed: never handed out again, though its 'close' (and `forget`) comes later. */
  discard(connection: UpstreamConnection): void {
    const at = this.idle.indexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
  }

  /** A connection closed: no longer counted, nor idle. */
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
    const connection = new UpstreamConnection(this, socket);
    connection.deadline = Date.now() + this.options.connectTimeoutMs;
    this.deadlines.watch(connection);
    connection.onConnected(done);
  }
}

function noop(): void {}

/**
 * One socket to an upstream, with llhttp in response mode. It carries one exchange at a
 * time; anything the upstream sends outside an exchange (bytes after a complete answer,
 * an answer nobody asked for) closes it, so a misbehaving replica cannot desynchronise it.
 */
export class UpstreamConnection implements ParserHandler, ParsedReader, WriteOwner, SocketConnection, Timed {
  deadline = 0;
  readonly authority: string;
  /** Has carried an exchange before (a failure before any byte may be the keep-alive race). */
  reused = false;
  /** Bytes of the current answer have arrived. */
  answering = false;
  private handler: ResponseHandler | null = null;
  private readonly parser: HttpParser;
  private readonly writer: DirectWriter;
  private requestComplete = false;
  private responseComplete = false;
  private responseKeepAlive = false;
  private dead = false;
  /** The connect attempt has an outcome (connected, failed or timed out). */
  private connectSettled = false;
  /** Fails the connect attempt (its timeout); set while connecting. */
  private connectFailed: ((error: UpstreamError) => void) | undefined;
  /** The parser reads the socket in C++ (no 'data' events). */
  private consumed = false;
  /** Reading stopped for a slow client (backpressure). */
  private paused = false;
  /** The request asked to switch protocols (a tunnel, on a connection of its own). */
  private upgradeAsked = false;
  /** The replica answered 101 to it: the socket goes to the handler once this read is parsed. */
  private switched: Head | undefined;

  constructor(
    private readonly pool: UpstreamPool,
    readonly socket: Socket,
  ) {
    this.authority = pool.authority;
    this.parser = new HttpParser('response', this);
    this.writer = new DirectWriter(socket, this);
    serveSocket(socket, this);
  }

  onWriteDrain(): void {
    this.handler?.onUpstreamDrain();
  }

  onConnected(done: Acquired): void {
    const onError = (error: NodeJS.ErrnoException) => {
      if (this.connectSettled) return;
      this.connectSettled = true;
      done(new UpstreamError(error.code ?? 'CONNECT_FAILED', error.message));
    };
    this.socket.once('error', onError);
    this.socket.once('connect', () => {
      this.socket.off('error', onError);
      if (this.connectSettled) return; // timed out meanwhile
      this.connectSettled = true;
      this.deadline = 0;
      this.consumed = this.parser.consume(this.socket, this);
      if (!this.consumed) readByStream(this.socket);
      done(null, this);
    });
    this.connectFailed = (error) => {
      if (this.connectSettled) return;
      this.connectSettled = true;
      done(error);
    };
  }

  /** Taken out of the pool for an exchange. */
  activate(): void {
    this.deadline = 0;
  }

  /** Idle in the pool until `deadline`. */
  park(deadline: number): void {
    this.deadline = deadline;
  }

  /**
   * Sends a request head (and, for a bodiless request, that is the whole request). The answer's
   * head must arrive by `deadline` (ms epoch): the attempt's deadline, which waiting for this
   * connection already counted against.
   */
  send(handler: ResponseHandler, head: string, complete: boolean, deadline: number, upgrade = false): void {
    this.handler = handler;
    this.upgradeAsked = upgrade;
    this.answering = false;
    this.requestComplete = complete;
    this.responseComplete = false;
    this.deadline = deadline;
    this.writer.write(head);
  }

  /** A piece of the request body; false when the socket's buffer is full (wait for onUpstreamDrain). */
  writeBody(chunk: Buffer, chunked: boolean): boolean {
    if (!chunked) return this.writer.write(chunk);
    const sized = this.writer.write(`${chunk.length.toString(16)}\r\n`);
    const flushed = this.writer.write(chunk);
    return this.writer.write('\r\n') && flushed && sized;
  }

  endBody(chunked: boolean): void {
    if (chunked) this.writer.write('0\r\n\r\n');
    this.requestComplete = true;
    this.maybeRelease();
  }

  /** The exchange is abandoned (client gone, or it failed over): the socket cannot be reused. */
  destroy(): void {
    this.handler = null;
    this.dead = true;
    // Out of the idle list now: an expired idle connection handed out before its 'close' event
    // (a sweep and a request in one turn of the loop, as after a stall) would never be answered.
    this.pool.discard(this);
    this.socket.destroy();
  }

  pause(): void {
    this.paused = true;
    setReading(this.socket, this.consumed, false);
  }

  resume(): void {
    this.paused = false;
    setReading(this.socket, this.consumed, true);
  }

  expire(): void {
    if (!this.connectSettled) {
      this.connectFailed?.(
        new UpstreamError('CONNECT_TIMEOUT', `no connection within ${this.pool.options.connectTimeoutMs} ms`),
      );
      this.destroy();
    } else if (this.handler) {
      this.fail(new UpstreamError(this.answering ? 'BODY_TIMEOUT' : 'HEADERS_TIMEOUT'));
    } else {
      this.destroy(); // idle too long
    }
  }

  onMessageBegin(): void {
    // An answer while none was asked for (or a second one): the stream cannot be trusted.
    if (!this.handler || this.responseComplete) this.fail(new UpstreamError('UNSOLICITED_RESPONSE'));
  }

  onHead(head: Head): number {
    const handler = this.handler;
    if (!handler) return 0;
    // Interim answers (100 Continue, 103 Early Hints) are not relayed: the final one follows.
    if (head.status >= 100 && head.status < 200 && head.status !== 101) return 0;
    if (head.status === 101 || head.upgrade) {
      // Only a tunnel's own connection may switch; a 101 to anything else cannot be trusted.
      if (head.status === 101 && this.upgradeAsked && handler.onSwitch) this.switched = head;
      else this.fail(new UpstreamError('UNEXPECTED_UPGRADE'));
      return 0;
    }
    this.answering = true;
    this.responseKeepAlive = head.keepAlive;
    this.deadline = Date.now() + this.pool.options.responseTimeoutMs;
    return handler.onResponseHead(head);
  }

  onBody(chunk: Buffer): void {
    if (!this.handler) return;
    this.deadline = Date.now() + this.pool.options.responseTimeoutMs;
    this.handler.onResponseBody(chunk);
  }

  onMessageComplete(): void {
    if (!this.answering || this.switched) return; // an interim answer ended, or the protocol switched
    const handler = this.handler;
    this.responseComplete = true;
    // Answered before the whole request was sent: the connection is not idle until the
    // exchange gives it up, so it keeps a deadline (every state of a connection has one).
    if (this.requestComplete) this.deadline = 0;
    handler?.onResponseComplete();
  }

  /** One read, parsed (the callbacks ran meanwhile). */
  onParsed(result: number | ParseError, chunk: () => Buffer): void {
    if (this.switched && this.handler && !isParseError(result)) {
      this.handOver(this.switched, result, chunk);
      return;
    }
    if (!this.handler && !this.dead) {
      this.destroy(); // bytes outside an exchange
      return;
    }
    if (isParseError(result))
      this.fail(new UpstreamError('BAD_RESPONSE', `${result.code}: ${result.reason ?? result.message}`));
    else if (this.responseComplete) this.maybeRelease();
  }

  // ---- the socket's events (through http-socket's shared listeners)

  onData(chunk: Buffer): void {
    this.onParsed(this.parser.execute(chunk), () => chunk);
  }

  onEnd(): void {
    // A close-delimited answer ends with the connection.
    if (this.handler && this.answering && !this.responseComplete) {
      const result = this.parser.finish();
      if (isParseError(result) || !this.responseComplete) {
        this.fail(new UpstreamError('UPSTREAM_CLOSED', 'the replica closed the connection mid-answer'));
      }
    }
  }

  onError(error: NodeJS.ErrnoException): void {
    this.fail(new UpstreamError(error.code ?? 'SOCKET_ERROR', error.message));
  }

  onClose(): void {
    this.pool.deadlines.unwatch(this);
    if (this.handler && !this.dead)
      this.fail(
        new UpstreamError(this.answering ? 'UPSTREAM_CLOSED' : 'ECONNRESET', 'the replica closed the connection'),
      );
    this.dead = true;
    this.parser.close();
    this.pool.forget(this);
  }

  /**
   * The protocol switched: this socket leaves the pool and HTTP (its parser, listeners, deadline)
   * and goes to the handler with the bytes the replica sent after the 101 head.
   */
  private handOver(head: Head, parsed: number, chunk: () => Buffer): void {
    const handler = this.handler!;
    const rest = restOf(parsed, chunk());
    this.handler = null;
    this.dead = true;
    this.switched = undefined;
    this.pool.deadlines.unwatch(this);
    this.pool.forget(this);
    // Read by the JS stream from now on; the tunnel's pipe takes it.
    leaveHttp(this.socket, this.parser, this.consumed);
    handler.onSwitch!(head, this.socket, rest);
  }

  /** After a whole answer to a whole request on a keep-alive connection, back to the pool. */
  private maybeRelease(): void {
    if (!this.responseComplete || !this.requestComplete || !this.handler) return;
    this.handler = null;
    this.reused = true;
    // Paused at the answer's last piece, the client's drain comes after the exchange is over:
    // reading resumes here, or the next exchange on this connection would never hear its answer.
    if (this.paused) this.resume();
    if (this.responseKeepAlive && !this.dead && !this.socket.destroyed) this.pool.release(this);
    else this.destroy();
  }

  /** Closes the connection; the exchange hears of it unless its answer was already whole. */
  private fail(error: UpstreamError): void {
    const handler = this.responseComplete ? null : this.handler;
    this.destroy();
    handler?.onUpstreamError(error);
  }
}
