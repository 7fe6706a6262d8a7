import * as api from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { headerValue } from '../proxy/headers.js';
import type { RequestRecord, RequestSpan, RequestTracer } from '../proxy/observation.js';

const SHUTDOWN_EXPORT_MS = 2000;

/** The data plane's tracer, and how it stops (its last spans are exported first). */
export interface Tracing extends RequestTracer {
  shutdown(): Promise<void>;
}

/**
 * Tracing with the official OpenTelemetry JS SDK: a span per forwarded request, child of the
 * client's `traceparent` (or a new trace), exported in batches by OTLP/HTTP. The SDK reads the
 * standard variables itself (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, OTEL_TRACES_SAMPLER[_ARG],
 * OTEL_SERVICE_NAME, OTEL_BSP_*). This module is imported only when tracing is on (its own chunk
 * of the bundle): the default path does not even load the SDK.
 */
export function startTracing(defaultServiceName: string): Tracing {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': process.env.OTEL_SERVICE_NAME?.trim() || defaultServiceName,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const tracer = provider.getTracer('consistent-hash-lb');
  const propagator = new W3CTraceContextPropagator();

  /** The client's trace context (W3C), or the root when it sent none. */
  const parentOf = (headers: readonly string[]) => {
    const traceparent = headerValue(headers, 'traceparent');
    if (traceparent === undefined) return api.ROOT_CONTEXT;
    const tracestate = headerValue(headers, 'tracestate');
    const carrier = tracestate === undefined ? { traceparent } : { traceparent, tracestate };
    return propagator.extract(api.ROOT_CONTEXT, carrier, api.defaultTextMapGetter);
  };

  return {
    start(record: RequestRecord, headers: readonly string[]): RequestSpan {
      const method = record.method ?? 'HTTP';
      const span = tracer.startSpan(method, { kind: api.SpanKind.SERVER }, parentOf(headers));
      // A span the sampler left out records nothing: its attributes are not even made.
      if (span.isRecording()) {
        span.setAttributes({
          'http.request.method': method,
          'url.path': record.path ?? '',
          'client.address': record.client,
        });
      }
      const context = span.spanContext();
      const flags = context.traceFlags.toString(16).padStart(2, '0');
      return {
        traceId: context.traceId,
        traceparent: `00-${context.traceId}-${context.spanId}-${flags}`,
        end(done: RequestRecord) {
          if (!span.isRecording()) {
            span.end();
            return;
          }
          span.setAttributes({
            'lb.replica': done.replica ?? '',
            'lb.key_source': done.keySource ?? '',
            'lb.routing_id': done.routingId ?? '',
            'lb.request_id': done.requestId ?? '',
            'lb.attempts': done.attempts.length,
            'lb.failovers': done.attempts.filter((a) => a.failure !== null).map((a) => `${a.replica}: ${a.failure}`),
            'lb.passed_over': done.passedOver.map((p) => `${p.replica}: ${p.reason}`),
          });
          if (done.status !== null) span.setAttribute('http.response.status_code', done.status);
          if (done.status === null || done.status >= 500) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: done.error ?? undefined });
          }
          span.end();
        },
      };
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
