import type { Socket } from 'node:net';
import type { RequestKey } from '../routing/index.js';

/** Why a tunnel ended (lb_tunnels_closed_total{reason}). */
export type TunnelEnd = 'client' | 'replica' | 'error' | 'rehome' | 'shutdown';

/**
 * A switched connection (after a replica's 101): the client's socket and the replica's, relayed
 * both ways as bytes, with backpressure (pipe pauses the side whose peer cannot take more) and
 * half-close (a side that ends its writes ends the other's), until either closes.
 */
export class Tunnel {
  private ended: TunnelEnd | undefined;

  constructor(
    /** The routing key that chose the replica: re-homing compares its owner after every change. */
    readonly key: RequestKey,
    readonly replica: string,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly onEnd: (tunnel: Tunnel, reason: TunnelEnd) => void,
  ) {}

  /** Starts relaying; `fromClient` / `fromReplica`: bytes each side sent that were read with the handshake. */
  start(fromClient: Buffer | undefined, fromReplica: Buffer | undefined): void {
    const { client, upstream } = this;
    // A side that ends its writes half-closes the tunnel; the other may still answer.
    upstream.allowHalfOpen = true;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('error', () => this.end('error'));
    upstream.on('error', () => this.end('error'));
    client.on('close', () => this.end('client'));
    upstream.on('close', () => this.end('replica'));
    if (fromReplica && fromReplica.length > 0) client.write(fromReplica);
    if (fromClient && fromClient.length > 0) upstream.write(fromClient);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
  }

  /** Closes both sides (re-homing, shutdown): the client reconnects, to the key's owner now. */
  close(reason: TunnelEnd): void {
    this.end(reason);
  }

  private end(reason: TunnelEnd): void {
    if (this.ended) return;
    this.ended = reason;
    this.client.destroy();
    this.upstream.destroy();
    this.onEnd(this, reason);
  }
}
