import type { Socket } from 'node:net';
import type { RequestKey } from '../routing/index.js';
import type { Observation } from './observation.js';

/** Why a tunnel ended (lb_tunnels_closed_total{reason}). */
export type TunnelEnd = 'client' | 'replica' | 'error' | 'rehome' | 'shutdown' | 'idle';

/** Who hears that a tunnel ended. */
export interface TunnelOwner {
  tunnelEnded(tunnel: Tunnel, reason: TunnelEnd): void;
}

/** The tunnel a socket belongs to, for the socket's listeners (shared by all tunnels). */
const TUNNEL = Symbol('tunnel');
type TunnelSocket = Socket & { [TUNNEL]?: Tunnel };

/**
 * A switched connection (after a replica's 101): the client's socket and the replica's, relayed
 * both ways as bytes, with backpressure (a side whose peer cannot take more is paused until the
 * peer drains) and half-close (a side that ends its writes ends the other's), until either closes.
 * What `stream.pipe` does, without its nine closures per direction: an idle tunnel holds only
 * its sockets and this object (memory per idle tunnel).
 */
export class Tunnel {
  private ended: TunnelEnd | undefined;
  /** What the client's socket had read and written when the tunnel began (its HTTP request and the 101). */
  private clientBytesAtStart: [number, number] = [0, 0];

  constructor(
    /** The routing key that chose the replica: re-homing compares its owner after every change. */
    readonly key: RequestKey,
    readonly replica: string,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly owner: TunnelOwner,
    /** The access log's record of the request that opened it: its line is written on close. */
    private readonly seen?: Observation,
  ) {}

  /**
   * Starts relaying; `fromClient` / `fromReplica`: bytes each side sent that were read with the
   * handshake. `idleTimeoutMs` > 0 (TUNNEL_IDLE_TIMEOUT_MS): no byte either way for that long
   * closes it. The client's socket alone keeps the time: every byte either way is read or written
   * on it.
   */
  start(fromClient: Buffer | undefined, fromReplica: Buffer | undefined, idleTimeoutMs = 0): void {
    const { client, upstream } = this;
    this.clientBytesAtStart = [client.bytesRead, client.bytesWritten];
    // A side that ends its writes half-closes the tunnel; the other may still answer.
    upstream.allowHalfOpen = true;
    if (fromReplica && fromReplica.length > 0) client.write(fromReplica);
    if (fromClient && fromClient.length > 0) upstream.write(fromClient);
    for (const socket of [client, upstream] as TunnelSocket[]) {
      socket.setNoDelay(true);
      socket[TUNNEL] = this;
      socket.on('data', onData);
      socket.on('drain', onDrain);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.resume();
    }
    if (idleTimeoutMs > 0) {
      client.setTimeout(idleTimeoutMs);
      client.on('timeout', onIdle);
    }
  }

  /** Closes both sides (re-homing, shutdown, an error): the client reconnects, to the key's owner now. */
  close(reason: TunnelEnd): void {
    if (this.ended) return;
    this.ended = reason;
    this.client.destroy();
    this.upstream.destroy();
    this.owner.tunnelEnded(this, reason);
    const [read, written] = this.clientBytesAtStart;
    this.seen?.tunnelClosed(reason, this.client.bytesRead - read, this.client.bytesWritten - written);
  }

  /** `chunk` came from `from`: to its peer, and `from` waits while the peer's buffer is full. */
  relay(from: Socket, chunk: Buffer): void {
    if (!this.peerOf(from).write(chunk)) from.pause();
  }

  /** `socket` took what it had buffered: its peer may send again. */
  drained(socket: Socket): void {
    this.peerOf(socket).resume();
  }

  /** `from` ended its writes: so does the tunnel towards its peer. */
  halfClosed(from: Socket): void {
    this.peerOf(from).end();
  }

  closed(socket: Socket): void {
    this.close(socket === this.client ? 'client' : 'replica');
  }

  private peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }
}

// The sockets' listeners, one function each for every tunnel (`this` is the socket).
function onData(this: TunnelSocket, chunk: Buffer): void {
  this[TUNNEL]?.relay(this, chunk);
}
function onDrain(this: TunnelSocket): void {
  this[TUNNEL]?.drained(this);
}
function onEnd(this: TunnelSocket): void {
  this[TUNNEL]?.halfClosed(this);
}
function onError(this: TunnelSocket): void {
  this[TUNNEL]?.close('error');
}
function onIdle(this: TunnelSocket): void {
  this[TUNNEL]?.close('idle');
}
function onClose(this: TunnelSocket): void {
  this[TUNNEL]?.closed(this);
}
