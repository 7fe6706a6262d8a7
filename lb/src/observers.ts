import type { Logger } from 'pino';
import { AccessLogSink } from './access-log/sink.js';
import { type Config, otlpTracesUrl } from './config.js';
import type { ForwardingMetrics } from './metrics.js';
import type { Observers, RequestLog, RequestTracer } from './proxy/observation.js';
import type { Tracing } from './tracing/otel.js';

/** A failing access log is said once a minute at most (a full disk fails every write). */
const ERROR_REPORT_INTERVAL_MS = 60_000;

/** A data plane's access log (ACCESS_LOG) and tracer (OTEL_*), and their lifecycle. */
export interface DataPlaneObservers {
  readonly observers: Observers;
  /** Loads the tracing SDK when tracing is on. */
  start(): Promise<void>;
  /** SIGHUP: the access log's file is opened again by its name. */
  reopen(): void;
  /**
   * A reload changed ACCESS_LOG or the sampler: the new log is opened (if it cannot be, the old one
   * stays, and the error is logged), the old one flushed and closed; spans are sampled anew.
   */
  reconfigured(changed: ReadonlySet<string>): void;
  /** Flushes and closes both (after the data plane closed). */
  close(): Promise<void>;
}

export function dataPlaneObservers(
  config: Config,
  log: Logger,
  metrics: ForwardingMetrics,
  serviceName: string,
): DataPlaneObservers {
  let sink = config.accessLog === undefined ? undefined : openAccessLog(config.accessLog, log, metrics);
  const observers: { requestLog: RequestLog | undefined; tracer: RequestTracer | undefined } = {
    requestLog: sink,
    tracer: undefined,
  };
  let tracing: Tracing | undefined;
  return {
    observers,
    async start() {
      if (!config.tracing) return;
      const { startTracing } = await import('./tracing/otel.js');
      tracing = startTracing(config.tracing, serviceName, otlpTracesUrl(config));
      observers.tracer = tracing;
    },
    reopen() {
      sink?.reopen();
    },
    reconfigured(changed) {
      if (changed.has('otelTracesSampler') || changed.has('otelTracesSamplerArg')) {
        if (config.tracing) tracing?.resample(config.tracing);
      }
      if (!changed.has('accessLog')) return;
      const old = sink;
      try {
        sink = config.accessLog === undefined ? undefined : openAccessLog(config.accessLog, log, metrics);
      } catch (error) {
        log.error({ err: (error as Error).message }, 'access log not switched: the old one stays in use');
        return;
      }
      observers.requestLog = sink;
      void old?.close();
    },
    async close() {
      observers.tracer = undefined;
      await Promise.all([tracing?.shutdown(), sink?.close()]);
    },
  };
}

function openAccessLog(target: NonNullable<Config['accessLog']>, log: Logger, metrics: ForwardingMetrics) {
  let reportedAt = Number.NEGATIVE_INFINITY;
  try {
    return new AccessLogSink(target, {
      error(error) {
        metrics.accessLogErrors.inc();
        if (Date.now() - reportedAt < ERROR_REPORT_INTERVAL_MS) return;
        reportedAt = Date.now();
        log.error(
          { err: error.message },
          'access log: write or reopen failed; forwarding goes on, lines wait (16 MiB)',
        );
      },
      dropped: (lines) => metrics.accessLogDropped.inc(lines),
    });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new Error(`ACCESS_LOG: cannot open ${target === 'stdout' ? 'stdout' : target.path} for appending: ${reason}`);
  }
}
