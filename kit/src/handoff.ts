// Key hand-off for a replica of the load balancer (Node): what the LB's notifications say, where a
// key lies in the key space, and a handler that sends the keys a replica loses to their new owner.
import pLimit from 'p-limit';
import { hashFunctionByName, type RequestKey, routingIdOf, sha256 } from '../../lb/src/routing/index.js';

/** Consecutive positions of the key space; `from` > `to` wraps past the last one. */
export interface PositionRange {
  readonly from: number;
  readonly to: number;
}

/** How keys map to positions: the ring's slots (by its hash function) or Maglev's entries. */
export interface Keyspace {
  readonly kind: 'ring' | 'maglev';
  readonly positions: number;
  readonly hashFunction: string;
}

/** What the LB POSTs to HANDOFF_PATH on a replica that gains or loses part of the key space. */
export interface HandoffNotice {
  readonly version: number;
  /** `prepare`: before the switch (answer 2xx when the keys are handed over); `commit`: after it. */
  readonly phase: 'prepare' | 'commit';
  readonly keyspace: Keyspace;
  readonly gained: readonly PositionRange[];
  readonly lost: readonly { readonly ranges: readonly PositionRange[]; readonly to: string; readonly url: string }[];
}

/** The position of `key` (a routing key as the LB reads it: digits are their value, else hashed). */
export function positionOf(key: string, keyspace: Keyspace): number {
  const id: RequestKey = routingIdOf(key);
  const hash = keyspace.kind === 'ring' ? hashFunctionByName(keyspace.hashFunction) : sha256;
  return hash.requestSlot(id, keyspace.positions);
}

export function inRanges(position: number, ranges: readonly PositionRange[]): boolean {
  return ranges.some((r) =>
    r.from <= r.to ? position >= r.from && position <= r.to : position >= r.from || position <= r.to,
  );
}

/** The keys of `keys` that `notice` moves away from this replica, by the replica that gets them. */
export function movingKeys(keys: Iterable<string>, notice: HandoffNotice): Map<{ to: string; url: string }, string[]> {
  const moving = new Map<{ to: string; url: string }, string[]>();
  const targets = notice.lost.map((lost) => ({ lost, target: { to: lost.to, url: lost.url } }));
  for (const key of keys) {
    const at = positionOf(key, notice.keyspace);
    const found = targets.find(({ lost }) => inRanges(at, lost.ranges));
    if (found) moving.set(found.target, [...(moving.get(found.target) ?? []), key]);
  }
  return moving;
}

/** Keys a replica sends its new owner at once during a prepare. */
const SENDS_AT_ONCE = 32;

/**
 * A hand-off handler for a key-value replica: on `prepare`, each key it is about to lose is sent
 * to its new owner (`send`, replica to replica) before it answers; on `commit`, the keys it lost
 * are dropped. The LB never trusts a replica's claim: it switches routing by its own table.
 */
export function handoffHandler(store: {
  keys(): Iterable<string>;
  send(url: string, key: string): Promise<void>;
  drop(key: string): void;
}) {
  return async (notice: HandoffNotice): Promise<{ handedOver: number }> => {
    let handedOver = 0;
    for (const [target, keys] of movingKeys(store.keys(), notice)) {
      if (notice.phase === 'prepare') {
        // A few at a time: thousands of keys sent at once opened a connection each, and on a busy
        // machine outlasted the LB's HANDOFF_TIMEOUT_MS (routing switched before they arrived).
        const limit = pLimit(SENDS_AT_ONCE);
        await Promise.all(keys.map((key) => limit(() => store.send(target.url, key))));
        handedOver += keys.length;
      } else for (const key of keys) store.drop(key);
    }
    return { handedOver };
  };
}

/** Who owns each of `keys` now, by the LB's own rule (POST /membership/owners, at most 10,000 a call). */
export async function ownerOf(lbUrl: string, keys: readonly string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (let from = 0; from < keys.length; from += 10_000) {
    const res = await fetch(`${lbUrl.replace(/\/+$/, '')}/membership/owners`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: keys.slice(from, from + 10_000) }),
    });
    const body = (await res.json()) as { message: { key: string; replica: string }[] | string };
    if (!res.ok || typeof body.message === 'string')
      throw new Error(`the LB answered ${res.status}: ${String(body.message)}`);
    for (const { key, replica } of body.message) owners.set(key, replica);
  }
  return owners;
}
