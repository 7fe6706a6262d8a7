import { MaglevTable, Ring } from '../ring/index.js';
import type { ReplicaManager } from '../replicas/manager.js';
import type { TrafficStats } from './stats.js';

export interface DashboardConfig {
  readonly routing: string;
  readonly hashFunction: string;
  readonly slots: number;
  readonly virtualServers: number;
  readonly maxFailCount: number;
  readonly adminTokenRequired: boolean;
}

/** Everything the page draws, as one JSON document. */
export function dashboardSnapshot(manager: ReplicaManager, stats: TrafficStats, config: DashboardConfig) {
  const now = Date.now();
  const router = manager.ring;
  const layout =
    router instanceof Ring
      ? { kind: 'ring' as const, slots: config.slots, virtualServers: router.virtualServers().map((v) => ({ slot: v.slot, replica: v.member.name })) }
      : router instanceof MaglevTable
        ? { kind: 'maglev' as const, tableSize: router.tableSize, entries: Object.fromEntries(router.shares()) }
        : { kind: 'unknown' as const };
  return {
    at: now,
    routing: config.routing,
    hashFunction: config.hashFunction,
    virtualServersPerReplica: config.virtualServers,
    maxFailCount: config.maxFailCount,
    adminTokenRequired: config.adminTokenRequired,
    layout,
    replicas: manager.members().map((r) => ({
      name: r.name,
      index: r.index,
      state: r.state,
      failures: r.failures,
      respawns: r.respawns,
      uptimeSeconds: Math.round((now - r.startedAt) / 1000),
      inRing: router.has(r.name),
      ...stats.rates(r.name, now),
    })),
    totals: stats.totals(now),
    events: manager.recentEvents.slice(-50),
  };
}
