import type { MaglevTable } from './maglev.js';
import type { Ring } from './ring.js';

/** The routing table in use: `kind` tells the two apart where a caller must (the dashboard). */
export type RoutingTable<T extends { readonly index: number; readonly name: string }> = Ring<T> | MaglevTable<T>;
