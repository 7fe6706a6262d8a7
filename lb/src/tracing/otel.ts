import * as api from '@opentelemetry/api';
import { parseTraceParent, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config.js';
import { headerValue } from '../proxy/header-list.js';
import type { RequestRecord, RequestSpan, RequestTrace, RequestTracer } from '../proxy/observation.js';
import { HandOverIds } from './ids.js';
import { samplerOf, samplingDecider, traceIdXorOf } from './sampling.js';

const SHUTDOWN_EXPORT_MS = 2000;

/** The data plane's tracer, and how it stops (its last spans are exported first). */
export interface Tracing extends RequestTracer {
  shutdown(): Promise<void>;
  /** A reload changed the sampler: new requests are sampled by it. */
  resample(config: TracingConfig): void;
}

/** The SDK's sampler, replaced when a reload changes it (the provider keeps the one it was given). */
class ReplaceableSampler implements Sampler {
  constructor(public inner: Sampler) {}

  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    return this.inner.shouldSample(...args);
  }

  toString(): string {
    return this.inner.toString();
  }
}

/**
 * Tracing with the official OpenTelemetry JS SDK: a span per sampled forwarded request, child of
 * the client's `traceparent` (or a new trace), exported in batches by OTLP/HTTP (the exporter
 * reads OTEL_EXPORTER_OTLP_*, OTEL_BSP_* itself). This module is imported only when tracing is on
 * (its own chunk of the bundle): the default path does not even load the SDK.
 *
 * Sampling is decided before the SDK is asked for a span (samplingDecider: the SDK sampler's
 * rules, without its parsing): a request left out gets new ids and the not-sampled flag, as the
 * SDK's non-recording span would carry, and costs nothing more. A picked one is started by the
 * SDK on the same trace id (handed over by the id generator), so the SDK's sampler agrees.
 */
export function startTracing(config: TracingConfig, defaultServiceName: string, url?: string): Tracing {
  const ids = new HandOverIds();
  const sampler = new ReplaceableSampler(samplerOf(config));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': process.env.OTEL_SERVICE_NAME?.trim() || defaultServiceName,
    }),
    sampler,
    idGenerator: ids,
    // The URL as the settings give it (a file may set it); the exporter reads the other OTEL_* itself.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(url === undefined ? {} : { url }))],
  });
  const tracer = provider.getTracer('consistent-hash-lb');
  const propagator = new W3CTraceContextPropagator();
  let decider = samplingDecider(config);

  /** The client's trace context, as the SDK's propagator reads it (tracestate too). */
  const contextOf = (traceparent: string, headers: readonly string[]) => {
    const tracestate = headerValue(headers, 'tracestate');
    const carrier = tracestate === undefined ? { traceparent } : { traceparent, tracestate };
    return propagator.extract(api.ROOT_CONTEXT, carrier, api.defaultTextMapGetter);
  };

  return {
    begin(method: string, path: string, client: string, headers: readonly string[]): RequestTrace {
      const traceparent = headerValue(headers, 'traceparent');
      const parent = traceparent === undefined ? null : parseTraceParent(traceparent);
      let traceId: string;
      let sampled: boolean;
      if (parent === null) {
        traceId = ids.newTraceId();
        sampled = decider.sampled(null, ids.newTraceIdXor);
      } else {
        traceId = parent.traceId;
        sampled = decider.sampled(parent.traceFlags, decider.readsParentTraceId ? traceIdXorOf(traceId) : 0);
      }
      if (!sampled) return { traceId, traceparent: `00-${traceId}-${ids.newSpanId()}-00`, span: undefined };
      // Picked: the SDK's span, in the client's context, on the same trace id (its sampler agrees).
      const context = parent === null ? api.ROOT_CONTEXT : contextOf(traceparent!, headers);
      if (parent === null) ids.handOver(traceId);
      const span = tracer.startSpan(method, { kind: api.SpanKind.SERVER }, context);
      ids.handOver(undefined);
      span.setAttributes({ 'http.request.method': method, 'url.path': path, 'client.address': client });
      const own = span.spanContext();
      const flags = own.traceFlags.toString(16).padStart(2, '0');
      return { traceId: own.traceId, traceparent: `00-${own.traceId}-${own.spanId}-${flags}`, span: requestSpan(span) };
    },
    resample(next: TracingConfig) {
      sampler.inner = samplerOf(next);
      decider = samplingDecider(next);
    },
    /**
     * Exports what is left, for SHUTDOWN_EXPORT_MS at most: a collector that is gone costs those
     * spans, never the LB's clean and prompt stop (the exporter would retry for its own timeout).
     */
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS);
      });
      await Promise.race([provider.shutdown().catch(() => undefined), bound]);
      clearTimeout(timer);
    },
  };
}

/** The request's span: what the LB knows of it once it is answered (or cut). */
function requestSpan(span: api.Span): RequestSpan {
  return {
    end(done: RequestRecord) {
      span.setAttributes({
        'lb.replica': done.replica ?? '',
        'lb.key_source': done.keySource ?? '',
        'lb.routing_id': done.routingId ?? '',
        'lb.request_id': done.requestId ?? '',
        'lb.attempts': done.attempts.length,
        'lb.failovers': done.attempts.filter((a) => a.failure !== null).map((a) => `${a.replica}: ${a.failure}`),
        'lb.passed_over': done.passedOver.map((p) => `${p.replica}: ${p.reason}`),
        'network.protocol.version': done.protocol === 'h2' ? '2' : '1.1',
        'url.scheme': done.tls ? 'https' : 'http',
      });
      if (done.status !== null) span.setAttribute('http.response.status_code', done.status);
      if (done.status === null || done.status >= 500) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: done.error ?? undefined });
      }
      span.end();
    },
  };
}
