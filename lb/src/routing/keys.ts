import { hash } from 'node:crypto';
import { bigEndianBytes, type RequestKey } from './hash.js';

const DIGITS = /^\d+$/;

/** The value of a string of decimal digits: a plain number while safe, a bigint past 2^53. */
export function integerIdOf(digits: string): RequestKey {
  if (digits.length <= 15) return Number(digits);
  const big = BigInt(digits);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/**
 * The routing id of a key (SPEC "Routing keys"): a key of decimal digits only is its integer value,
 * so integer ids route exactly as X-Request-Id ids do, for every hash function; any other key is the
 * first 6 bytes of SHA-256 of its UTF-8 bytes, read as a big-endian unsigned integer (48 bits: a
 * plain number). The same key has the same id everywhere, always.
 */
export function routingIdOf(key: string): RequestKey {
  if (DIGITS.test(key)) return integerIdOf(key);
  return Number.parseInt(hash('sha256', key, 'hex').slice(0, 12), 16);
}

const TWO_TO_32 = 2 ** 32;

/**
 * Slow start's frac(key) (SPEC "Slow start"): the first 4 bytes of SHA-256 of the routing id (its
 * shortest big-endian byte string, as the `sha256` hash writes it), read as an unsigned integer,
 * over 2^32. A key goes to a warming replica once the elapsed share of the window passes it.
 */
export function slowStartFraction(key: RequestKey): number {
  const digest = hash('sha256', bigEndianBytes(BigInt(key)), 'binary');
  const top = ((digest.charCodeAt(0) * 256 + digest.charCodeAt(1)) * 256 + digest.charCodeAt(2)) * 256;
  return (top + digest.charCodeAt(3)) / TWO_TO_32;
}
