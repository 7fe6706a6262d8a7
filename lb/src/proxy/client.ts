import type { Socket } from 'node:net';
import { LbError } from '../contract/errors.js';
import { admit } from './admission.js';
import type { Timed } from './deadlines.js';
import { DirectWriter, type WriteOwner } from './direct-write.js';
import { failureResponse } from './headers.js';
import {
  type Head,
  HttpParser,
  isParseError,
  type ParsedReader,
  type ParseError,
  type ParserHandler,
  restOf,
} from './http-parser.js';
import { connectionOf, leaveHttp, readByStream, type SocketConnection, serveSocket } from './http-socket.js';
import { type Observers, requestRecord } from './observation.js';
import { setReading } from './reading.js';
import type { ClientSide, Relay } from './relay.js';
import type { AdmittedRequest } from './request.js';

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

/** A request parsed (or refused) and waiting for its turn to be answered. */
interface Queued {
  /** What answers it; its body goes there as it arrives, started or not. */
  relay: Relay | undefined;
  /** Refused before forwarding: answered with this error, then the connection closes. */
  refusal: LbError | undefined;
  /** What the refused request's head said, when it had one (the access log). */
  refusedHead?: { readonly method: string; readonly path: string };
  /** Its turn came. */
  started: boolean;
  /** Began after shutdown did: answered with `Connection: close`. */
  afterShutdown: boolean;
}

/**
 * After its last answer, a closing connection keeps reading (and dropping) what the client
 * still sends, so closing does not reset the answer away (nginx's lingering close), this long at most.
 */
const LINGER_MS = 5000;
/** An idle connection keeps its parser this long (a client sending back to back never loses it). */
const PARSER_IDLE_MS = 1000;

/**
 * One client connection: llhttp in request mode, requests answered one at a time in
 * order (as nginx and HAProxy do), reading paused while requests wait their turn or the
 * replica cannot take more body, and one deadline for the whole request (head and body).
 */
export class ClientConnection implements ParserHandler, ParsedReader, WriteOwner, SocketConnection, ClientSide, Timed {
  deadline = 0;
  readonly clientIp: string;
  /** Released while the connection idles (its memory goes back), made anew when bytes come. */
  private parser: HttpParser | undefined = new HttpParser('request', this);
  /** When an idle connection's keep-alive runs out (its parser is released before that). */
  private keepAliveEnd = 0;
  /** queue[0] is being answered; the rest wait. */
  private readonly queue: Queued[] = [];
  /** The request being received. */
  private receiving: Queued | undefined;
  private pausedForBody = false;
  private pausedForQueue = false;
  /** False once the connection reads no more requests (a refusal or timeout ends it). */
  private reading = true;
  private ended = false;
  private clientEnded = false;
  /** The parser reads the socket in C++ (no 'data' events). */
  private readonly consumed: boolean;
  /** llhttp stopped after an Upgrade or CONNECT head: the rest of the read is still to parse. */
  private stoppedAtUpgrade = false;
  /** An Upgrade or CONNECT head came on this connection: llhttp may stop short on what follows. */
  private sawUpgrade = false;
  /** The last request asked for a tunnel: nothing after it is parsed until the replica answers. */
  private switchAsked = false;
  /** What the client sent after that request (the protocol it switches to, or more HTTP if declined). */
  private held: Buffer | undefined;

  private readonly writer: DirectWriter;
  /** The socket is corked until the end of this turn of the event loop. */
  private corked = false;

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.clientIp = socket.remoteAddress ?? 'unknown';
    this.writer = new DirectWriter(socket, this);
    socket.setNoDelay(true);
    serveSocket(socket, this);
    this.consumed = this.parser!.consume(socket, this);
    if (!this.consumed) readByStream(socket);
    this.idle();
  }

  // ---- the socket's events (through http-socket's shared listeners)

  /** Bytes read by the JS stream (a socket whose handle the parser could not take). */
  onData(chunk: Buffer): void {
    this.onParsed(this.parser!.execute(chunk), () => chunk);
  }

  /** The client took what it could not take at once: the request being answered may send more. */
  onWriteDrain(): void {
    this.queue[0]?.relay?.onClientDrain();
  }

  onError(): void {} // 'close' follows

  /** A client that ends its side has left (as node:http and nginx take it): its requests are cancelled. */
  onEnd(): void {
    this.clientEnded = true;
    if (this.isIdle) this.socket.end();
    else this.socket.destroy();
  }

  onClose(): void {
    this.ended = true;
    for (const queued of this.queue) queued.relay?.cancel();
    this.queue.length = 0;
    this.receiving = undefined;
    this.parser?.close();
    this.parser = undefined;
    this.host.closed(this);
  }

  /** Bytes on a connection whose parser was released: a new parser reads them and, in C++, the rest. */
  onWake(chunk: Buffer): void {
    const { socket } = this;
    socket.off('data', onWake);
    socket.pause();
    const parser = new HttpParser('request', this);
    this.parser = parser;
    parser.consume(socket, this);
    this.onParsed(parser.execute(chunk), () => chunk);
    // Whatever the stream read past this chunk before the parser took over the handle.
    for (let more: Buffer | null = socket.read(); more !== null && this.parser === parser; more = socket.read()) {
      const rest = more;
      this.onParsed(parser.execute(rest), () => rest);
    }
    this.updateReading();
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
    return this.queue.length === 0 && this.receiving === undefined;
  }

  // ---- the parser's callbacks

  onMessageBegin(): void {
    if (this.ended) return;
    this.receiving = { relay: undefined, refusal: undefined, started: false, afterShutdown: this.host.closing };
    this.deadline = Date.now() + this.host.requestTimeoutMs;
  }

  onHead(head: Head): number {
    if (head.upgrade) {
      this.stoppedAtUpgrade = true;
      this.sawUpgrade = true;
    }
    const queued = this.receiving;
    if (this.ended || !queued) return 0;
    const admitted = admit(head);
    if (admitted instanceof LbError) {
      queued.refusal = admitted;
      queued.refusedHead = { method: head.method, path: head.url };
    } else {
      queued.relay = this.host.relayFor(this, admitted);
      if (queued.relay.canSwitch) this.switchAsked = true;
    }
    this.queue.push(queued);
    if (this.queue.length === 1) this.startNext();
    return 0;
  }

  onBody(chunk: Buffer): void {
    const queued = this.receiving;
    queued?.relay?.onRequestBody(chunk);
  }

  onMessageComplete(): void {
    const queued = this.receiving;
    this.receiving = undefined;
    this.deadline = 0;
    queued?.relay?.onRequestComplete();
  }

  // ---- ClientSide, for the relay answering queue[0]

  write(data: string | Buffer, more = false): boolean {
    if (this.ended) return true;
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
    return requestKeepAlive && !this.ended && !this.clientEnded && !(this.queue[0]?.afterShutdown ?? this.host.closing);
  }

  answered(keepAlive: boolean): void {
    this.queue.shift();
    if (!keepAlive) {
      this.endGracefully();
      return;
    }
    this.startNext();
    if (this.switchAsked && this.queue.length === 0) this.resumeAfterDecline();
    if (this.pausedForQueue && this.queue.length <= 1) {
      this.pausedForQueue = false;
      this.updateReading();
    }
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
    this.switchAsked = false;
    this.ended = true;
    this.deadline = 0;
    this.queue.length = 0;
    this.receiving = undefined;
    leaveHttp(socket, this.parser!, this.consumed);
    this.parser = undefined;
    this.host.closed(this);
    return { socket, rest };
  }

  pauseBody(): void {
    this.pausedForBody = true;
    this.updateReading();
  }

  resumeBody(): void {
    this.pausedForBody = false;
    this.updateReading();
  }

  // ---- deadlines and shutdown

  expire(): void {
    if (this.receiving === undefined) {
      // Idle a while, with keep-alive left: the parser goes (node:http frees idle parsers too).
      if (this.parser && this.consumed && this.isIdle && !this.host.closing && Date.now() < this.keepAliveEnd) {
        this.releaseParser();
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

  onParsed(parsed: number | ParseError, chunk: () => Buffer): void {
    if (this.ended) return; // lingering: the rest is dropped
    let result = parsed;
    for (;;) {
      if (isParseError(result)) {
        this.protocolError(result);
        return;
      }
      // After a message with `Upgrade` (or CONNECT) llhttp stops; the LB does not upgrade, so it
      // parses on. Otherwise it took the whole read: no copy of it is asked for (one per request).
      if (!this.stoppedAtUpgrade) break;
      this.stoppedAtUpgrade = false;
      if (this.switchAsked) {
        this.holdForSwitch(result, chunk());
        return;
      }
      const data = chunk();
      if (result >= data.length || this.ended) break;
      const rest = data.subarray(result);
      result = this.parser!.execute(rest);
      chunk = () => rest;
    }
    // After an Upgrade head llhttp stops, with no error, at bytes it will not parse as HTTP (the
    // protocol the client asked to switch to): refused at once, not left to the request timeout.
    if (this.sawUpgrade && !this.stoppedAtUpgrade && result < chunk().length) {
      this.failReceiving(
        new LbError(
          'BAD_REQUEST',
          'Bytes after an Upgrade request are not HTTP: this load balancer does not switch protocols',
        ),
      );
      return;
    }
    if (this.queue.length > 1 && !this.pausedForQueue) {
      this.pausedForQueue = true;
      this.updateReading();
    }
  }

  /** Until the replica answers the tunnel request, what follows it is kept, not parsed, and reading stops. */
  private holdForSwitch(parsed: number, data: Buffer): void {
    this.held = restOf(parsed, data);
    setReading(this.socket, this.consumed, false);
  }

  /** The replica declined the tunnel (answered as usual): what came after the request is HTTP again. */
  private resumeAfterDecline(): void {
    this.switchAsked = false;
    const held = this.held;
    this.held = undefined;
    if (held) this.onParsed(this.parser!.execute(held), () => held);
    this.updateReading();
  }

  private startNext(): void {
    const queued = this.queue[0];
    if (!queued || queued.started) return;
    queued.started = true;
    if (queued.relay) queued.relay.start();
    else this.refuse(queued.refusal ?? new LbError('BAD_REQUEST', 'Bad request'), queued.refusedHead);
  }

  /** The contract's error, then the connection closes (the rest of the stream cannot be trusted). */
  private refuse(error: LbError, head?: { method: string; path: string }): void {
    const answer = failureResponse(error, [], false);
    this.write(answer);
    const log = this.host.observers.requestLog;
    if (log) {
      const record = requestRecord(this.clientIp, head?.method ?? null, head?.path ?? null);
      record.event = 'refused';
      record.status = error.status;
      record.bytesOut = answer.length;
      record.error = error.message;
      log.write(record);
    }
    this.endGracefully();
  }

  /** What node:http's server answers to a request llhttp refused, in the contract's shape. */
  private protocolError(error: ParseError): void {
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? 'BODY_TOO_LARGE'
          : 'BAD_REQUEST';
    this.failReceiving(new LbError(status, `Malformed HTTP request: ${error.reason ?? error.code}`));
  }

  /**
   * Ends the request being received with `error` and reads no more: a request being answered
   * gets the error (or is cut if its answer began); one waiting its turn gets it in turn.
   */
  private failReceiving(error: LbError): void {
    this.stopReading();
    const receiving = this.receiving;
    this.receiving = undefined;
    this.deadline = 0;
    if (receiving?.started && receiving.relay) {
      receiving.relay.fail(error);
      return;
    }
    if (receiving && this.queue.includes(receiving)) {
      // Waiting its turn: answered with the error when it comes, its body so far dropped.
      receiving.relay?.cancel();
      receiving.relay = undefined;
      receiving.refusal = error;
    } else {
      this.queue.push({ relay: undefined, refusal: error, started: false, afterShutdown: true });
    }
    if (this.queue.length === 1) this.startNext();
  }

  private stopReading(): void {
    this.reading = false;
    setReading(this.socket, this.consumed, false);
  }

  private endGracefully(): void {
    this.ended = true;
    this.deadline = 0;
    this.receiving = undefined;
    this.socket.end();
    // Read on (and drop) until the client closes, so its unread answer is not reset away.
    setReading(this.socket, this.consumed, true);
    this.socket.setTimeout(LINGER_MS, () => this.socket.destroy());
  }

  private updateReading(): void {
    if (this.ended || !this.reading || this.switchAsked) return;
    setReading(this.socket, this.consumed, !(this.pausedForBody || this.pausedForQueue));
  }

  private idle(): void {
    if (this.clientEnded) {
      this.socket.end();
      return;
    }
    const now = Date.now();
    if (this.host.closing) {
      this.deadline = now + this.host.shutdownGraceMs;
      return;
    }
    this.keepAliveEnd = now + this.host.keepAliveTimeoutMs;
    this.deadline =
      this.parser && this.consumed ? Math.min(now + PARSER_IDLE_MS, this.keepAliveEnd) : this.keepAliveEnd;
  }

  /** The parser's memory goes back while nothing comes; the next bytes make a new one (`wake`). */
  private releaseParser(): void {
    this.parser!.release(true);
    this.parser = undefined;
    this.deadline = this.keepAliveEnd;
    this.socket.on('data', onWake);
    this.socket.resume(); // a wake before paused the stream; 'data' alone would not restart it
  }
}

/** Bytes on a connection whose parser was released (a listener of its own while it idles). */
function onWake(this: Socket, chunk: Buffer): void {
  connectionOf<ClientConnection>(this)?.onWake(chunk);
}
function uncork(connection: ClientConnection): void {
  connection.uncork();
}
