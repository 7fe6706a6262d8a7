import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { driverError } from './driver.js';

/** Labels that mark a container or service as a replica of one particular LB. */
export const LABEL_MANAGED = 'io.consistent-hash-lb.managed';
export const LABEL_OWNER = 'io.consistent-hash-lb.owner';
export const LABEL_INDEX = 'io.consistent-hash-lb.index';
export const LABEL_NAME = 'io.consistent-hash-lb.name';
export const LABEL_WEIGHT = 'io.consistent-hash-lb.weight';

/** What the Docker and swarm drivers are told (from the LB's config). */
export interface DockerEngineOptions {
  readonly network: string;
  /** The replicas' image. */
  readonly image: string;
  /** This LB's owner id: only what carries it is ever touched. */
  readonly lbId: string;
  /** Prefix of container and service names (empty by default); the network alias is always the bare name. */
  readonly prefix: string;
  readonly stopTimeoutMs: number;
  /** REPLICA_PORT: the port the replica listens on inside its container. */
  readonly replicaPort: number;
  /** REPLICA_ENV: more environment variables, `K=V`. */
  readonly replicaEnv: readonly string[];
  readonly log: Logger;
}

/** Docker's error text, without dockerode's "(HTTP code 404) no such container -" preamble. */
export function dockerMessage(error: unknown): string {
  const e = error as { json?: { message?: string }; reason?: string; message?: string };
  return e.json?.message ?? e.message ?? String(error);
}

/** The engine's HTTP status for a failed call (404 no such object, 409 conflict, ...). */
export const statusOf = (error: unknown): number | undefined => (error as { statusCode?: number }).statusCode;

/** The labels every replica of LB `lbId` carries; with its name, ring index and weight when given. */
export function ownerLabels(
  lbId: string,
  replica?: { name: string; index: number; weight: number },
): Record<string, string> {
  const labels: Record<string, string> = { [LABEL_MANAGED]: 'true', [LABEL_OWNER]: lbId };
  if (replica) {
    labels[LABEL_NAME] = replica.name;
    labels[LABEL_INDEX] = String(replica.index);
    labels[LABEL_WEIGHT] = String(replica.weight);
  }
  return labels;
}

/** The engine's label filter for the replicas of LB `lbId` (adoption). */
export const ownerFilter = (lbId: string) => ({ label: [`${LABEL_MANAGED}=true`, `${LABEL_OWNER}=${lbId}`] });

export function isOwnedBy(labels: Record<string, string> | null | undefined, lbId: string): boolean {
  return labels?.[LABEL_MANAGED] === 'true' && labels[LABEL_OWNER] === lbId;
}

/** A replica's name, ring index and weight from its labels, when they are whole (no weight label: 1). */
export function replicaOf(labels: Record<string, string>): { name: string; index: number; weight: number } | undefined {
  const name = labels[LABEL_NAME];
  const index = Number(labels[LABEL_INDEX]);
  const weight = Number(labels[LABEL_WEIGHT] ?? 1);
  const whole = name && Number.isInteger(index) && index > 0 && Number.isInteger(weight) && weight >= 1;
  return whole ? { name, index, weight } : undefined;
}

/** What a replica is told: REPLICA_ENV, then its name and the port to listen on (these win). */
export const replicaEnv = (name: string, options: DockerEngineOptions): string[] => [
  ...options.replicaEnv,
  `SERVER_ID=${name}`,
  `PORT=${options.replicaPort}`,
];

/** The URL of a replica by its name (the network alias) or address. */
export const replicaUrl = (host: string, options: DockerEngineOptions): string =>
  `http://${host}:${options.replicaPort}`;

/**
 * Why `name` cannot be used for a new replica: what `inspect` finds under that name (a
 * `kind`, container or service) belongs to this LB or to something else; or the engine failed.
 */
export async function nameConflict(
  kind: 'container' | 'service',
  inspect: () => Promise<Record<string, string> | null | undefined>,
  lbId: string,
): Promise<string | undefined> {
  try {
    const labels = await inspect();
    return isOwnedBy(labels, lbId)
      ? `a ${kind} of this load balancer already has that name`
      : `a ${kind} this load balancer does not manage already has that name`;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    return `the Docker engine did not answer: ${dockerMessage(error)}`;
  }
}

/** Creates the network unless it exists (another LB may create it at the same moment: 409 is fine). */
export async function ensureNetwork(
  docker: Docker,
  log: Logger,
  spec: { Name: string; Driver: 'bridge' | 'overlay'; Attachable?: boolean; Labels: Record<string, string> },
): Promise<void> {
  const found = await docker.listNetworks({ filters: { name: [spec.Name] } });
  if (found.some((n) => n.Name === spec.Name)) return;
  try {
    await docker.createNetwork({ ...spec, CheckDuplicate: true });
    log.info({ network: spec.Name }, spec.Driver === 'overlay' ? 'created overlay network' : 'created network');
  } catch (error) {
    if (statusOf(error) !== 409) throw driverError(`cannot create network '${spec.Name}': ${dockerMessage(error)}`);
  }
}
