import { hash } from 'node:crypto';
import { sha256OfSafeIntegerMod } from './sha256-block.js';

/**
 * A request key: the request id as a plain number while it is a safe integer,
 * as a bigint beyond that (ids arrive as arbitrary-length decimal strings).
 */
export type RequestKey = number | bigint;

/** A hash-function pair: H places requests, Phi places virtual servers. */
export interface HashFunction {
  readonly name: string;
  /** H(id) mod slots. */
  requestSlot(id: RequestKey, slots: number): number;
  /** Phi(i, j) mod slots, for replica index i and virtual server j. */
  virtualSlot(i: number, j: number, slots: number): number;
}

/** The exact polynomial values as bigints, shared by `given` and `sha256`. */
export function givenRequestValue(id: RequestKey): bigint {
  const x = BigInt(id);
  return x * x + 2n * x + 17n;
}

export function givenVirtualValue(i: number, j: number): bigint {
  const bi = BigInt(i);
  const bj = BigInt(j);
  return bi * bi + bj * bj + 2n * bj + 25n;
}

/**
 * x mod m as a plain number. Reducing the id first keeps every polynomial
 * below 2^53 (m <= 2^20), so the hot path needs no bigint arithmetic.
 */
function reduce(id: RequestKey, m: number): number {
  return typeof id === 'bigint' ? Number(id % BigInt(m)) : id % m;
}

export const given: HashFunction = {
  name: 'given',
  requestSlot(id, slots) {
    const x = reduce(id, slots);
    return (((x * x) % slots) + 2 * x + 17) % slots;
  },
  virtualSlot(i, j, slots) {
    return Number(givenVirtualValue(i, j) % BigInt(slots));
  },
};

export const modified: HashFunction = {
  name: 'modified',
  requestSlot(id, slots) {
    const x = reduce(id, slots);
    return (1427 * ((x * x) % slots) + 2503 * x + 2003) % slots;
  },
  virtualSlot(i, j, slots) {
    const bi = BigInt(i);
    const bj = BigInt(j);
    const value = 1249n * bi * bi + 2287n * bj * bj + 1663n * bj + 2287n;
    return Number(value % BigInt(slots));
  },
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The largest id whose x^2 + 2x + 17 is still a safe integer. */
const MAX_PLAIN_ID = 94_906_264;

/** Shortest big-endian byte string of a positive integer. */
export function bigEndianBytes(value: bigint): Buffer {
  if (value <= MAX_SAFE) return safeBigEndianBytes(Number(value));
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** The same bytes for a safe integer, without a hex string (ids below ~9.4e7 stay on this path). */
function safeBigEndianBytes(value: number): Buffer {
  let length = 1;
  for (let rest = Math.floor(value / 256); rest > 0; rest = Math.floor(rest / 256)) length++;
  const bytes = Buffer.allocUnsafe(length);
  for (let at = length - 1, rest = value; at >= 0; at--, rest = Math.floor(rest / 256)) bytes[at] = rest % 256;
  return bytes;
}

/** SHA-256 digest of the value, read as a big-endian integer, mod `slots`. */
export function sha256Mod(value: bigint, slots: number): number {
  if (value <= MAX_SAFE) return sha256OfSafeIntegerMod(Number(value), slots);
  return digestMod(bigEndianBytes(value), slots);
}

function digestMod(bytes: Buffer, slots: number): number {
  // One-shot hash, digest as a 'binary' (latin1) string, one char a byte: no Hash object and no Buffer
  // with an off-heap backing store per request, about 3x cheaper (this runs once per forwarded request).
  const digest = hash('sha256', bytes, 'binary');
  // Horner's rule over the bytes: exact with plain numbers because slots <= 2^20.
  let rest = 0;
  for (let at = 0; at < digest.length; at++) rest = (rest * 256 + digest.charCodeAt(at)) % slots;
  return rest;
}

export const sha256: HashFunction = {
  name: 'sha256',
  requestSlot(id, slots) {
    // Ids up to ~9.5e7 (every random one) need no bigint arithmetic, and their digest no native
    // call: node:crypto's one-shot hash costs a request about 0.6 us under load (an EVP context
    // allocated and freed, a digest string), the block in place about a third of that.
    if (typeof id === 'number' && id <= MAX_PLAIN_ID) return sha256OfSafeIntegerMod(id * id + 2 * id + 17, slots);
    return sha256Mod(givenRequestValue(id), slots);
  },
  virtualSlot(i, j, slots) {
    return sha256Mod(givenVirtualValue(i, j), slots);
  },
};

/** Registry of hash functions by name; add a new one here to make it selectable. */
export const HASH_FUNCTIONS: Readonly<Record<string, HashFunction>> = Object.freeze({
  given,
  modified,
  sha256,
});

export const HASH_FUNCTION_NAMES = Object.keys(HASH_FUNCTIONS);

export function hashFunctionByName(name: string): HashFunction {
  const fn = Object.hasOwn(HASH_FUNCTIONS, name) ? HASH_FUNCTIONS[name] : undefined;
  if (!fn) throw new Error(`unknown hash function '${name}' (expected one of ${HASH_FUNCTION_NAMES.join(', ')})`);
  return fn;
}

/** Largest ring this module promises exact plain-number arithmetic for. */
export const MAX_SLOTS = 2 ** 20;
