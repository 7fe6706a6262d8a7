/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016; HAProxy
 * `hash-balance-factor`, Envoy `hash_balance_factor`): no replica takes more than
 * ceil(factor x average) in-flight requests, counting the new one.
 */
export function loadBound(factor: number, totalInFlight: number, replicas: number): number {
  return Math.ceil((factor * (totalInFlight + 1)) / replicas);
}

/**
 * The first candidate (in hash order: owner, then clockwise) whose load stays within
 * the bound. One always exists, since the loads sum to less than replicas x bound.
 */
export function boundedChoice<T extends { readonly name: string }>(
  candidates: readonly T[],
  inFlight: (name: string) => number,
  bound: number,
): T | undefined {
  return candidates.find((c) => inFlight(c.name) + 1 <= bound) ?? candidates[0];
}
