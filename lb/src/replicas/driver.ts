import { LbError } from '../contract/errors.js';
import type { ReplicaHandle } from '../membership/replica.js';

export type DriverKind = 'process' | 'docker' | 'swarm';

/** Where replicas run. The manager owns membership; a driver only starts and stops. */
export interface ReplicaDriver {
  readonly kind: string;
  /** Starts a replica called `name` and resolves once its process/container runs. */
  start(name: string, index: number, weight: number): Promise<ReplicaHandle>;
  /**
   * Replaces a flatlined replica in place under the same name and index, where the platform
   * can (swarm: a forced update of its service). Without it, the manager stops and starts it.
   */
  restart?(name: string, index: number, weight: number): Promise<ReplicaHandle>;
  /** Stops it: SIGTERM, up to `graceMs` to finish in-flight requests, then kill. Idempotent. */
  stop(name: string, graceMs: number): Promise<void>;
  /** The running replicas this LB owns (adopted at start). */
  list(): Promise<ReplicaHandle[]>;
  /** Why `name` cannot be used for a new replica (e.g. a foreign container has it), if so. */
  conflict(name: string): Promise<string | undefined>;
  /**
   * Why the platform would refuse `name` (a contract-valid name) for what it starts, if it would:
   * asked before anything starts, so a refusal is the caller's 400, not a failed start.
   */
  nameProblem?(name: string): string | undefined;
  /** Releases the driver; the process driver stops its children, Docker leaves containers running. */
  close(graceMs: number): Promise<void>;
}

/** A driver's failure (engine unreachable, start failed): the manager reports it as START_FAILED or logs it. */
export const driverError = (detail: string) => new LbError('DRIVER_FAILED', detail);
