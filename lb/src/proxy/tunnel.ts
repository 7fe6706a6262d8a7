import type { Socket } from 'node:net';
import type { RequestKey } from '../routing/index.js';
import type { Movable } from './moved-keys.js';
import type { Observation, TunnelEnd } from './observation.js';
import { connectionOf, readByStream, type SocketConnection, serveSocket } from './socket-events.js';

/** What a switched connection is made of, as the exchange that switched it hands it over. */
export interface TunnelOpening {
  /** The routing key that chose the replica: re-homing compares its owner after every change. */
  readonly key: RequestKey;
  /** Its request's key by the key sources now (after a reload changed HASH_KEY). */
  readonly keyNow: () => RequestKey;
  readonly replica: string;
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request, read with the handshake. */
  readonly fromClient?: Buffer | undefined;
  /** Bytes the replica sent after its 101, read with the handshake. */
  readonly fromReplica?: Buffer | undefined;
  /** The access log's record of the request that opened it. */
  readonly seen?: Observation | undefined;
}

/** Who hears that a tunnel ended. */
export interface TunnelOwner {
  tunnelEnded(tunnel: Tunnel, reason: TunnelEnd): void;
}

/**
 * A switched connection (after a replica's 101): the client's socket and the replica's, relayed
 * both ways as bytes, with backpressure (a side whose peer cannot take more is paused until the
 * peer drains) and half-close (a side that ends its writes ends the other's), until either closes.
 * What `stream.pipe` does, without its nine closures per direction: an idle tunnel holds only
 * its sockets and this object (memory per idle tunnel).
 */
export class Tunnel implements SocketConnection, Movable {
  private ended: TunnelEnd | undefined;
  /** What the client's socket had read and written when the tunnel began (its HTTP request and the 101). */
  private clientBytesAtStart: [number, number] = [0, 0];

  key: RequestKey;
  readonly replica: string;
  private readonly keyNow: () => RequestKey;
  private readonly client: Socket;
  private readonly upstream: Socket;
  /** The access log's record of the request that opened it: its line is written on close. */
  private readonly seen: Observation | undefined;

  constructor(
    opening: TunnelOpening,
    private readonly owner: TunnelOwner,
  ) {
    this.key = opening.key;
    this.keyNow = opening.keyNow;
    this.replica = opening.replica;
    this.client = opening.client;
    this.upstream = opening.upstream;
    this.seen = opening.seen;
  }

  rekey(): void {
    this.key = this.keyNow();
  }

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
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      // socket-events' listeners, shared by every connection and tunnel, find this tunnel on the socket.
      serveSocket(socket, this);
      readByStream(socket);
      socket.resume();
    }
    if (idleTimeoutMs > 0) {
      client.setTimeout(idleTimeoutMs);
      client.on('timeout', onIdle);
    }
  }

  /** Its key moved: closed, so that its client reconnects to the new owner. */
  moveAway(): void {
    this.close('rehome');
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
  onData(chunk: Buffer, from: Socket): void {
    if (!this.peerOf(from).write(chunk)) from.pause();
  }

  /** `socket` took what it had buffered: its peer may send again. */
  onWriteDrain(socket: Socket): void {
    this.peerOf(socket).resume();
  }

  /** `from` ended its writes: so does the tunnel towards its peer. */
  onEnd(from: Socket): void {
    this.peerOf(from).end();
  }

  onError(): void {
    this.close('error');
  }

  onClose(socket: Socket): void {
    this.close(socket === this.client ? 'client' : 'replica');
  }

  private peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }
}

/** TUNNEL_IDLE_TIMEOUT_MS passed with no byte either way (the client's socket keeps the time). */
function onIdle(this: Socket): void {
  connectionOf<Tunnel>(this)?.close('idle');
}
