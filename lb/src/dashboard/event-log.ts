import type { Recovery } from '../health/recovery.js';
import type { HandoffNotifier } from '../membership/handoff.js';
import { type ReplicaEvent, replicaEvent } from '../replicas/events.js';
import type { ReplicaManager } from '../replicas/manager.js';

const KEPT = 200;

/** The recent replica events the dashboard lists: membership (manager) and recovery (health). */
export class EventLog {
  private readonly events: ReplicaEvent[] = [];

  constructor(manager: ReplicaManager, recovery: Recovery, handoff?: HandoffNotifier) {
    const keep = (event: ReplicaEvent) => {
      this.events.push(event);
      if (this.events.length > KEPT) this.events.shift();
    };
    manager.on('member', keep);
    recovery.on('event', keep);
    handoff?.on('prepared', (ms, version, confirmed, asked) =>
      keep(
        replicaEvent(
          'handoff',
          `version ${version}`,
          `${confirmed} of ${asked} replicas confirmed prepare in ${ms} ms`,
        ),
      ),
    );
  }

  recent(count = KEPT): ReplicaEvent[] {
    return this.events.slice(-count);
  }
}
