import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

const POOL_BYTES = 4096;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * Random trace and span ids (hex) cut from a pool refilled by the CSPRNG, 4 KiB at a time (one
 * system call per ~170 requests). A left-out request's ids are slices of the pool's hex text
 * (they live as long as the request); the ids of the SDK's spans are strings of their own, as a
 * span waits up to seconds for its export and would keep the pool's text alive. The SDK's span
 * for a picked request takes the trace id the sampler was asked about, handed over just before.
 */
export class HandOverIds implements IdGenerator {
  private readonly pool = Buffer.alloc(POOL_BYTES);
  private poolHex = '';
  private at = POOL_BYTES;
  private handedOver: string | undefined;

  handOver(traceId: string | undefined): void {
    this.handedOver = traceId === undefined ? undefined : Buffer.from(traceId, 'latin1').toString('latin1');
  }

  /** The last new trace id's four 32-bit words folded by XOR (what a ratio sampler decides by). */
  newTraceIdXor = 0;

  /** A new trace id, for a request that may not be sampled (see the class). */
  newTraceId(): string {
    const at = this.take(16);
    const { pool } = this;
    const xor =
      pool.readUInt32BE(at) ^ pool.readUInt32BE(at + 4) ^ pool.readUInt32BE(at + 8) ^ pool.readUInt32BE(at + 12);
    if (xor === 0 && pool.readBigUInt64BE(at) === 0n && pool.readBigUInt64BE(at + 8) === 0n) return this.newTraceId(); // all zeros is "no trace"
    this.newTraceIdXor = xor >>> 0;
    return this.poolHex.slice(2 * at, 2 * at + 32);
  }

  /** A new span id, for a request that is not sampled (see the class). */
  newSpanId(): string {
    const id = this.slice(8);
    return id === ZERO_SPAN_ID ? this.newSpanId() : id;
  }

  /** The SDK's: the trace id handed over, or a new one. */
  generateTraceId(): string {
    if (this.handedOver !== undefined) return this.handedOver;
    const id = this.ownHex(16);
    return id === ZERO_TRACE_ID ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.ownHex(8);
    return id === ZERO_SPAN_ID ? this.generateSpanId() : id;
  }

  private slice(bytes: number): string {
    const at = this.take(bytes);
    return this.poolHex.slice(2 * at, 2 * (at + bytes));
  }

  private ownHex(bytes: number): string {
    const at = this.take(bytes);
    return this.pool.toString('hex', at, at + bytes);
  }

  /** Where the next `bytes` random bytes start, refilling the pool when it is used up. */
  private take(bytes: number): number {
    if (this.at + bytes > POOL_BYTES) {
      randomFillSync(this.pool);
      this.poolHex = this.pool.toString('hex');
      this.at = 0;
    }
    this.at += bytes;
    return this.at - bytes;
  }
}
