import { Type } from '@sinclair/typebox';
import { HASH_FUNCTION_NAMES, isPrime, MAX_SLOTS } from '../routing/index.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_SLOTS, defaultVirtualServers } from './defaults.js';
import { custom, type Earlier, integer, listSchema, mustBe, oneOf, text } from './kinds.js';
import { healthStatus, replicaCommand, replicaEnv } from './values.js';

const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOUR_MS = 3_600_000;
const slotsOf = (earlier: Earlier) => earlier.slots as number;
const capacityOf = (earlier: Earlier) => Math.floor(slotsOf(earlier) / (earlier.k as number));

/** Where the LB listens, its ring, its replicas and their health (settings/schema.ts puts all in order). */
export const CLUSTER_SETTINGS = {
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
    pattern: /^([A-Za-z0-9][A-Za-z0-9_.-]{0,30})?$/,
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
} as const;
