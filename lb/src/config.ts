import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { DriverKind } from './replicas/driver.js';
import { HASH_FUNCTION_NAMES, type KeySource, MAX_SLOTS, parseKeySources } from './routing/index.js';
import { ConfigError, type Env, factor, integer, matching, oneOf, prime, raw } from './settings/env.js';
import { type TlsFiles, tlsFiles } from './settings/tls.js';

export { ConfigError } from './settings/env.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly driver: DriverKind;
  readonly n: number;
  readonly hashFunction: string;
  readonly slots: number;
  /** K: virtual servers per replica. */
  readonly virtualServers: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly maxFailCount: number;
  readonly stopTimeoutMs: number;
  readonly network: string;
  readonly serverImage: string;
  readonly maxReplicas: number;
  readonly logLevel: string;
  /** Which LB this is, written on its containers so two LBs on one engine keep apart. */
  readonly lbId: string;
  /** How long a replica may take to answer headers or stream a body. */
  readonly upstreamTimeoutMs: number;
  /** Connections the LB opens to one replica at once (HAProxy's maxconn per server). */
  readonly upstreamMaxConnections: number;
  /** How long a client may take to send a whole request (slow-body clients are cut off). */
  readonly requestTimeoutMs: number;
  /** After SIGTERM, how long a connection with no request in flight stays open for one already on its way. */
  readonly shutdownGraceMs: number;
  /** How long a new replica may take to answer its first heartbeat. */
  readonly startTimeoutMs: number;
  /** Prepended to replica container names (test runs use one to keep apart); DNS alias stays the bare name. */
  readonly containerPrefix: string;
  /** `ring` (the SPEC ring, default) or `maglev`. */
  readonly routing: 'ring' | 'maglev';
  /** Maglev lookup table size (a prime). */
  readonly maglevTableSize: number;
  /** Bounded loads: a replica over factor x average in-flight is passed over; undefined = off. */
  readonly hashBalanceFactor: number | undefined;
  /** When set, `/add` and `/rm` need `Authorization: Bearer <token>`. */
  readonly adminToken: string | undefined;
  /** Passive health: consecutive 5xx (or failed attempts) that eject a replica from routing; 0 = off. */
  readonly outlierConsecutiveErrors: number;
  readonly outlierEjectionMs: number;
  readonly outlierMaxEjectedPercent: number;
  /** `all` (controller and data plane in one process, the default) or `data-plane` (forwards only). */
  readonly role: 'all' | 'data-plane';
  /** Where a data plane follows membership and relays admin calls: `http://host:port` or `unix:/path`. */
  readonly controllerUrl: string | undefined;
  /** A data plane waits this long for the controller to answer an admin call it relays. */
  readonly adminRelayTimeoutMs: number;
  /** Data-plane processes sharing the listen port (node:cluster), fed by this process's membership. */
  readonly workers: number;
  /** HASH_KEY: where a request's routing key comes from, in order. */
  readonly hashKey: readonly KeySource[];
  /** What replicas are and how they are checked (SPEC "Your own replicas"). */
  readonly replicas: ReplicaSpec;
  /** UPSTREAM_404: `contract` turns a replica's 404 into the contract's 400; `pass` relays it. */
  readonly upstream404: 'contract' | 'pass';
  /** After a routing change, tunnels whose key moved are closed spread over this long. */
  readonly rehomeGraceMs: number;
  /** A replica that joins by /add takes over its keys over this long; 0 is off. */
  readonly slowStartMs: number;
  /** `/rm` and SIGTERM give the requests in flight this long to finish. */
  readonly drainTimeoutMs: number;
  /** A tunnel with no byte either way for this long is closed; 0 is off. */
  readonly tunnelIdleTimeoutMs: number;
  /** ACCESS_LOG: one JSON line per request and tunnel, to stdout or appended to a file; undefined is off. */
  readonly accessLog: 'stdout' | { readonly path: string } | undefined;
  /**
   * OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT set), with their sampler (OTEL_TRACES_SAMPLER,
   * its ratio OTEL_TRACES_SAMPLER_ARG, 1 by default); false is off. The exporter reads its own variables.
   */
  readonly tracing: TracingConfig | false;
  /** TLS_CERT and TLS_KEY: the LB port speaks TLS only (HTTP/1.1 or HTTP/2 by ALPN); undefined is cleartext. */
  readonly tls: TlsFiles | undefined;
  /** H2_MAX_CONCURRENT_STREAMS: streams one HTTP/2 client connection may have open at once. */
  readonly h2MaxConcurrentStreams: number;
  /** REPLICA_PROTOCOL: how the LB speaks to replicas (and what it tells those it starts). */
  readonly replicaProtocol: 'http1' | 'h2c';
  /**
   * How heartbeats ask: GET HEALTH_PATH, or (h2c replicas, HEALTH_PATH unset) the gRPC health
   * protocol's Check, SERVING counting as alive.
   */
  readonly healthCheck: 'http' | 'grpc';
}

export interface TracingConfig {
  readonly sampler: TracesSampler;
  readonly ratio: number;
}

export interface ReplicaSpec {
  /** Docker and swarm: the port the replica listens on inside its container. */
  readonly port: number;
  /** Docker and swarm: more environment variables, as `K=V`. */
  readonly env: readonly string[];
  /** Process driver: argv with `{port}` and `{name}` to replace; undefined runs this project's server. */
  readonly command: readonly string[] | undefined;
  /** The heartbeat: GET this path ... */
  readonly healthPath: string;
  /** ... answers one of these statuses (inclusive ranges). */
  readonly healthStatus: readonly (readonly [number, number])[];
}

/** The contract's defaults, for tools that model the LB (tester analysis, tests). */
export const DEFAULT_SLOTS = 512;
/** K defaults to log2(SLOTS). */
export const defaultVirtualServers = (slots: number): number => Math.max(1, Math.floor(Math.log2(slots)));
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function roles(env: Env): Pick<Config, 'role' | 'controllerUrl' | 'workers' | 'adminRelayTimeoutMs'> {
  const role = oneOf(env, 'LB_ROLE', 'all', ['all', 'data-plane']);
  const controllerUrl =
    matching(
      env,
      'CONTROLLER_URL',
      '',
      /^(https?:\/\/[\w.:[\]-]+\/?|unix:[@/][\w./@-]+)$/,
      'http://host:port or unix:/path',
    ) || undefined;
  if (role === 'data-plane' && controllerUrl === undefined)
    throw new ConfigError('CONTROLLER_URL must be set when LB_ROLE=data-plane (e.g. http://controller:5000)');
  return {
    role,
    controllerUrl,
    workers: integer(env, 'LB_WORKERS', 1, 1, 64),
    adminRelayTimeoutMs: integer(env, 'ADMIN_RELAY_TIMEOUT_MS', 60_000, 100, 3_600_000),
  };
}

function keySources(env: Env): KeySource[] {
  const text = raw(env, 'HASH_KEY') ?? 'request-id';
  const sources = parseKeySources(text);
  if (typeof sources === 'string') throw new ConfigError(`HASH_KEY: ${sources}`);
  return sources;
}

/** `K=V,K2=V2`: each K a variable name; a value may be empty but holds no comma. */
function replicaEnv(env: Env): string[] {
  const text = raw(env, 'REPLICA_ENV');
  if (text === undefined) return [];
  return text.split(',').map((item) => {
    const pair = item.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(pair)) {
      throw new ConfigError(`REPLICA_ENV must be K=V pairs separated by commas (got '${pair}')`);
    }
    return pair;
  });
}

/** `200-399`, `200,204`, `200-299,404`: statuses 100..599. */
function healthStatus(env: Env): [number, number][] {
  const text = raw(env, 'HEALTH_STATUS') ?? '200-399';
  return text.split(',').map((item) => {
    const match = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(item);
    const from = Number(match?.[1]);
    const to = Number(match?.[2] ?? match?.[1]);
    if (!match || from < 100 || to > 599 || from > to) {
      throw new ConfigError(
        `HEALTH_STATUS must be statuses or ranges of 100..599, e.g. 200-399 or 200,204 (got '${text}')`,
      );
    }
    return [from, to];
  });
}

/** A command line split into words, no shell: '...' and "..." group; nothing else is special. */
export function splitCommand(text: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (const ch of text) {
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

function replicaCommand(env: Env): string[] | undefined {
  const text = raw(env, 'REPLICA_COMMAND');
  if (text === undefined) return undefined;
  const words = splitCommand(text);
  if (!words) throw new ConfigError(`REPLICA_COMMAND must be a command line (unbalanced quotes in '${text}')`);
  const program = words[0]!;
  const found = program.includes('/')
    ? isExecutable(isAbsolute(program) ? program : join(process.cwd(), program))
    : (env.PATH ?? process.env.PATH ?? '').split(delimiter).some((dir) => dir && isExecutable(join(dir, program)));
  if (!found) throw new ConfigError(`REPLICA_COMMAND: '${program}' is not an executable program (looked in PATH)`);
  return words;
}

function replicaSpec(env: Env): ReplicaSpec {
  return {
    port: integer(env, 'REPLICA_PORT', 5000, 1, 65535),
    env: replicaEnv(env),
    command: replicaCommand(env),
    healthPath: matching(env, 'HEALTH_PATH', '/heartbeat', /^\/[\x21-\x7e]{0,1023}$/, 'a path starting with /'),
    healthStatus: healthStatus(env),
  };
}

/**
 * Reads and validates the configuration. Throws ConfigError with one line that
 * names the variable and what it accepts; nothing starts on a bad value.
 */
export function parseConfig(env: Env, defaults: { driver: DriverKind }): Config {
  const slots = integer(env, 'SLOTS', DEFAULT_SLOTS, 2, MAX_SLOTS);
  const virtualServers = integer(env, 'K', defaultVirtualServers(slots), 1, slots);
  const capacity = Math.floor(slots / virtualServers);
  const maxReplicas = integer(env, 'MAX_REPLICAS', capacity, 1, capacity);
  const heartbeatIntervalMs = integer(env, 'HEARTBEAT_INTERVAL_MS', 1000, 10, 3_600_000);
  return {
    port: integer(env, 'PORT', 5000, 0, 65535),
    host: matching(
      env,
      'HOST',
      defaults.driver === 'docker' ? '0.0.0.0' : '127.0.0.1',
      /^[\w.:-]+$/,
      'a host name or IP address',
    ),
    driver: oneOf(env, 'REPLICA_DRIVER', defaults.driver, ['process', 'docker', 'swarm']),
    n: integer(env, 'N', 3, 0, maxReplicas),
    hashFunction: oneOf(env, 'HASH_FUNCTION', 'sha256', HASH_FUNCTION_NAMES),
    slots,
    virtualServers,
    heartbeatIntervalMs,
    heartbeatTimeoutMs: integer(env, 'HEARTBEAT_TIMEOUT_MS', 500, 1, 600_000),
    maxFailCount: integer(env, 'MAX_FAIL_COUNT', 3, 1, 1000),
    stopTimeoutMs: integer(env, 'STOP_TIMEOUT_MS', 5000, 0, 600_000),
    network: matching(env, 'NETWORK', 'net1', DOCKER_NAME, 'a Docker network name ([A-Za-z0-9][A-Za-z0-9_.-]*)'),
    serverImage: matching(env, 'SERVER_IMAGE', 'lb-server', /^[\w][\w.\-/:@]{0,254}$/, 'a Docker image reference'),
    maxReplicas,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    lbId: matching(env, 'LB_ID', 'lb', DOCKER_NAME, 'a name of [A-Za-z0-9][A-Za-z0-9_.-]*'),
    upstreamTimeoutMs: integer(env, 'UPSTREAM_TIMEOUT_MS', 10_000, 1, 3_600_000),
    upstreamMaxConnections: integer(env, 'UPSTREAM_MAX_CONNECTIONS', 256, 1, 65_536),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 1000, 0, 60_000),
    startTimeoutMs: integer(env, 'START_TIMEOUT_MS', 20_000, 100, 600_000),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    containerPrefix: matching(
      env,
      'CONTAINER_PREFIX',
      '',
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/,
      'empty or up to 31 of [A-Za-z0-9_.-]',
    ),
    adminToken: adminToken(env),
    routing: oneOf(env, 'ROUTING', 'ring', ['ring', 'maglev']),
    maglevTableSize: prime(env, 'MAGLEV_TABLE_SIZE', DEFAULT_MAGLEV_TABLE_SIZE),
    hashBalanceFactor: factor(env, 'HASH_BALANCE_FACTOR'),
    outlierConsecutiveErrors: integer(env, 'OUTLIER_CONSECUTIVE_5XX', 5, 0, 10_000),
    outlierEjectionMs: integer(env, 'OUTLIER_EJECTION_MS', 10_000, 1, 3_600_000),
    outlierMaxEjectedPercent: integer(env, 'OUTLIER_MAX_EJECTED_PERCENT', 50, 0, 100),
    ...roles(env),
    hashKey: keySources(env),
    replicas: replicaSpec(env),
    upstream404: oneOf(env, 'UPSTREAM_404', 'contract', ['contract', 'pass']),
    rehomeGraceMs: integer(env, 'REHOME_GRACE_MS', 1000, 0, 600_000),
    slowStartMs: integer(env, 'SLOW_START_MS', 0, 0, 3_600_000),
    drainTimeoutMs: integer(env, 'DRAIN_TIMEOUT_MS', 30_000, 0, 3_600_000),
    tunnelIdleTimeoutMs: integer(env, 'TUNNEL_IDLE_TIMEOUT_MS', 0, 0, 86_400_000),
    accessLog: accessLog(env),
    tracing: tracing(env),
    tls: tlsFiles(env),
    h2MaxConcurrentStreams: integer(env, 'H2_MAX_CONCURRENT_STREAMS', 100, 1, 10_000),
    ...replicaProtocol(env),
  };
}

function replicaProtocol(env: Env): Pick<Config, 'replicaProtocol' | 'healthCheck'> {
  const protocol = oneOf(env, 'REPLICA_PROTOCOL', 'http1', ['http1', 'h2c']);
  return {
    replicaProtocol: protocol,
    healthCheck: protocol === 'h2c' && raw(env, 'HEALTH_PATH') === undefined ? 'grpc' : 'http',
  };
}

/**
 * A token that is set but blank is a secret that came out empty: refused, never read as "no
 * authentication". Unset (the variable absent) leaves the admin API open, as documented.
 */
function adminToken(env: Env): string | undefined {
  const value = env.ADMIN_TOKEN;
  if (value !== undefined && value.trim() === '') {
    throw new ConfigError('ADMIN_TOKEN is set but blank; set a token, or unset the variable to leave admin calls open');
  }
  return value?.trim();
}

/** Whether the LB port is reachable from other machines (any address but loopback's). */
export function listensBeyondLoopback(host: string): boolean {
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

function accessLog(env: Env): Config['accessLog'] {
  const text = raw(env, 'ACCESS_LOG');
  if (text === undefined || text === 'off') return undefined;
  if (text === 'stdout') return 'stdout';
  if (text.includes('\0')) throw new ConfigError(`ACCESS_LOG must be off, stdout or a file path (got '${text}')`);
  return { path: text };
}

export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * Tracing is on when an OTLP endpoint is set (and OTEL_SDK_DISABLED is not `true`). The exporter
 * reads its OTEL_* variables itself; the ones the SDK would silently replace by a default when
 * wrong stop the LB here instead, as any other bad value does.
 */
function tracing(env: Env): TracingConfig | false {
  const endpoints = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'];
  const set = endpoints.filter((name) => raw(env, name) !== undefined);
  if (set.length === 0 || raw(env, 'OTEL_SDK_DISABLED') === 'true') return false;
  for (const name of set) {
    const url = raw(env, name)!;
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new ConfigError(`${name} must be an http(s) URL, e.g. http://collector:4318 (got '${url}')`);
    }
  }
  const sampler = oneOf<TracesSampler>(env, 'OTEL_TRACES_SAMPLER', 'parentbased_always_on', TRACES_SAMPLERS);
  const arg = raw(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (!sampler.endsWith('traceidratio') || arg === undefined) return { sampler, ratio: 1 };
  const ratio = Number(arg);
  if (!/^\d+(\.\d+)?$/.test(arg) || ratio > 1) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, e.g. 0.01 (got '${arg}')`);
  }
  return { sampler, ratio };
}
