import { randomInt } from 'node:crypto';
import { integerIdOf, type RequestKey } from '../routing/index.js';

export interface RequestId {
  /** Decimal text sent to the replica and back to the client. */
  readonly text: string;
  /** The value the ring hashes. */
  readonly key: RequestKey;
}

/** The longest integer id: 1,024 decimal digits (longer would cost a request ~0.75 ms of hashing). */
const MAX_ID_DIGITS = 1024;

/** What counts as an integer id: 1 to 1,024 decimal digits (a loop: no regular expression run per request). */
export function isIntegerId(text: string): boolean {
  if (text.length === 0 || text.length > MAX_ID_DIGITS) return false;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

/**
 * The client's `X-Request-Id` when it is a non-negative integer (kept in canonical
 * decimal form, so "007" is id 7), otherwise a random integer in [100000, 999999].
 */
export function requestIdFrom(header: string | string[] | undefined): RequestId {
  if (typeof header === 'string' && isIntegerId(header)) {
    const key = integerIdOf(header);
    // Already canonical (no leading zero): the header is the text, no number-to-string per request.
    return { text: header[0] !== '0' || header.length === 1 ? header : String(key), key };
  }
  const key = randomInt(100000, 1000000);
  return { text: String(key), key };
}
