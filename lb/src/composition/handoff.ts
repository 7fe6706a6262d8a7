import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ChangeFeed } from '../membership/changes.js';
import { HandoffNotifier } from '../membership/handoff.js';
import type { ReplicaHandle } from '../membership/replica.js';
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
    /** Every change the feed records is committed to the replicas it involves. */
    follow(feed: ChangeFeed): void {
      feed.on('change', (change, before, after) => notifier.commit(change.moved, before, after, change.version));
    },
  };
}
