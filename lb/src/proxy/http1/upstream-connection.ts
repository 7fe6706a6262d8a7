import type { Socket } from 'node:net';
import { monotonicMs } from '../../clock.js';
import type { Deadlines, Timed } from '../deadlines.js';
import { move, type Transitions } from '../phase.js';
import type { AdmittedRequest } from '../request.js';
import { connectionOf, type SocketConnection, serveSocket } from '../socket-events.js';
import {
  type Acquired,
  type AnswerHandler,
  type Carrier,
  type Forwarding,
  type PoolOptions,
  UpstreamError,
} from '../upstream.js';
import { DirectWriter, type WriteOwner } from './direct-write.js';
import { type Head, isParseError, type ParsedReader, type ParseError, type ParserHandler, restOf } from './parser.js';
import { Pause, SocketReader } from './socket-reader.js';
import { requestHead } from './wire.js';

/** What a connection tells the pool it belongs to, and reads from it. */
export interface UpstreamSlot {
  /** What a request says in Host when the client gave none. */
  readonly authority: string;
  readonly options: PoolOptions;
  readonly deadlines: Deadlines;
  /** The exchange ended cleanly: the connection may carry another. */
  release(connection: UpstreamConnection): void;
  /** Destroyed: never handed out again, though its 'close' (and `forget`) comes later. */
  discard(connection: UpstreamConnection): void;
  /** Closed, or left for a tunnel: it no longer counts. */
  forget(connection: UpstreamConnection): void;
}

/**
 * Where an upstream connection is in its life:
 * - `connecting`: its connect has no outcome yet;
 * - `idle`: connected, with no exchange (in the pool, or just handed out);
 * - `waiting`: a request was sent; its answer's head has not come;
 * - `answering`: the answer's head came, its body is coming;
 * - `answered`: the answer is whole (the request's body may still be going up);
 * - `switching`: the replica answered 101 to a tunnel request: the socket is handed over once this read is parsed;
 * - `switched`: the socket left HTTP for a tunnel;
 * - `dead`: destroyed or closed.
 */
export type UpstreamPhase =
  | 'connecting'
  | 'idle'
  | 'waiting'
  | 'answering'
  | 'answered'
  | 'switching'
  | 'switched'
  | 'dead';

export const UPSTREAM_MOVES: Transitions<UpstreamPhase> = {
  connecting: ['idle', 'dead'],
  idle: ['waiting', 'dead'],
  waiting: ['answering', 'switching', 'dead'],
  answering: ['answered', 'dead'],
  answered: ['idle', 'dead'],
  switching: ['switched', 'dead'],
  switched: [],
  dead: [],
};

/**
 * One socket to an upstream, with llhttp in response mode. It carries one exchange at a
 * time; anything the upstream sends outside an exchange (bytes after a complete answer,
 * an answer nobody asked for) closes it, so a misbehaving replica cannot desynchronise it.
 */
export class UpstreamConnection implements Carrier, ParserHandler, ParsedReader, WriteOwner, SocketConnection, Timed {
  deadline = 0;
  readonly authority: string;
  private phase: UpstreamPhase = 'connecting';
  /** Exchanges carried to the end (a failure before any byte of a reused one may be the keep-alive race). */
  private carried = 0;
  private handler: AnswerHandler | null = null;
  private readonly reader: SocketReader;
  private readonly writer: DirectWriter;
  /** The current exchange: its request went up whole; its answer allows keep-alive; it asked for a tunnel. */
  private requestComplete = false;
  private responseKeepAlive = false;
  private upgradeAsked = false;
  /** The 101 head, while `switching`. */
  private switchHead: Head | undefined;
  /** Told of the connect's outcome, while `connecting`. */
  private acquired: Acquired | undefined;

  constructor(
    private readonly slot: UpstreamSlot,
    readonly socket: Socket,
  ) {
    this.authority = slot.authority;
    this.reader = new SocketReader(socket, 'response', this);
    this.writer = new DirectWriter(socket, this);
    serveSocket(socket, this);
  }

  /** Has carried an exchange before. */
  get reused(): boolean {
    return this.carried > 0;
  }

  /** Bytes of the current answer have arrived. */
  get answering(): boolean {
    return this.phase === 'answering' || this.phase === 'answered';
  }

  private to(next: UpstreamPhase): void {
    this.phase = move(UPSTREAM_MOVES, 'upstream connection', this.phase, next);
  }

  /** Connects; `done` hears of the outcome (by the connect timeout at the latest). */
  connect(done: Acquired): void {
    this.acquired = done;
    this.deadline = monotonicMs() + this.slot.options.connectTimeoutMs;
    this.slot.deadlines.watch(this);
    this.socket.once('error', onConnectError);
    this.socket.once('connect', onConnect);
  }

  /** The socket connected (before its timeout). */
  connected(): void {
    this.socket.off('error', onConnectError);
    if (this.acquired === undefined) return; // timed out meanwhile
    this.to('idle');
    this.deadline = 0;
    this.reader.start();
    this.settleConnect(null);
  }

  /** The connect failed, or timed out. */
  connectFailed(error: UpstreamError): void {
    if (this.acquired === undefined) return;
    this.settleConnect(error);
  }

  private settleConnect(error: UpstreamError | null): void {
    const done = this.acquired!;
    this.acquired = undefined;
    if (error) done(error);
    else done(null, this);
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
   * Sends the request's head (for a bodiless request, that is the whole request). The answer's
   * head must arrive by `deadline` (ms epoch): the attempt's deadline, which waiting for this
   * connection already counted against.
   */
  send(handler: AnswerHandler, request: AdmittedRequest, up: Forwarding, deadline: number, upgrade = false): void {
    this.to('waiting');
    this.handler = handler;
    this.upgradeAsked = upgrade;
    this.requestComplete = !request.hasBody;
    this.deadline = deadline;
    // The answer's beginning is expected now: onMessageBegin need not hear it (on again once it is whole).
    this.reader.parser?.hearBegins(false);
    this.writer.write(requestHead(request, up.id, up.clientIp, this.authority, up.traceparent, up.secure));
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
    if (this.phase !== 'dead') this.to('dead');
    // Out of the idle list now: an expired idle connection handed out before its 'close' event
    // (a sweep and a request in one turn of the loop, as after a stall) would never be answered.
    this.slot.discard(this);
    this.socket.destroy();
  }

  /** The client cannot take more of the answer: reading stops until it drains. */
  pause(): void {
    this.reader.pause(Pause.Body);
  }

  resume(): void {
    this.reader.resume(Pause.Body);
  }

  expire(): void {
    if (this.acquired !== undefined) {
      this.connectFailed(
        new UpstreamError('CONNECT_TIMEOUT', `no connection within ${this.slot.options.connectTimeoutMs} ms`),
      );
      this.destroy();
    } else if (this.handler) {
      this.fail(new UpstreamError(this.answering ? 'BODY_TIMEOUT' : 'HEADERS_TIMEOUT'));
    } else {
      this.destroy(); // idle too long
    }
  }

  // ---- the parser's callbacks

  onMessageBegin(): void {
    // An answer while none was asked for (or a second one): the stream cannot be trusted.
    if (!this.handler || this.phase === 'answered') this.fail(new UpstreamError('UNSOLICITED_RESPONSE'));
  }

  onHead(head: Head): number {
    const handler = this.handler;
    if (!handler) return 0;
    // Interim answers (100 Continue, 103 Early Hints) are not relayed: the final one follows.
    if (head.status >= 100 && head.status < 200 && head.status !== 101) return 0;
    if (head.status === 101 || head.upgrade) {
      // Only a tunnel's own connection may switch; a 101 to anything else cannot be trusted.
      if (head.status === 101 && this.upgradeAsked && handler.onSwitch) {
        this.to('switching');
        this.switchHead = head;
      } else this.fail(new UpstreamError('UNEXPECTED_UPGRADE'));
      return 0;
    }
    this.to('answering');
    this.responseKeepAlive = head.keepAlive;
    this.deadline = monotonicMs() + this.slot.options.responseTimeoutMs;
    return handler.onResponseHead(head);
  }

  onBody(chunk: Buffer): void {
    if (!this.handler) return;
    this.deadline = monotonicMs() + this.slot.options.responseTimeoutMs;
    this.handler.onResponseBody(chunk);
  }

  onMessageComplete(): void {
    if (this.phase !== 'answering') return; // an interim answer ended, or the protocol switched
    const handler = this.handler;
    this.to('answered');
    // From here on, a message beginning is one nobody asked for.
    this.reader.parser?.hearBegins(true);
    // Answered before the whole request was sent: the connection is not idle until the
    // exchange gives it up, so it keeps a deadline (every state of a connection has one).
    if (this.requestComplete) this.deadline = 0;
    handler?.onResponseComplete();
  }

  /** One read, parsed (the callbacks ran meanwhile). */
  onParsed(result: number | ParseError, chunk: () => Buffer): void {
    if (this.phase === 'switching' && this.handler && !isParseError(result)) {
      this.handOver(result, chunk);
      return;
    }
    if (!this.handler && this.phase !== 'dead') {
      this.destroy(); // bytes outside an exchange
      return;
    }
    if (isParseError(result))
      this.fail(new UpstreamError('BAD_RESPONSE', `${result.code}: ${result.reason ?? result.message}`));
    else if (this.phase === 'answered') this.maybeRelease();
  }

  // ---- the socket's events (through socket-events' shared listeners)

  onData(chunk: Buffer): void {
    this.onParsed(this.reader.parser!.execute(chunk), () => chunk);
  }

  onWriteDrain(): void {
    this.handler?.onUpstreamDrain();
  }

  onEnd(): void {
    // A close-delimited answer ends with the connection.
    if (this.handler && this.phase === 'answering') {
      const result = this.reader.parser?.finish();
      if (isParseError(result) || this.phase === 'answering') {
        this.fail(new UpstreamError('UPSTREAM_CLOSED', 'the replica closed the connection mid-answer'));
      }
    }
  }

  onError(error: NodeJS.ErrnoException): void {
    this.fail(new UpstreamError(error.code ?? 'SOCKET_ERROR', error.message));
  }

  onClose(): void {
    this.slot.deadlines.unwatch(this);
    if (this.handler && this.phase !== 'dead')
      this.fail(
        new UpstreamError(this.answering ? 'UPSTREAM_CLOSED' : 'ECONNRESET', 'the replica closed the connection'),
      );
    if (this.phase !== 'dead') this.to('dead');
    this.reader.close();
    this.slot.forget(this);
  }

  /**
   * The protocol switched: this socket leaves the pool and HTTP (its parser, listeners, deadline)
   * and goes to the handler with the bytes the replica sent after the 101 head.
   */
  private handOver(parsed: number, chunk: () => Buffer): void {
    const handler = this.handler!;
    const head = this.switchHead!;
    const rest = restOf(parsed, chunk());
    this.handler = null;
    this.switchHead = undefined;
    this.to('switched');
    this.slot.deadlines.unwatch(this);
    this.slot.forget(this);
    // Read by the JS stream from now on; the tunnel's pipe takes it.
    this.reader.leave();
    handler.onSwitch!(head, this.socket, rest);
  }

  /** After a whole answer to a whole request on a keep-alive connection, back to the pool. */
  private maybeRelease(): void {
    if (this.phase !== 'answered' || !this.requestComplete || !this.handler) return;
    this.handler = null;
    this.carried++;
    // Paused at the answer's last piece, the client's drain comes after the exchange is over:
    // reading resumes here, or the next exchange on this connection would never hear its answer.
    if (this.reader.paused(Pause.Body)) this.resume();
    if (this.responseKeepAlive && !this.socket.destroyed) {
      this.to('idle');
      this.slot.release(this);
    } else this.destroy();
  }

  /** Closes the connection; the exchange hears of it unless its answer was already whole. */
  private fail(error: UpstreamError): void {
    const handler = this.phase === 'answered' ? null : this.handler;
    this.destroy();
    handler?.onUpstreamError(error);
  }
}

/** The connect's listeners, shared by every connection (`this` is the socket). */
function onConnect(this: Socket): void {
  connectionOf<UpstreamConnection>(this)?.connected();
}
function onConnectError(this: Socket, error: NodeJS.ErrnoException): void {
  connectionOf<UpstreamConnection>(this)?.connectFailed(
    new UpstreamError(error.code ?? 'CONNECT_FAILED', error.message),
  );
}
