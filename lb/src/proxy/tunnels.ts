import type { ReplicaHandle } from '../membership/replica.js';
import type { Router } from '../routing/index.js';
import type { TunnelEnd } from './observation.js';
import { Tunnel, type TunnelOpening, type TunnelOwner } from './tunnel.js';

export interface TunnelOptions {
  /** REHOME_GRACE_MS: after a routing change, tunnels whose key moved are closed spread over this. */
  readonly rehomeGraceMs: number;
  /** TUNNEL_IDLE_TIMEOUT_MS: a tunnel with no byte either way for this long is closed; 0 is off. */
  readonly tunnelIdleTimeoutMs: number;
  /** The routing table now. */
  readonly router: () => Router<ReplicaHandle>;
  opened(replica: string): void;
  closed(replica: string, reason: TunnelEnd): void;
}

/**
 * The open tunnels, and their re-homing: after a routing change, exactly the tunnels whose key
 * now has another owner are closed, at random moments spread over REHOME_GRACE_MS (their clients
 * reconnect, to the new owner, not all at once). Every instance computes the same owners, so
 * every instance closes the same tunnels.
 */
export class Tunnels implements TunnelOwner {
  /** Each open tunnel, and the re-homing close scheduled for it once its key moved. */
  private readonly open = new Map<Tunnel, NodeJS.Timeout | undefined>();

  constructor(private readonly options: TunnelOptions) {}

  /** The replica switched protocols: the two sockets are relayed as a tunnel for its key. */
  tunnel(opening: TunnelOpening): void {
    const tunnel = new Tunnel(opening, this);
    this.open.set(tunnel, undefined);
    this.options.opened(opening.replica);
    tunnel.start(opening.fromClient, opening.fromReplica, this.options.tunnelIdleTimeoutMs);
    // The table may have changed while the handshake was on its way.
    this.rehomeIfMoved(tunnel, this.options.router());
  }

  /** A new routing table: tunnels whose key moved are closed within the grace. */
  rehome(router: Router<ReplicaHandle>): void {
    for (const tunnel of this.open.keys()) this.rehomeIfMoved(tunnel, router);
  }

  /** Open tunnels per replica (the dashboard). */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const tunnel of this.open.keys()) counts.set(tunnel.replica, (counts.get(tunnel.replica) ?? 0) + 1);
    return counts;
  }

  /** Shutdown: every tunnel is closed now, as re-homing closes one (its client reconnects elsewhere). */
  closeAll(): void {
    for (const tunnel of [...this.open.keys()]) tunnel.close('shutdown');
  }

  tunnelEnded(tunnel: Tunnel, reason: TunnelEnd): void {
    clearTimeout(this.open.get(tunnel));
    this.open.delete(tunnel);
    this.options.closed(tunnel.replica, reason);
  }

  /** Schedules the tunnel's close when its key has another owner on `router` (once). */
  private rehomeIfMoved(tunnel: Tunnel, router: Router<ReplicaHandle>): void {
    if (this.open.get(tunnel) !== undefined || router.lookup(tunnel.key)?.name === tunnel.replica) return;
    const timer = setTimeout(() => tunnel.close('rehome'), Math.random() * this.options.rehomeGraceMs);
    timer.unref();
    this.open.set(tunnel, timer);
  }
}
