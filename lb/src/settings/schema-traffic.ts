import { Type } from '@sinclair/typebox';
import { type KeySource, keySourceText } from '../routing/index.js';
import { TRACES_SAMPLERS } from './defaults.js';
import { custom, integer, listSchema, numberFromEnv, oneOf, ratio, text } from './kinds.js';
import { hashKey, otlpEndpoint, tracingOn } from './values.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const HOUR_MS = 3_600_000;

/** How requests are forwarded, HTTP/2 and TLS, logs and traces (settings/schema.ts puts all in order). */
export const TRAFFIC_SETTINGS = {
  // ---- Forwarding
  hashKey: custom<KeySource[]>('HASH_KEY', {
    group: 'Forwarding',
    doc: "where a request's routing key comes from, in order (see [Routing keys](forwarding.md#routing-keys-in-detail))",
    schema: listSchema(),
    expects: 'a list of key sources',
    fallback: 'request-id',
    runtime: true,
    parse: hashKey,
    show: (sources) => sources.map(keySourceText),
  }),
  hashBalanceFactor: ratio('HASH_BALANCE_FACTOR', {
    group: 'Forwarding',
    doc: 'bounded loads, e.g. `1.25`',
    above: 1,
    max: 100,
    what: 'a number above 1 and at most 100, e.g. 1.25',
    defaultDoc: 'unset (off)',
    runtime: true,
  }),
  upstream404: oneOf('UPSTREAM_404', ['contract', 'pass'], {
    group: 'Forwarding',
    doc: "`contract`: a replica's 404 becomes the contract's 400; `pass`: relayed as it is",
    fallback: 'contract',
    runtime: true,
  }),
  upstreamTimeoutMs: integer('UPSTREAM_TIMEOUT_MS', {
    group: 'Forwarding',
    doc: 'a replica slower than this to answer fails (GET/HEAD fail over); waiting for a free connection counts',
    min: 1,
    max: HOUR_MS,
    fallback: 10_000,
    runtime: true,
  }),
  upstreamMaxConnections: integer('UPSTREAM_MAX_CONNECTIONS', {
    group: 'Forwarding',
    doc: 'connections to one replica at once; more requests wait (until their deadline: then 503)',
    min: 1,
    max: 65_536,
    fallback: 256,
  }),
  requestTimeoutMs: integer('REQUEST_TIMEOUT_MS', {
    group: 'Forwarding',
    doc: 'a client must send its whole request, head and body, within this (408); and finish a TLS handshake',
    min: 100,
    max: 600_000,
    fallback: 30_000,
    runtime: true,
  }),
  shutdownGraceMs: integer('SHUTDOWN_GRACE_MS', {
    group: 'Forwarding',
    doc: 'after SIGTERM, how long a connection with nothing in flight stays open for a request already on its way',
    min: 0,
    max: 60_000,
    fallback: 1000,
    runtime: true,
  }),
  drainTimeoutMs: integer('DRAIN_TIMEOUT_MS', {
    group: 'Forwarding',
    doc: '`/rm` and SIGTERM give the requests in flight this long before stopping',
    min: 0,
    max: HOUR_MS,
    fallback: 30_000,
    runtime: true,
  }),
  slowStartMs: integer('SLOW_START_MS', {
    group: 'Forwarding',
    doc: 'a replica that joins by `/add` takes over its keys over this long; 0 = off',
    min: 0,
    max: HOUR_MS,
    fallback: 0,
    runtime: true,
  }),
  rehomeGraceMs: integer('REHOME_GRACE_MS', {
    group: 'Forwarding',
    doc: 'after a routing change, tunnels and streams whose key moved are closed spread over this',
    min: 0,
    max: 600_000,
    fallback: 1000,
    runtime: true,
  }),
  tunnelIdleTimeoutMs: integer('TUNNEL_IDLE_TIMEOUT_MS', {
    group: 'Forwarding',
    doc: 'a tunnel with no byte either way for this long is closed (tunnels opened after a reload); 0 = off',
    min: 0,
    max: 86_400_000,
    fallback: 0,
    runtime: true,
  }),

  // ---- Key hand-off
  handoffPath: text('HANDOFF_PATH', {
    group: 'Key hand-off',
    doc: "the replicas' path for hand-off notifications: after every change, what each gains and loses (and to whom)",
    pattern: /^\/[\x21-\x7e]{0,1023}$/,
    what: 'a path starting with /',
    fallback: undefined,
    defaultDoc: 'unset (none sent)',
    runtime: true,
  }),
  handoffTimeoutMs: integer('HANDOFF_TIMEOUT_MS', {
    group: 'Key hand-off',
    doc: '`/add` and `/rm` first send `prepare` and wait this long at most for the replicas to confirm, then switch; 0 = no wait',
    min: 0,
    max: 600_000,
    fallback: 0,
    runtime: true,
  }),

  // ---- HTTP/2 and TLS
  tlsCert: text('TLS_CERT', {
    group: 'HTTP/2 and TLS',
    doc: 'PEM certificate (chain), with `TLS_KEY`: the LB port speaks TLS only, HTTP/2 or HTTP/1.1 by ALPN; SIGHUP reads both files again',
    pattern: /^[^\0]+$/,
    what: 'a file path',
    fallback: undefined,
    defaultDoc: 'unset (cleartext)',
  }),
  tlsKey: text('TLS_KEY', {
    group: 'HTTP/2 and TLS',
    doc: "the certificate's PEM key; both or neither",
    pattern: /^[^\0]+$/,
    what: 'a file path',
    fallback: undefined,
    defaultDoc: 'unset (cleartext)',
  }),
  h2MaxConcurrentStreams: integer('H2_MAX_CONCURRENT_STREAMS', {
    group: 'HTTP/2 and TLS',
    doc: 'streams one HTTP/2 client connection may have open at once',
    min: 1,
    max: 10_000,
    fallback: 100,
  }),

  // ---- Logs and traces
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, {
    group: 'Logs and traces',
    doc: "pino level of the LB's own log (requests go to `ACCESS_LOG`)",
    fallback: 'info',
    runtime: true,
  }),
  accessLog: custom<'stdout' | { readonly path: string } | undefined>('ACCESS_LOG', {
    group: 'Logs and traces',
    doc: '`off`, `stdout` or a file path: one JSON line per request (see [Access log](operations.md#access-log-traces-logs))',
    schema: Type.String({ pattern: '^[^\\u0000]+$' }),
    expects: 'off, stdout or a file path',
    fallback: 'off',
    runtime: true,
    parse: (value) => (value === 'off' ? undefined : value === 'stdout' ? 'stdout' : { path: value as string }),
    show: (value) => (value === undefined ? 'off' : value === 'stdout' ? 'stdout' : value.path),
  }),
  otelExporterOtlpEndpoint: otlpEndpoint(
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTLP/HTTP collector: a span per forwarded request (the exporter reads the other `OTEL_EXPORTER_OTLP_*` itself)',
  ),
  otelExporterOtlpTracesEndpoint: otlpEndpoint(
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    'the traces URL itself, instead of `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`',
  ),
  otelSdkDisabled: custom<boolean>('OTEL_SDK_DISABLED', {
    group: 'Traces',
    doc: '`true`: no tracing, whatever else is set',
    schema: Type.Union([Type.Boolean(), Type.String()]),
    expects: 'true or false',
    fallback: false,
    defaultDoc: 'unset',
    parse: (value) => value === true || value === 'true',
    show: (value) => value,
  }),
  otelTracesSampler: oneOf('OTEL_TRACES_SAMPLER', TRACES_SAMPLERS, {
    group: 'Traces',
    doc: "the SDK's samplers: `always_on`, `always_off`, `traceidratio`, `parentbased_*`",
    fallback: 'parentbased_always_on',
    runtime: true,
    readWhen: tracingOn,
  }),
  otelTracesSamplerArg: custom<number>('OTEL_TRACES_SAMPLER_ARG', {
    group: 'Traces',
    doc: 'the ratio of `traceidratio` samplers, 0..1',
    schema: Type.Number({ minimum: 0, maximum: 1 }),
    expects: 'a ratio from 0 to 1, e.g. 0.01',
    fallback: 1,
    runtime: true,
    readWhen: tracingOn,
    fromEnv: numberFromEnv,
    parse: (value) => value as number,
    show: (value) => value,
  }),
} as const;
