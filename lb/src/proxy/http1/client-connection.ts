import type { Socket } from 'node:net';
import { monotonicMs } from '../../clock.js';
import { LbError } from '../../contract/errors.js';
import type { Timed } from '../deadlines.js';
import { logRefusal, type Observers, VIA_H1, VIA_H1_TLS } from '../observation.js';
import { move, type Transitions } from '../phase.js';
import type { AdmittedRequest } from '../request.js';
import { connectionOf, type SocketConnection, serveSocket } from '../socket-events.js';
import { admit, protocolError } from './admission.js';
import { DirectWriter, type WriteOwner } from './direct-write.js';
import { type Head, isParseError, type ParsedReader, type ParseError, type ParserHandler, restOf } from './parser.js';
import { Pipeline, type Refuser } from './pipeline.js';
import type { ClientSide, Relay } from './relay.js';
import { Pause, SocketReader } from './socket-reader.js';
import { failureResponse } from './wire.js';

/** What a client connection needs from the data plane. */
export interface ConnectionHost {
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** After shutdown began, how long a connection with nothing in flight waits for a request already on its way. */
  readonly shutdownGraceMs: number;
  /** True once shutdown began: answers still go out, each closing its connection. */
  readonly closing: boolean;
  readonly observers: Observers;
  /** What will answer `request` (a replica or the LB's own routes), when its turn comes. */
  relayFor(client: ClientSide, request: AdmittedRequest): Relay;
  /** The connection is gone. */
  closed(connection: ClientConnection): void;
}

/**
 * Where a client connection is in its life:
 * - `open`: reads and answers requests;
 * - `switching`: its last request asked for a tunnel; what the client sent after it is held,
 *   unparsed, until the replica answers (a 101 switches it, anything else declines it: `open`);
 * - `stopped`: reads no more requests (one was refused or timed out); those in line are answered;
 * - `ending`: the client ended its side while idle; the LB ends its own;
 * - `lingering`: its last answer went out; it reads and drops what the client still sends, so
 *   closing does not reset that answer away (nginx's lingering close), then closes;
 * - `switched`: the socket left HTTP for a tunnel;
 * - `closed`: the socket closed.
 */
export type ClientPhase = 'open' | 'switching' | 'stopped' | 'ending' | 'lingering' | 'switched' | 'closed';

export const CLIENT_MOVES: Transitions<ClientPhase> = {
  open: ['switching', 'stopped', 'ending', 'lingering', 'closed'],
  switching: ['open', 'stopped', 'lingering', 'switched', 'closed'],
  stopped: ['lingering', 'switched', 'closed'],
  ending: ['closed'],
  lingering: ['closed'],
  switched: [],
  closed: [],
};

/** Phases in which the connection still speaks HTTP to its client (answers go out). */
const SPEAKS: ReadonlySet<ClientPhase> = new Set(['open', 'switching', 'stopped']);

/** How long a lingering connection reads on at most. */
const LINGER_MS = 5000;
/** An idle connection keeps its parser this long (a client sending back to back never loses it). */
const PARSER_IDLE_MS = 1000;

/**
 * What llhttp did with the last Upgrade (or CONNECT) head on this connection: after one it stops
 * parsing at the head's end (`stopped`), and may stop short on what follows (`seen`).
 */
type UpgradeSeen = 'none' | 'seen' | 'stopped';

/**
 * One client connection: llhttp in request mode, requests answered one at a time in order
 * (`Pipeline`), reading paused while requests wait their turn or the replica cannot take more
 * body (`SocketReader`), and one deadline for the whole request (head and body).
 */
export class ClientConnection
  implements ParserHandler, ParsedReader, WriteOwner, SocketConnection, ClientSide, Timed, Refuser
{
  deadline = 0;
  readonly clientIp: string;
  readonly secure: boolean;
  private phase: ClientPhase = 'open';
  private readonly reader: SocketReader;
  private readonly pipeline = new Pipeline(this);
  /** When an idle connection's keep-alive runs out (its parser is released before that). */
  private keepAliveEnd = 0;
  private upgrade: UpgradeSeen = 'none';
  /** What the client sent after a tunnel request (the protocol it switches to, or more HTTP if declined). */
  private held: Buffer | undefined;
  private readonly writer: DirectWriter;
  /** The socket is corked until the end of this turn of the event loop. */
  private corked = false;

  /** `first`: what the listener read to pick the protocol (parsed before anything else). */
  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    first?: Buffer,
  ) {
    this.clientIp = socket.remoteAddress ?? 'unknown';
    this.secure = (socket as { encrypted?: boolean }).encrypted === true;
    this.writer = new DirectWriter(socket, this);
    socket.setNoDelay(true);
    serveSocket(socket, this);
    this.reader = new SocketReader(socket, 'request', this);
    if (first) socket.pause();
    this.reader.start();
    this.idle();
    if (first) this.reader.feed(first);
  }

  private to(next: ClientPhase): void {
    this.phase = move(CLIENT_MOVES, 'client connection', this.phase, next);
  }

  /** Answers still go to the client. */
  private get speaks(): boolean {
    return SPEAKS.has(this.phase);
  }

  // ---- the socket's events (through socket-events' shared listeners)

  /** Bytes read by the JS stream (a socket whose handle the parser could not take). */
  onData(chunk: Buffer): void {
    this.onParsed(this.reader.parser!.execute(chunk), () => chunk);
  }

  /** The client took what it could not take at once: the request being answered may send more. */
  onWriteDrain(): void {
    this.pipeline.answering?.relay?.onClientDrain();
  }

  onError(): void {} // 'close' follows

  /** A client that ends its side has left (as node:http and nginx take it): its requests are cancelled. */
  onEnd(): void {
    if (this.isIdle && this.speaks) {
      this.to('ending');
      this.socket.end();
    } else if (!this.isIdle) this.socket.destroy();
  }

  onClose(): void {
    this.to('closed');
    this.pipeline.clear();
    this.reader.close();
    this.host.closed(this);
  }

  /** Bytes on a connection whose parser was released. */
  onWake(chunk: Buffer): void {
    this.reader.wake(chunk, onWake);
  }

  /** The turn that corked the socket is over. */
  uncork(): void {
    this.corked = false;
    this.socket.uncork();
  }

  get observers(): Observers {
    return this.host.observers;
  }

  /** Nothing in flight: closes at once (shutdown) or after the keep-alive timeout. */
  get isIdle(): boolean {
    return this.pipeline.isIdle;
  }

  // ---- the parser's callbacks

  /**
   * A request's first byte came in this read: its deadline runs from now. (No onMessageBegin, so no call
   * into JS per request: a request is begun at its head, or after a read that ended inside it.)
   */
  private beginReceiving(): void {
    this.pipeline.begin(this.host.closing);
    this.deadline = monotonicMs() + this.host.requestTimeoutMs;
  }

  onHead(head: Head): number {
    if (head.upgrade) this.upgrade = 'stopped';
    if (!this.speaks) return 0;
    if (!this.pipeline.isReceiving) this.beginReceiving();
    const admitted = admit(head);
    if (admitted instanceof LbError) {
      this.pipeline.enqueueRefusal(admitted, { method: head.method, path: head.url });
      return 0;
    }
    const relay = this.host.relayFor(this, admitted);
    if (relay.canSwitch && this.phase === 'open') this.to('switching');
    this.pipeline.enqueue(relay);
    return 0;
  }

  onBody(chunk: Buffer): void {
    this.pipeline.body(chunk);
  }

  onMessageComplete(): void {
    this.deadline = 0;
    this.pipeline.complete();
  }

  // ---- ClientSide, for the relay answering the first request in line

  write(data: string | Buffer, more = false): boolean {
    if (!this.speaks) return true;
    // Corked until this turn of the loop ends (as node:http's server does): what the relay writes
    // in it (an answer's head and body pieces, from one read of the upstream) leaves in one writev.
    if (more && !this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    return this.writer.write(data);
  }

  keepsAlive(requestKeepAlive: boolean): boolean {
    // A request received before shutdown is answered as usual: its client could not know.
    return requestKeepAlive && this.speaks && !(this.pipeline.answering?.afterShutdown ?? this.host.closing);
  }

  answered(keepAlive: boolean): void {
    this.pipeline.shift();
    if (!keepAlive) {
      this.endGracefully();
      return;
    }
    this.pipeline.startNext();
    if (this.phase === 'switching' && this.pipeline.length === 0) this.resumeAfterDecline();
    if (this.reader.paused(Pause.Queue) && this.pipeline.length <= 1) this.reader.resume(Pause.Queue);
    if (this.isIdle) this.idle();
  }

  abort(): void {
    this.socket.destroy();
  }

  /**
   * The replica switched protocols: `head` (its 101) goes out, then the socket leaves HTTP (parser,
   * listeners, deadlines, this data plane's connections) for a tunnel, with what the client sent
   * after its request.
   */
  switchProtocols(head: string): { socket: Socket; rest: Buffer | undefined } {
    const { socket } = this;
    this.write(head);
    const rest = this.held;
    this.held = undefined;
    this.to('switched');
    this.deadline = 0;
    this.pipeline.leave();
    this.reader.leave();
    this.host.closed(this);
    return { socket, rest };
  }

  pauseBody(): void {
    this.reader.pause(Pause.Body);
  }

  resumeBody(): void {
    this.reader.resume(Pause.Body);
  }

  // ---- deadlines and shutdown

  expire(now: number): void {
    if (!this.pipeline.isReceiving) {
      // Idle a while, with keep-alive left: the parser goes (node:http frees idle parsers too).
      if (this.reader.releasable && this.isIdle && !this.host.closing && now < this.keepAliveEnd) {
        this.reader.release(onWake);
        this.deadline = this.keepAliveEnd;
        return;
      }
      this.socket.destroy(); // idle past keep-alive or the shutdown grace
      return;
    }
    this.failReceiving(
      new LbError(
        'REQUEST_TIMEOUT',
        `Request not received within ${this.host.requestTimeoutMs} ms (REQUEST_TIMEOUT_MS)`,
      ),
    );
  }

  /**
   * Shutdown: a busy connection closes after its next answer (`Connection: close`). An idle one
   * closes after the grace: a request the client sent just before it heard of the shutdown
   * (back to back after its last answer) is answered, not lost on a closed socket.
   */
  drain(): void {
    if (this.isIdle) this.idle();
  }

  // ---- internals

  /** One read, parsed (the parser's callbacks ran meanwhile). */
  onParsed(parsed: number | ParseError, chunk: () => Buffer): void {
    if (!this.speaks) return; // lingering: the rest is dropped
    let result = parsed;
    for (;;) {
      if (isParseError(result)) {
        this.failReceiving(protocolError(result));
        return;
      }
      // After a message with `Upgrade` (or CONNECT) llhttp stops; the LB does not upgrade, so it
      // parses on. Otherwise it took the whole read: no copy of it is asked for (one per request).
      if (this.upgrade !== 'stopped') break;
      this.upgrade = 'seen';
      if (this.phase === 'switching') {
        this.holdForSwitch(result, chunk());
        return;
      }
      const data = chunk();
      if (result >= data.length || !this.speaks) break;
      const rest = data.subarray(result);
      result = this.reader.parser!.execute(rest);
      chunk = () => rest;
    }
    // After an Upgrade head llhttp stops, with no error, at bytes it will not parse as HTTP (the
    // protocol the client asked to switch to): refused at once, not left to the request timeout.
    if (this.upgrade === 'seen' && this.speaks && result < chunk().length) {
      this.failReceiving(
        new LbError(
          'BAD_REQUEST',
          'Bytes after an Upgrade request are not HTTP: this load balancer does not switch protocols',
        ),
      );
      return;
    }
    // The read ended inside the head of a request llhttp began in it (after any it completed).
    if (result > 0 && !this.pipeline.isReceiving && this.speaks && this.reader.parser?.midHead()) this.beginReceiving();
    if (this.pipeline.length > 1 && !this.reader.paused(Pause.Queue)) this.reader.pause(Pause.Queue);
  }

  /** Until the replica answers the tunnel request, what follows it is kept, not parsed, and reading stops. */
  private holdForSwitch(parsed: number, data: Buffer): void {
    this.held = restOf(parsed, data);
    this.reader.pause(Pause.Switch);
  }

  /** The replica declined the tunnel (answered as usual): what came after the request is HTTP again. */
  private resumeAfterDecline(): void {
    this.to('open');
    const held = this.held;
    this.held = undefined;
    if (held) this.onParsed(this.reader.parser!.execute(held), () => held);
    this.reader.resume(Pause.Switch);
  }

  /** The contract's error, then the connection closes (the rest of the stream cannot be trusted). */
  refuse(error: LbError, head?: { method: string; path: string }): void {
    const answer = failureResponse(error, [], false);
    this.write(answer);
    const via = this.secure ? VIA_H1_TLS : VIA_H1;
    logRefusal(this.host.observers.requestLog, this.clientIp, head, error, answer.length, via);
    this.endGracefully();
  }

  /** Ends the request being received with `error`, and reads no more. */
  private failReceiving(error: LbError): void {
    if (this.phase === 'open' || this.phase === 'switching') this.to('stopped');
    this.reader.pause(Pause.Stopped);
    this.deadline = 0;
    this.pipeline.failReceiving(error);
  }

  private endGracefully(): void {
    this.to('lingering');
    this.deadline = 0;
    this.pipeline.dropReceiving();
    this.socket.end();
    // Read on (and drop) until the client closes, so its unread answer is not reset away.
    this.reader.drain();
    this.socket.setTimeout(LINGER_MS, () => this.socket.destroy());
  }

  private idle(): void {
    if (this.phase === 'ending') {
      this.socket.end();
      return;
    }
    const now = monotonicMs();
    if (this.host.closing) {
      this.deadline = now + this.host.shutdownGraceMs;
      return;
    }
    this.keepAliveEnd = now + this.host.keepAliveTimeoutMs;
    this.deadline = this.reader.releasable ? Math.min(now + PARSER_IDLE_MS, this.keepAliveEnd) : this.keepAliveEnd;
  }
}

/** Bytes on a connection whose parser was released (a listener of its own while it idles). */
function onWake(this: Socket, chunk: Buffer): void {
  connectionOf<ClientConnection>(this)?.onWake(chunk);
}
function uncork(connection: ClientConnection): void {
  connection.uncork();
}
