import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as api from '@opentelemetry/api';
import { TRACES_SAMPLERS } from '../../src/config.js';
import { HandOverIds } from '../../src/tracing/ids.js';
import { samplerOf, samplingDecider, traceIdXorOf } from '../../src/tracing/sampling.js';

const RATIOS = [0, 0.01, 0.3, 0.5, 1];

describe('sampling before the SDK: the same decision as the SDK sampler for OTEL_TRACES_SAMPLER', () => {
  it("agrees with the SDK's sampler on new traces and under a client's parent, sampled or not", () => {
    const ids = new HandOverIds();
    for (const sampler of TRACES_SAMPLERS)
      for (const ratio of RATIOS) {
        const sdk = samplerOf({ sampler, ratio });
        const ours = samplingDecider({ sampler, ratio });
        let picked = 0;
        for (let k = 0; k < 4000; k++) {
          const traceId = ids.newTraceId();
          const xor = ids.newTraceIdXor;
          // null: no parent; else the parent's flags (bit 0 is "sampled"; other bits are kept by W3C).
          for (const flags of [null, 0x00, 0x01, 0x02, 0x03]) {
            const context =
              flags === null
                ? api.ROOT_CONTEXT
                : api.trace.setSpanContext(api.ROOT_CONTEXT, {
                    traceId,
                    spanId: randomBytes(8).toString('hex'),
                    traceFlags: flags,
                    isRemote: true,
                  });
            const expected =
              sdk.shouldSample(context, traceId, 'GET', api.SpanKind.SERVER, {}, []).decision ===
              api.SamplingDecision.RECORD_AND_SAMPLED;
            const parentXor = flags !== null && ours.readsParentTraceId ? traceIdXorOf(traceId) : 0;
            const got = ours.sampled(flags, flags === null ? xor : parentXor);
            assert.equal(got, expected, `${sampler} ${ratio}, trace ${traceId}, parent flags ${flags}`);
            if (flags === null && got) picked++;
          }
        }
        // The ratio is kept (a sanity check that these ids are not all one kind).
        if (sampler.endsWith('traceidratio') && ratio > 0 && ratio < 1)
          assert.ok(Math.abs(picked / 4000 - ratio) < 0.03 + ratio * 0.2, `${sampler} ${ratio}: ${picked} of 4000`);
      }
  });

  it("the id pool's trace ids are 32 hex digits, never all zeros, with their words' XOR beside them", () => {
    const ids = new HandOverIds();
    const seen = new Set<string>();
    for (let k = 0; k < 20_000; k++) {
      const id = ids.newTraceId();
      assert.match(id, /^[\da-f]{32}$/);
      assert.equal(ids.newTraceIdXor, traceIdXorOf(id));
      seen.add(id);
      assert.match(ids.newSpanId(), /^[\da-f]{16}$/);
      assert.match(ids.generateSpanId(), /^[\da-f]{16}$/);
    }
    assert.equal(seen.size, 20_000);
  });

  it('hands the trace id the sampler was asked about to the SDK, once', () => {
    const ids = new HandOverIds();
    const id = ids.newTraceId();
    ids.handOver(id);
    assert.equal(ids.generateTraceId(), id);
    ids.handOver(undefined);
    assert.notEqual(ids.generateTraceId(), id);
  });
});
