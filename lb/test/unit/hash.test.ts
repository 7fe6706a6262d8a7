import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { bigEndianBytes, given, hashFunctionByName, modified, sha256 } from '../../src/routing/index.js';
import { sha256OfSafeIntegerMod } from '../../src/routing/sha256-block.js';

describe('hash functions', () => {
  it('given: H(i) = i^2 + 2i + 17 and Phi(i, j) = i^2 + j^2 + 2j + 25, mod SLOTS', () => {
    assert.equal(given.requestSlot(0, 512), 17);
    assert.equal(given.requestSlot(100000, 512), (100000 ** 2 + 200000 + 17) % 512);
    assert.equal(given.virtualSlot(1, 1, 512), 29);
    assert.equal(given.virtualSlot(20, 9, 512), (400 + 81 + 18 + 25) % 512);
  });

  it('modified: H(i) = 1427i^2 + 2503i + 2003, Phi = 1249i^2 + 2287j^2 + 1663j + 2287', () => {
    assert.equal(modified.requestSlot(1, 512), (1427 + 2503 + 2003) % 512);
    const id = 999999n;
    assert.equal(modified.requestSlot(999999, 512), Number((1427n * id * id + 2503n * id + 2003n) % 512n));
    assert.equal(modified.virtualSlot(2, 3, 512), (1249 * 4 + 2287 * 9 + 1663 * 3 + 2287) % 512);
  });

  it('sha256: digest of the given value as shortest big-endian bytes, read big-endian', () => {
    // given H(1) = 20 = 0x14: one byte.
    const digest = createHash('sha256')
      .update(Buffer.from([0x14]))
      .digest('hex');
    assert.equal(sha256.requestSlot(1, 512), Number(BigInt(`0x${digest}`) % 512n));
    assert.equal(sha256.requestSlot(1, 1000), Number(BigInt(`0x${digest}`) % 1000n));
    // given Phi(1, 1) = 29 = 0x1d.
    const vs = createHash('sha256')
      .update(Buffer.from([0x1d]))
      .digest('hex');
    assert.equal(sha256.virtualSlot(1, 1, 512), Number(BigInt(`0x${vs}`) % 512n));
  });

  it('shortest big-endian bytes have no leading zero byte', () => {
    assert.deepEqual([...bigEndianBytes(0x14n)], [0x14]);
    assert.deepEqual([...bigEndianBytes(0x100n)], [0x01, 0x00]);
    assert.deepEqual([...bigEndianBytes(0xabcdefn)], [0xab, 0xcd, 0xef]);
  });

  it('ids beyond 2^53 are exact (bigint) and agree with the number path below it', () => {
    const big = 123456789012345678901234567890n;
    for (const fn of [given, modified, sha256]) {
      assert.equal(fn.requestSlot(12345, 512), fn.requestSlot(12345n, 512), fn.name);
    }
    const x = big;
    assert.equal(given.requestSlot(big, 512), Number((x * x + 2n * x + 17n) % 512n));
    assert.equal(modified.requestSlot(big, 509), Number((1427n * x * x + 2503n * x + 2003n) % 509n));
    const digest = createHash('sha256')
      .update(bigEndianBytes(x * x + 2n * x + 17n))
      .digest('hex');
    assert.equal(sha256.requestSlot(big, 512), Number(BigInt(`0x${digest}`) % 512n));
  });

  it('sha256: plain-number ids hash the same bytes as the bigint definition, across the 2^53 edge', () => {
    /** The contract's definition, independent of the code under test: hex digits of the bigint. */
    const reference = (id: bigint, slots: number) => {
      let hex = (id * id + 2n * id + 17n).toString(16);
      if (hex.length % 2) hex = `0${hex}`;
      const digest = createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
      return Number(BigInt(`0x${digest}`) % BigInt(slots));
    };
    const ids = [
      0,
      1,
      238,
      239,
      255,
      256,
      65535,
      100000,
      999999,
      16777215,
      94_906_263,
      94_906_264,
      94_906_265,
      94_906_266,
      2 ** 31,
      2 ** 40,
    ];
    for (let k = 0; k < 200; k++) ids.push(Math.floor(Math.random() * 1e9));
    for (const id of ids) {
      for (const slots of [512, 1009, 1 << 20])
        assert.equal(sha256.requestSlot(id, slots), reference(BigInt(id), slots), `id ${id} slots ${slots}`);
    }
  });

  it("sha256 of a safe integer in place is node:crypto's digest of its bytes, for every length of them", () => {
    const viaCrypto = (value: number, slots: number) =>
      Number(
        BigInt(
          `0x${createHash('sha256')
            .update(bigEndianBytes(BigInt(value)))
            .digest('hex')}`,
        ) % BigInt(slots),
      );
    const values = [0, 1, 0x7f, 0x80, 0xff, Number.MAX_SAFE_INTEGER, 94_906_264 ** 2];
    for (let bytes = 1; bytes <= 7; bytes++) values.push(2 ** (8 * bytes) - 1, 2 ** (8 * bytes), 2 ** (8 * bytes) + 1);
    for (let k = 0; k < 2000; k++) values.push(Math.floor(Math.random() * 2 ** (1 + (k % 53))));
    for (let k = 0; k < 500; k++) {
      const id = Math.floor(Math.random() * 94_906_265);
      values.push(id * id + 2 * id + 17);
    }
    for (const value of values.filter((v) => v <= Number.MAX_SAFE_INTEGER)) {
      for (const slots of [1, 512, 1009, 65521, 1 << 20])
        assert.equal(sha256OfSafeIntegerMod(value, slots), viaCrypto(value, slots), `value ${value} slots ${slots}`);
    }
  });

  it('is selectable by name, and an unknown name is refused', () => {
    assert.equal(hashFunctionByName('modified'), modified);
    assert.throws(() => hashFunctionByName('md5'), /unknown hash function 'md5'.*given, modified, sha256/);
    assert.throws(() => hashFunctionByName('toString'), /unknown hash function/);
  });
});
