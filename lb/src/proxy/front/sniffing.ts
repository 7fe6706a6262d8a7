import type { Socket } from 'node:net';
import type { Timed } from '../deadlines.js';

/** What an HTTP/2 client sends first (RFC 9113 3.4): prior knowledge, as gRPC and `curl --http2-prior-knowledge` do. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type Protocol = 'h2' | 'http1';

/** The protocol `bytes` (the first a client sent) begin, or undefined while they are a part of the preface. */
export function protocolOf(bytes: Buffer): Protocol | undefined {
  const n = Math.min(bytes.length, PREFACE.length);
  if (bytes.compare(PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === PREFACE.length ? 'h2' : undefined;
}

/** Who takes a connection once its protocol is known. */
export interface SniffOwner {
  decided(sniffing: Sniffing, protocol: Protocol, first: Buffer): void;
  /** The client left (or timed out) before its first bytes told anything. */
  abandoned(sniffing: Sniffing): void;
}

const SNIFFING = Symbol('sniffing');
type SniffedSocket = Socket & { [SNIFFING]?: Sniffing };

/**
 * A new connection until its first bytes say its protocol: held with shared listeners (no closures
 * of its own) and a deadline, the keep-alive timeout, like an idle HTTP/1 connection.
 */
export class Sniffing implements Timed {
  private bytes: Buffer | undefined;

  constructor(
    readonly socket: Socket,
    private readonly owner: SniffOwner,
    public deadline: number,
  ) {
    (socket as SniffedSocket)[SNIFFING] = this;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  onBytes(chunk: Buffer): void {
    const bytes = this.bytes ? Buffer.concat([this.bytes, chunk]) : chunk;
    const protocol = protocolOf(bytes);
    if (protocol === undefined) {
      this.bytes = bytes;
      return;
    }
    this.leave();
    this.owner.decided(this, protocol, bytes);
  }

  /** No byte came in time (or the LB is shutting down): the connection closes. */
  expire(): void {
    this.socket.destroy();
  }

  onClosed(): void {
    this.leave();
    this.owner.abandoned(this);
  }

  private leave(): void {
    const socket = this.socket as SniffedSocket;
    socket.pause();
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket[SNIFFING] = undefined;
  }
}

function onData(this: SniffedSocket, chunk: Buffer): void {
  this[SNIFFING]?.onBytes(chunk);
}
/** The client ended its side before sending anything: the LB ends its own (as for an idle connection). */
function onEnd(this: SniffedSocket): void {
  this.end();
}
function onError(): void {} // 'close' follows
function onClose(this: SniffedSocket): void {
  this[SNIFFING]?.onClosed();
}
