import type { ReplicaHandle } from '../membership/replica.js';
import type { Router } from '../routing/index.js';
import { MovedKeys } from './moved-keys.js';
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
 * The open tunnels, and their re-homing (`MovedKeys`): after a routing change, exactly the tunnels
 * whose key now has another owner are closed, spread over REHOME_GRACE_MS.
 */
export class Tunnels implements TunnelOwner {
  private readonly open: MovedKeys<Tunnel>;

  constructor(private readonly options: TunnelOptions) {
    this.open = new MovedKeys(() => options.rehomeGraceMs);
  }

  /** The replica switched protocols: the two sockets are relayed as a tunnel for its key. */
  tunnel(opening: TunnelOpening): void {
    const tunnel = new Tunnel(opening, this);
    // The table may have changed while the handshake was on its way.
    this.open.add(tunnel, this.options.router());
    this.options.opened(opening.replica);
    tunnel.start(opening.fromClient, opening.fromReplica, this.options.tunnelIdleTimeoutMs);
  }

  /** A new routing table: tunnels whose key moved are closed within the grace. */
  rehome(router: Router<ReplicaHandle>): void {
    this.open.rehome(router);
  }

  /** New key sources: tunnels whose key, read again, has another owner are closed within the grace. */
  rekey(router: Router<ReplicaHandle>): void {
    this.open.rekey(router);
  }

  /** Open tunnels per replica (the dashboard). */
  counts(): Map<string, number> {
    return this.open.countsByReplica();
  }

  /** Shutdown: every tunnel is closed now, as re-homing closes one (its client reconnects elsewhere). */
  closeAll(): void {
    for (const tunnel of [...this.open.items()]) tunnel.close('shutdown');
  }

  tunnelEnded(tunnel: Tunnel, reason: TunnelEnd): void {
    this.open.delete(tunnel);
    this.options.closed(tunnel.replica, reason);
  }
}
