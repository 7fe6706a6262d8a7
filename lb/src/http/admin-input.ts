import { LbError } from '../contract/errors.js';
import { checkNames } from '../replicas/names.js';
import { MAX_WEIGHT } from '../routing/index.js';
import type { AddBody } from './schemas.js';

/** What `/add` asks for, well formed. */
export interface AddRequest {
  readonly n: number;
  readonly hostnames: readonly string[];
  readonly weight: number;
}

/**
 * `/add`'s body (its JSON schema checked the types) as typed values, or the contract's 400 for the
 * first thing wrong with it, in the contract's order: n, the length of the names, the weight, the
 * names. What depends on membership (a name that exists, capacity) is the manager's to check.
 */
export function addRequest(body: AddBody): AddRequest {
  const { n, hostnames = [], weight = 1 } = body;
  if (n < 1) throw new LbError('BAD_REQUEST', `n must be at least 1 (got ${n})`);
  if (hostnames.length > n) throw new LbError('HOSTNAMES_OVER_ADDED');
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    throw new LbError(
      'BAD_REQUEST',
      `weight must be an integer from 1 to ${MAX_WEIGHT} (got ${JSON.stringify(weight)})`,
    );
  }
  checkNames(hostnames);
  return { n, hostnames, weight };
}
