import type { Router } from '../routing/index.js';
import type { ReplicaHandle } from './replica.js';

/**
 * Where a data plane gets its routing table: the ReplicaManager in the controller's own
 * process, or a MembershipFollower of a controller elsewhere. Both build the same table
 * from the same members, so every instance sends an id to the same replica.
 */
export interface RoutingSource {
  readonly router: Router<ReplicaHandle>;
  on(event: 'routing', listener: (router: Router<ReplicaHandle>) => void): unknown;
}

/** A controller's address: `http://host:port`, or `unix:/path` / `unix:@abstract-name` (LB workers). */
export type ControllerTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export function controllerTarget(address: string): ControllerTarget {
  if (address.startsWith('unix:')) {
    const path = address.slice(5);
    return { path: path.startsWith('@') ? `\0${path.slice(1)}` : path };
  }
  const url = new URL(address);
  return { host: url.hostname, port: Number(url.port || 80) };
}
