import type { Socket } from 'node:net';
import { leaveSocket, readByStream } from '../socket-events.js';
import { HttpParser, type ParsedReader, type ParserHandler, type ParserKind } from './parser.js';

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

/** Why a connection does not read now; reading goes on when no reason is left. */
export enum Pause {
  /** The upstream cannot take more request body (or the client more answer). */
  Body = 1,
  /** Requests wait their turn: no more are read until they are answered. */
  Queue = 2,
  /** A tunnel request waits for the replica's answer: what follows it is held, not parsed. */
  Switch = 4,
  /** The connection reads no more requests (a refusal or a timeout ends it). */
  Stopped = 8,
}

/**
 * How one HTTP/1 connection reads its socket: llhttp reading the handle in C++ when it can take
 * it (no JS 'data' events, as node:http's server), else the JS stream. It owns pausing and
 * resuming (the kernel keeps the bytes and TCP slows the peer), the parser's release while the
 * connection idles and its rebirth when bytes come, and leaving HTTP for a tunnel.
 */
export class SocketReader {
  /** Undefined while released (idle) and after the socket left HTTP or closed. */
  private current: HttpParser | undefined;
  /** The parser reads the socket in C++. */
  private consumed = false;
  private pauses = 0;
  /** Lingering: reads on (and drops) whatever the pause reasons say. */
  private draining = false;

  constructor(
    private readonly socket: Socket,
    private readonly kind: ParserKind,
    private readonly handler: ParserHandler & ParsedReader,
  ) {
    this.current = new HttpParser(kind, handler);
  }

  /** Starts reading: in C++ when the socket has its handle, else by the JS stream ('data'). */
  start(): void {
    this.consumed = this.current!.consume(this.socket, this.handler);
    if (!this.consumed) readByStream(this.socket);
  }

  get parser(): HttpParser | undefined {
    return this.current;
  }

  /** The parser is idle-released only when it reads in C++ (a JS-stream reader keeps it). */
  get releasable(): boolean {
    return this.current !== undefined && this.consumed;
  }

  pause(reason: Pause): void {
    this.pauses |= reason;
    this.apply();
  }

  resume(reason: Pause): void {
    this.pauses &= ~reason;
    this.apply();
  }

  paused(reason: Pause): boolean {
    return (this.pauses & reason) !== 0;
  }

  /** Reads on and drops, whatever pauses it (a closing connection's lingering read). */
  drain(): void {
    this.draining = true;
    this.apply();
  }

  /** The parser's memory goes back while nothing comes; `onWake` gets the next bytes. */
  release(onWake: (this: Socket, chunk: Buffer) => void): void {
    this.current!.release(true);
    this.current = undefined;
    this.socket.on('data', onWake);
    this.socket.resume(); // a wake before paused the stream; 'data' alone would not restart it
  }

  /**
   * Bytes read before the reader started (the listener read them to pick the protocol): parsed
   * first, then whatever the stream read behind them, then the socket as `start` set it up. The
   * socket was paused before `start`, so none of it came as 'data' meanwhile.
   */
  feed(first: Buffer): void {
    this.parseBuffered(this.current!, first);
  }

  /** Bytes on a released connection: a new parser reads them, as `startWith` does. */
  wake(chunk: Buffer, onWake: (this: Socket, chunk: Buffer) => void): void {
    const { socket, handler } = this;
    socket.off('data', onWake);
    socket.pause();
    const parser = new HttpParser(this.kind, handler);
    this.current = parser;
    parser.consume(socket, handler);
    this.parseBuffered(parser, chunk);
  }

  /** `chunk`, then what the JS stream read past it before the parser took the handle. */
  private parseBuffered(parser: HttpParser, chunk: Buffer): void {
    const { socket, handler } = this;
    handler.onParsed(parser.execute(chunk), () => chunk);
    for (let more: Buffer | null = socket.read(); more !== null && this.current === parser; more = socket.read()) {
      const rest = more;
      handler.onParsed(parser.execute(rest), () => rest);
    }
    this.apply();
  }

  /**
   * The socket leaves HTTP (a switched protocol): the parser is released, the connection's
   * listeners removed, and the JS stream reads it again, paused until a tunnel takes it.
   */
  leave(): void {
    const parser = this.current;
    this.current = undefined;
    parser?.release(this.consumed);
    leaveSocket(this.socket);
    this.setReading(true);
    this.socket.pause();
  }

  /** The socket closed. */
  close(): void {
    this.current?.close();
    this.current = undefined;
  }

  private apply(): void {
    this.setReading(this.draining || this.pauses === 0);
  }

  private setReading(on: boolean): void {
    if (!this.consumed) {
      if (on) this.socket.resume();
      else this.socket.pause();
      return;
    }
    setHandleReading(this.socket, on);
  }
}

/** Stops or restarts a handle the parser reads in C++. */
function setHandleReading(socket: Socket, on: boolean): void {
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
  if (!handle || socket.destroyed) return;
  if (on) handle.readStart();
  else handle.readStop();
}
