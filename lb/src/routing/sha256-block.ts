/**
 * SHA-256 (FIPS 180-4) of one short message, in place: the digest of the shortest big-endian
 * bytes of a safe integer, the one hash the default ring computes per request.
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
/** The message schedule and the digest, reused: one block at a time, on one thread. */
const W = new Int32Array(64);
const H = new Int32Array(8);
/** All 64 rounds: the whole digest. */
const ROUNDS = 64;
/**
 * The digest's last word is IV[7] plus the `h` of the last round, which is the `e` of round 60:
 * a ring of 2^k slots (k <= 20, the default 512 among them) needs only those low bits, so only
 * rounds 0-60.
 */
const ROUNDS_FOR_LAST_WORD = 61;

/** The digest of `value`'s shortest big-endian bytes (1 to 7 of them: value is a safe integer >= 0), mod `slots` (<= 2^20). */
export function sha256OfSafeIntegerMod(value: number, slots: number): number {
  writeBlock(value);
  if ((slots & (slots - 1)) === 0) return ((INITIAL[7]! + compress(ROUNDS_FOR_LAST_WORD)) >>> 0) & (slots - 1);
  compress(ROUNDS);
  // Horner's rule over the digest's eight 32-bit words: exact with plain numbers, since
  // mod * 2^32 + word < 2^20 * 2^32 = 2^52 when slots <= 2^20.
  let mod = 0;
  for (let word = 0; word < 8; word++) mod = (mod * 4294967296 + (H[word]! >>> 0)) % slots;
  return mod;
}

/** The one padded block of `value`'s bytes: at most 7 of them (value < 2^53), so in W[0] and W[1]. */
function writeBlock(value: number): void {
  const low = value % 4294967296;
  const high = (value - low) / 4294967296; // below 2^21: at most 3 bytes
  let length: number;
  if (high === 0) {
    length = low < 0x100 ? 1 : low < 0x10000 ? 2 : low < 0x1000000 ? 3 : 4;
    const shift = 8 * (4 - length);
    // Left-aligned bytes, then the padding's 1 bit (in the next word when the first is full).
    W[0] = shift === 0 ? low | 0 : (low << shift) | (0x80 << (shift - 8));
    W[1] = shift === 0 ? 0x80000000 | 0 : 0;
  } else {
    const highBytes = high < 0x100 ? 1 : high < 0x10000 ? 2 : 3;
    length = 4 + highBytes;
    const shift = 8 * (4 - highBytes);
    W[0] = (high << shift) | (low >>> (8 * highBytes));
    W[1] = (low << shift) | (0x80 << (24 - 8 * highBytes));
  }
  W.fill(0, 2, 15);
  W[15] = length * 8; // the message's length in bits
}

/** Runs the first `rounds` rounds over the block in W, leaves H = IV + the state, and returns the last `e`. */
function compress(rounds: number): number {
  for (let t = 16; t < rounds; t++) {
    const w15 = W[t - 15]!;
    const w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
  }
  let a = INITIAL[0]!;
  let b = INITIAL[1]!;
  let c = INITIAL[2]!;
  let d = INITIAL[3]!;
  let e = INITIAL[4]!;
  let f = INITIAL[5]!;
  let g = INITIAL[6]!;
  let h = INITIAL[7]!;
  for (let t = 0; t < rounds; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (INITIAL[0]! + a) | 0;
  H[1] = (INITIAL[1]! + b) | 0;
  H[2] = (INITIAL[2]! + c) | 0;
  H[3] = (INITIAL[3]! + d) | 0;
  H[4] = (INITIAL[4]! + e) | 0;
  H[5] = (INITIAL[5]! + f) | 0;
  H[6] = (INITIAL[6]! + g) | 0;
  H[7] = (INITIAL[7]! + h) | 0;
  return e;
}
