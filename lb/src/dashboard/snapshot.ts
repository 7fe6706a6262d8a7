import type { OutlierDetector } from '../health/outliers.js';
import type { Recovery } from '../health/recovery.js';
import type { ReplicaManager } from '../replicas/manager.js';
import type { EventLog } from './event-log.js';
import type { TrafficStats } from './stats.js';

/** What the dashboard reads: membership, health, traffic and the event log. */
export interface DashboardSources {
  readonly manager: ReplicaManager;
  readonly recovery: Recovery;
  readonly outliers: OutlierDetector;
  readonly events: EventLog;
  readonly stats: TrafficStats;
  readonly config: DashboardConfig;
  /** Open tunnels per replica (this process's data plane). */
  readonly tunnels?: () => ReadonlyMap<string, number>;
  /** HTTP/2 streams in flight per replica (this process's data plane). */
  readonly streams?: () => ReadonlyMap<string, number>;
  /** Client connections open now, HTTP/1.x and HTTP/2 (this process's data plane). */
  readonly clients?: () => { readonly h1: number; readonly h2: number };
}

export interface DashboardConfig {
  readonly routing: string;
  readonly hashFunction: string;
  readonly slots: number;
  readonly virtualServers: number;
  readonly maxFailCount: number;
  readonly adminTokenRequired: boolean;
}

/** Everything the page draws, as one JSON document. */
export function dashboardSnapshot(sources: DashboardSources) {
  const { manager, recovery, outliers, events, stats, config } = sources;
  const now = Date.now();
  const open = sources.tunnels?.();
  const streams = sources.streams?.();
  const router = manager.router;
  const layout =
    router.kind === 'ring'
      ? {
          kind: 'ring' as const,
          slots: config.slots,
          virtualServers: router.virtualServers().map((v) => ({ slot: v.slot, replica: v.member.name })),
        }
      : { kind: 'maglev' as const, tableSize: router.tableSize, entries: Object.fromEntries(router.shares()) };
  return {
    at: now,
    routing: config.routing,
    hashFunction: config.hashFunction,
    virtualServersPerReplica: config.virtualServers,
    maxFailCount: config.maxFailCount,
    adminTokenRequired: config.adminTokenRequired,
    layout,
    replicas: [...manager.members(), ...manager.drainingMembers()].map((r) => ({
      name: r.name,
      index: r.index,
      weight: r.weight ?? 1,
      tunnels: open?.get(r.name) ?? 0,
      streams: streams?.get(r.name) ?? 0,
      state: manager.get(r.name) ? (recovery.get(r.name)?.state ?? 'healthy') : 'draining',
      failures: recovery.get(r.name)?.failures ?? 0,
      respawns: recovery.get(r.name)?.respawns ?? 0,
      uptimeSeconds: Math.round((now - r.startedAt) / 1000),
      inRing: router.has(r.name),
      ejected: outliers.isEjected(r.name),
      ...stats.rates(r.name, now),
    })),
    totals: stats.totals(now),
    clients: sources.clients?.() ?? { h1: 0, h2: 0 },
    events: events.recent(50),
  };
}

/** One frame of the dashboard's event stream (what the page's script draws). */
export type DashboardSnapshot = ReturnType<typeof dashboardSnapshot>;
