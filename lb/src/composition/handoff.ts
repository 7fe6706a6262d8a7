import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { HandoffNotifier } from '../membership/handoff.js';
import type { ReplicaHandle } from '../membership/replica.js';
import type { ReplicaManager } from '../replicas/manager.js';
import type { RoutingTable } from '../routing/index.js';

/** The key hand-off (HANDOFF_PATH, HANDOFF_TIMEOUT_MS, read at each change): prepare before a switch, commit after. */
export function keyHandoff(config: Config, log: Logger) {
  const notifier = new HandoffNotifier({
    path: () => config.handoffPath,
    timeoutMs: () => config.handoffTimeoutMs,
    hashFunction: config.hashFunction,
    log,
  });
  return {
    notifier,
    beforeSwitch: (before: RoutingTable<ReplicaHandle>, after: RoutingTable<ReplicaHandle>, version: number) =>
      notifier.prepare(before, after, version),
    /** Every change of `manager`'s table is committed to the replicas it involves. */
    follow(manager: ReplicaManager): void {
      let previous = manager.router;
      manager.on('routing', (router) => {
        notifier.commit(previous, router, manager.snapshot().version);
        previous = router;
      });
    },
  };
}
