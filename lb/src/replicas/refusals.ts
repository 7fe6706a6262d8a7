import { LbError } from '../contract/errors.js';
import type { ReplicaDriver } from './driver.js';
import { nameKey, quoteName } from './names.js';

/** Why `name` cannot be added while these are members or draining (names collide case-insensitively), if so. */
export function takenRefusal(name: string, members: Iterable<string>, draining: Iterable<string>): LbError | undefined {
  if ([...members].some((taken) => nameKey(taken) === nameKey(name))) {
    return new LbError('BAD_REQUEST', `Hostname ${quoteName(name)} already exists`);
  }
  if ([...draining].some((taken) => nameKey(taken) === nameKey(name))) {
    return new LbError(
      'BAD_REQUEST',
      `Hostname ${quoteName(name)} is still being removed (draining); try again shortly`,
    );
  }
  return undefined;
}

/** Why `n` more replicas of `weight` do not fit beside members of these `weights` (MAX_REPLICAS), if so. */
export function capacityRefusal(
  n: number,
  weight: number,
  weights: readonly number[],
  max: number,
): LbError | undefined {
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (total + n * weight <= max) return undefined;
  const size = weights.length;
  const all = weights.every((w) => w === 1) && weight === 1;
  return new LbError(
    'BAD_REQUEST',
    all
      ? `Cannot add ${n} replicas: ${size} exist and at most ${max} fit (MAX_REPLICAS)`
      : `Cannot add ${n} replicas of weight ${weight}: the weights of the ${size} that exist add up to ${total}, and at most ${max} fit (MAX_REPLICAS; a replica of weight w counts w times)`,
  );
}

/**
 * Names the driver's platform would refuse, then names it cannot use (a foreign container has
 * one): the first is thrown, before anything starts.
 */
export async function refuseOnDriver(driver: ReplicaDriver, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const problem = driver.nameProblem?.(name);
    if (problem) throw new LbError('BAD_REQUEST', `Invalid hostname ${quoteName(name)}: ${problem}`);
  }
  for (const name of names) {
    const reason = await driver.conflict(name);
    if (reason) throw new LbError('BAD_REQUEST', `Hostname ${quoteName(name)} cannot be used: ${reason}`);
  }
}
