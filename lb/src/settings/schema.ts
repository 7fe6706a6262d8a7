import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { Type } from '@sinclair/typebox';
import {
  HASH_FUNCTION_NAMES,
  isPrime,
  type KeySource,
  keySourceText,
  MAX_SLOTS,
  parseKeySources,
} from '../routing/index.js';
import {
  custom,
  type Earlier,
  integer,
  listItems,
  listSchema,
  mustBe,
  oneOf,
  Refusal,
  ratio,
  type Setting,
  type StartContext,
  text,
} from './kinds.js';

export const DEFAULT_SLOTS = 512;
/** K defaults to log2(SLOTS). */
export const defaultVirtualServers = (slots: number): number => Math.max(1, Math.floor(Math.log2(slots)));
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOUR_MS = 3_600_000;

const slotsOf = (earlier: Earlier) => earlier.slots as number;
const capacityOf = (earlier: Earlier) => Math.floor(slotsOf(earlier) / (earlier.k as number));

/** `K=V` pairs: from `K=V,K2=V2` text, a YAML list of `K=V`, or a YAML map. */
function replicaEnv(value: unknown): string[] {
  if (typeof value === 'string' && value.trim() === '') return [];
  const pairs =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? Object.entries(value).map(([name, v]) => `${name}=${String(v ?? '')}`)
      : listItems(value);
  for (const pair of pairs) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(pair))
      throw new Refusal(` must be K=V pairs separated by commas (got '${pair}')`);
  }
  return pairs;
}

/** `200-399`, `200,204`, `200-299,404` (or a YAML list of statuses and ranges): statuses 100..599. */
function healthStatus(value: unknown): [number, number][] {
  const shown = typeof value === 'string' ? value : listItems(value).join(',');
  return listItems(value).map((item) => {
    const match = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(item);
    const from = Number(match?.[1]);
    const to = Number(match?.[2] ?? match?.[1]);
    if (!match || from < 100 || to > 599 || from > to) {
      throw mustBe('statuses or ranges of 100..599, e.g. 200-399 or 200,204', shown);
    }
    return [from, to];
  });
}

/** A command line split into words, no shell: '...' and "..." group; nothing else is special. */
export function splitCommand(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (const ch of line) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) return undefined;
  if (inWord) words.push(word);
  return words.length > 0 ? words : undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A command line (text, or a YAML list of words) whose program can be run. */
function replicaCommand(value: unknown, _earlier: Earlier, start: StartContext): string[] | undefined {
  if (value === undefined) return undefined;
  const words = typeof value === 'string' ? splitCommand(value) : (value as string[]);
  if (!words || words.length === 0) throw new Refusal(` must be a command line (unbalanced quotes in '${value}')`);
  const program = words[0]!;
  const found = program.includes('/')
    ? isExecutable(isAbsolute(program) ? program : join(process.cwd(), program))
    : (start.path ?? '').split(delimiter).some((dir) => dir && isExecutable(join(dir, program)));
  if (!found) throw new Refusal(`: '${program}' is not an executable program (looked in PATH)`);
  return words;
}

function hashKey(value: unknown): KeySource[] {
  const sources = parseKeySources(listItems(value).join(','));
  if (typeof sources === 'string') throw new Refusal(`: ${sources}`);
  return sources;
}

function otlpEndpoint(env: string, doc: string): Setting<string | undefined> {
  return custom<string | undefined>(env, {
    group: 'Traces',
    doc,
    schema: Type.String(),
    expects: 'an http(s) URL, e.g. http://collector:4318',
    fallback: undefined,
    defaultDoc: 'unset (no tracing)',
    parse(value) {
      if (value === undefined) return undefined;
      const url = value as string;
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
        throw mustBe('an http(s) URL, e.g. http://collector:4318', url);
      return url;
    },
    show: (value) => value ?? null,
  });
}

/** Whether the OTEL_* sampler settings are read: tracing is on (an endpoint set, the SDK not disabled). */
export const tracingOn = (earlier: Earlier): boolean =>
  (earlier.otelExporterOtlpEndpoint !== undefined || earlier.otelExporterOtlpTracesEndpoint !== undefined) &&
  earlier.otelSdkDisabled !== true;

/**
 * Every setting of the LB, in the order they are checked (a range may depend on one above it) and
 * shown. The key is the setting's name in a file and in GET /config: its environment variable in
 * lower camel case.
 */
export const SETTINGS = {
  // ---- Listening and roles
  port: integer('PORT', { group: 'Listening', doc: 'listen port', min: 0, max: 65535, fallback: 5000 }),
  host: text('HOST', {
    group: 'Listening',
    doc: 'listen address',
    pattern: /^[\w.:-]+$/,
    what: 'a host name or IP address',
    fallback: (start) => (start.driver === 'docker' ? '0.0.0.0' : '127.0.0.1'),
    defaultDoc: '`127.0.0.1` from a checkout, `0.0.0.0` in the image',
  }),
  lbRole: oneOf('LB_ROLE', ['all', 'data-plane'], {
    group: 'Listening',
    doc: '`all` (controller and data plane) or `data-plane` (forwards only, follows `CONTROLLER_URL`)',
    fallback: 'all',
  }),
  controllerUrl: text('CONTROLLER_URL', {
    group: 'Listening',
    doc: "a data plane's controller: `http://host:port` (any LB's port) or `unix:/path`",
    pattern: /^(https?:\/\/[\w.:[\]-]+\/?|unix:[@/][\w./@-]+)$/,
    what: 'http://host:port or unix:/path',
    fallback: undefined,
  }),
  lbWorkers: integer('LB_WORKERS', {
    group: 'Listening',
    doc: 'data-plane processes sharing the port; this process is then the controller only',
    min: 1,
    max: 64,
    fallback: 1,
  }),
  adminRelayTimeoutMs: integer('ADMIN_RELAY_TIMEOUT_MS', {
    group: 'Listening',
    doc: 'a data plane waits this long for the controller to answer an admin call it relays (then 503)',
    min: 100,
    max: HOUR_MS,
    fallback: 60_000,
    runtime: true,
  }),
  adminToken: text('ADMIN_TOKEN', {
    group: 'Listening',
    doc: 'when set, admin calls need `Authorization: Bearer <token>` (else 401); set but blank stops the LB',
    pattern: /\S/,
    what: 'a token',
    fallback: undefined,
    secret: true,
  }),

  // ---- The ring
  hashFunction: oneOf('HASH_FUNCTION', HASH_FUNCTION_NAMES, {
    group: 'Ring',
    doc: '`given`, `modified` or `sha256`',
    fallback: 'sha256',
  }),
  routing: oneOf('ROUTING', ['ring', 'maglev'], {
    group: 'Ring',
    doc: '`ring` (the SPEC ring) or `maglev`',
    fallback: 'ring',
  }),
  slots: integer('SLOTS', { group: 'Ring', doc: 'ring size', min: 2, max: MAX_SLOTS, fallback: DEFAULT_SLOTS }),
  k: integer('K', {
    group: 'Ring',
    doc: 'virtual servers per replica',
    min: 1,
    max: MAX_SLOTS,
    maxOf: slotsOf,
    fallback: (earlier) => defaultVirtualServers(slotsOf(earlier)),
    defaultDoc: 'floor(log2(SLOTS))',
  }),
  maglevTableSize: integer('MAGLEV_TABLE_SIZE', {
    group: 'Ring',
    doc: 'Maglev table size, a prime',
    min: 2,
    max: 10_000_019,
    fallback: DEFAULT_MAGLEV_TABLE_SIZE,
    check: (value) => {
      if (!isPrime(value)) throw mustBe('a prime number', String(value));
    },
  }),
  maxReplicas: integer('MAX_REPLICAS', {
    group: 'Ring',
    doc: 'replica cap (weights count)',
    min: 1,
    max: MAX_SLOTS,
    maxOf: capacityOf,
    fallback: capacityOf,
    defaultDoc: 'floor(SLOTS / K)',
  }),
  n: integer('N', {
    group: 'Ring',
    doc: 'initial replica count (or list them: `replicas` in a file)',
    min: 0,
    max: MAX_SLOTS,
    maxOf: (earlier) => earlier.maxReplicas as number,
    fallback: 3,
  }),

  // ---- Replicas
  replicaDriver: oneOf('REPLICA_DRIVER', ['process', 'docker', 'swarm'], {
    group: 'Replicas',
    doc: 'where replicas run: `process`, `docker` or `swarm`',
    fallback: (start) => start.driver,
    defaultDoc: '`process` from a checkout, `docker` in the image',
  }),
  network: text('NETWORK', {
    group: 'Replicas',
    doc: 'Docker network of the replicas',
    pattern: DOCKER_NAME,
    what: 'a Docker network name ([A-Za-z0-9][A-Za-z0-9_.-]*)',
    fallback: 'net1',
  }),
  serverImage: text('SERVER_IMAGE', {
    group: 'Replicas',
    doc: 'replica image',
    pattern: /^[\w][\w.\-/:@]{0,254}$/,
    what: 'a Docker image reference',
    fallback: 'lb-server',
  }),
  lbId: text('LB_ID', {
    group: 'Replicas',
    doc: 'written on every replica container; two LBs on one engine keep apart',
    pattern: DOCKER_NAME,
    what: 'a name of [A-Za-z0-9][A-Za-z0-9_.-]*',
    fallback: 'lb',
  }),
  containerPrefix: text('CONTAINER_PREFIX', {
    group: 'Replicas',
    doc: 'prefix of replica container names (the DNS alias stays the bare name)',
    pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/,
    what: 'empty or up to 31 of [A-Za-z0-9_.-]',
    fallback: '',
    defaultDoc: 'empty',
  }),
  replicaPort: integer('REPLICA_PORT', {
    group: 'Replicas',
    doc: 'Docker and swarm: the port replicas listen on inside their containers',
    min: 1,
    max: 65535,
    fallback: 5000,
  }),
  replicaEnv: custom<string[]>('REPLICA_ENV', {
    group: 'Replicas',
    doc: 'Docker and swarm: more replica environment, `K=V,K2=V2` (in a file also a list or a map)',
    schema: Type.Union([
      Type.String(),
      Type.Array(Type.String()),
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    ]),
    expects: 'K=V pairs separated by commas',
    fallback: '',
    defaultDoc: '(none)',
    parse: replicaEnv,
    show: (value) => value,
  }),
  replicaCommand: custom<string[] | undefined>('REPLICA_COMMAND', {
    group: 'Replicas',
    doc: "process driver: the replica's command line, `{port}` and `{name}` replaced (in a file also a list of words)",
    schema: listSchema(),
    expects: 'a command line',
    fallback: undefined,
    defaultDoc: "this project's server",
    parse: replicaCommand,
    show: (value) => value ?? null,
  }),
  replicaProtocol: oneOf('REPLICA_PROTOCOL', ['http1', 'h2c'], {
    group: 'Replicas',
    doc: 'how the LB speaks to replicas: `http1`, or `h2c` (HTTP/2 cleartext, gRPC); told to the replicas it starts; with `h2c` and no `HEALTH_PATH`, heartbeats are `grpc.health.v1.Health/Check`',
    fallback: 'http1',
  }),
  startTimeoutMs: integer('START_TIMEOUT_MS', {
    group: 'Replicas',
    doc: 'a new replica must answer its heartbeat within this',
    min: 100,
    max: 600_000,
    fallback: 20_000,
    runtime: true,
  }),
  stopTimeoutMs: integer('STOP_TIMEOUT_MS', {
    group: 'Replicas',
    doc: 'grace between SIGTERM and kill when removing a replica',
    min: 0,
    max: 600_000,
    fallback: 5000,
    runtime: true,
  }),

  // ---- Health
  heartbeatIntervalMs: integer('HEARTBEAT_INTERVAL_MS', {
    group: 'Health',
    doc: 'time between heartbeat rounds',
    min: 10,
    max: HOUR_MS,
    fallback: 1000,
    runtime: true,
  }),
  heartbeatTimeoutMs: integer('HEARTBEAT_TIMEOUT_MS', {
    group: 'Health',
    doc: 'a heartbeat slower than this fails',
    min: 1,
    max: 600_000,
    fallback: 500,
    runtime: true,
  }),
  maxFailCount: integer('MAX_FAIL_COUNT', {
    group: 'Health',
    doc: 'failures in a row that flatline a replica',
    min: 1,
    max: 1000,
    fallback: 3,
    runtime: true,
  }),
  healthPath: text('HEALTH_PATH', {
    group: 'Health',
    doc: 'the path heartbeats GET',
    pattern: /^\/[\x21-\x7e]{0,1023}$/,
    what: 'a path starting with /',
    fallback: '/heartbeat',
    runtime: true,
  }),
  healthStatus: custom<[number, number][]>('HEALTH_STATUS', {
    group: 'Health',
    doc: 'the statuses that count as alive: `200`, `200,204`, `200-299,404`',
    schema: listSchema(Type.Union([Type.Integer(), Type.String()])),
    expects: 'statuses or ranges of 100..599, e.g. 200-399 or 200,204',
    fallback: '200-399',
    runtime: true,
    parse: healthStatus,
    show: (ranges) => ranges.map(([from, to]) => (from === to ? String(from) : `${from}-${to}`)).join(','),
  }),
  outlierConsecutive5xx: integer('OUTLIER_CONSECUTIVE_5XX', {
    group: 'Health',
    doc: '5xx answers (or failed attempts) in a row that eject a replica from routing choices; 0 = off',
    min: 0,
    max: 10_000,
    fallback: 5,
    runtime: true,
  }),
  outlierEjectionMs: integer('OUTLIER_EJECTION_MS', {
    group: 'Health',
    doc: "first ejection's length (the n-th lasts n times as long)",
    min: 1,
    max: HOUR_MS,
    fallback: 10_000,
    runtime: true,
  }),
  outlierMaxEjectedPercent: integer('OUTLIER_MAX_EJECTED_PERCENT', {
    group: 'Health',
    doc: 'most replicas ejected at once (at least one may be)',
    min: 0,
    max: 100,
    fallback: 50,
    runtime: true,
  }),

  // ---- Forwarding
  hashKey: custom<KeySource[]>('HASH_KEY', {
    group: 'Forwarding',
    doc: "where a request's routing key comes from, in order (see [Routing keys](forwarding.md#routing-keys))",
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
    fromEnv: (value) => (/^\d+(\.\d+)?$/.test(value) ? Number(value) : value),
    parse: (value) => value as number,
    show: (value) => value,
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** Every setting's value, as the code takes it, by its name. */
export type Settings = { -readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The settings that can change while the LB runs. */
export const RUNTIME_NAMES = SETTING_NAMES.filter((name) => SETTINGS[name].runtime);
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** `UPSTREAM_TIMEOUT_MS` -> `upstreamTimeoutMs`: a setting's name in a file. */
export function fileNameOf(env: string): string {
  const [first = '', ...rest] = env.toLowerCase().split('_');
  return first + rest.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
}

export function settingOf(name: SettingName): Setting<unknown> {
  return SETTINGS[name] as Setting<unknown>;
}
