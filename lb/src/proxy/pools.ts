import { LbError } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { Router } from '../routing/index.js';
import type { Deadlines } from './deadlines.js';
import type { PoolOptions, Upstream, UpstreamFactory } from './upstream.js';

/** One pool of raw keep-alive sockets per replica, closed when the replica leaves the routing table. */
export class ReplicaPools {
  private readonly pools = new Map<string, Upstream>();

  constructor(
    private readonly newUpstream: UpstreamFactory,
    private readonly options: PoolOptions,
    private readonly deadlines: Deadlines,
    /** Told when a request found every connection to `replica` busy until its deadline. */
    private readonly onBusy: (replica: string) => void,
  ) {}

  pool(replica: ReplicaHandle): Upstream {
    let pool = this.pools.get(replica.url);
    if (!pool) {
      const url = new URL(replica.url);
      pool = this.newUpstream({ host: url.hostname, port: Number(url.port || 80) }, this.options, this.deadlines);
      this.pools.set(replica.url, pool);
    }
    return pool;
  }

  /** The error for a request that found no free connection to `replica` before its deadline. */
  busy(replica: string): LbError {
    this.onBusy(replica);
    const { maxConnections, responseTimeoutMs } = this.options;
    return new LbError(
      'REPLICA_BUSY',
      `Replica ${replica} has no free connection: all ${maxConnections} (UPSTREAM_MAX_CONNECTIONS) stayed busy for ${responseTimeoutMs} ms (UPSTREAM_TIMEOUT_MS)`,
    );
  }

  /** Pools of replicas that left the routing table close; their in-flight requests finish. */
  prune(router: Router<ReplicaHandle>): void {
    const live = new Set(router.members.map((m) => m.url));
    for (const [url, pool] of this.pools) {
      if (!live.has(url)) {
        this.pools.delete(url);
        pool.close();
      }
    }
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }
}
