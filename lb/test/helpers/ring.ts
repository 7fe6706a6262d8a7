import { createHash } from 'node:crypto';
import type { HashFunction } from '../../src/routing/index.js';

export interface Member {
  readonly index: number;
  readonly name: string;
}

export function member(index: number): Member {
  return { index, name: `Server-${index}` };
}

export function members(n: number): Member[] {
  return Array.from({ length: n }, (_, k) => member(k + 1));
}

/** A test hash that puts request id x at slot x and virtual server (i, j) at 10i + j. */
export const identityHash: HashFunction = {
  name: 'identity',
  requestSlot: (id, slots) => Number(BigInt(id) % BigInt(slots)),
  virtualSlot: (i, j, slots) => (10 * i + j) % slots,
};

/**
 * A slow, independent reading of the contract: place virtual servers one by one
 * with linear probing, then walk clockwise from the request's slot.
 */
export function referenceLookup(
  hash: HashFunction,
  slots: number,
  k: number,
  indices: readonly number[],
  id: number | bigint,
): number | undefined {
  const owners: (number | undefined)[] = new Array(slots).fill(undefined);
  for (const i of [...indices].sort((a, b) => a - b)) {
    for (let j = 1; j <= k; j++) {
      let slot = hash.virtualSlot(i, j, slots);
      while (owners[slot] !== undefined) slot = (slot + 1) % slots;
      owners[slot] = i;
    }
  }
  const start = hash.requestSlot(id, slots);
  for (let t = 0; t < slots; t++) {
    const owner = owners[(start + t) % slots];
    if (owner !== undefined) return owner;
  }
  return undefined;
}

/** The SPEC rule for a routing key, written out apart from the LB's code: digits are their value, else 6 bytes of SHA-256. */
export function modelRoutingId(key: string): bigint {
  if (/^\d+$/.test(key)) return BigInt(key);
  return BigInt(`0x${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 12)}`);
}

/** SHA-256 of a value's shortest big-endian bytes, read as an unsigned integer (SPEC "Hash functions"). */
function sha256Value(value: bigint): bigint {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return BigInt(`0x${createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex')}`);
}

/** The SPEC's `sha256` hash, written out from its table (H and Phi of `given`, then SHA-256). */
export const modelSha256: HashFunction = {
  name: 'sha256',
  requestSlot: (id, slots) => {
    const i = BigInt(id);
    return Number(sha256Value(i * i + 2n * i + 17n) % BigInt(slots));
  },
  virtualSlot: (i, j, slots) => {
    const [a, b] = [BigInt(i), BigInt(j)];
    return Number(sha256Value(a * a + b * b + 2n * b + 25n) % BigInt(slots));
  },
};

/** The replica that owns `key` on the contract's default ring (sha256, 512 slots, K = 9), by the model alone. */
export function modelOwner(replicas: readonly Member[], key: string, slots = 512, k = 9): string {
  const index = referenceLookup(
    modelSha256,
    slots,
    k,
    replicas.map((r) => r.index),
    modelRoutingId(key),
  );
  return replicas.find((r) => r.index === index)!.name;
}
