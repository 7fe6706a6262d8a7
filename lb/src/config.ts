import type { DriverKind } from './replicas/driver.js';
import { ConfigError } from './settings/errors.js';
import { type ListedReplica, readSettingsFile, type SettingsFile } from './settings/file.js';
import { type Env, type Origin, resolveSettings } from './settings/resolve.js';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_SLOTS,
  defaultVirtualServers,
  RUNTIME_NAMES,
  SETTING_NAMES,
  type SettingName,
  type Settings,
  settingOf,
  splitCommand,
  TRACES_SAMPLERS,
  type TracesSampler,
  tracingOn,
} from './settings/schema.js';
import { type TlsFiles, tlsFiles } from './settings/tls.js';

export { ConfigError } from './settings/errors.js';
export type { ListedReplica } from './settings/file.js';
export type { Settings } from './settings/schema.js';
export type { TracesSampler };
export { DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_SLOTS, defaultVirtualServers, splitCommand, TRACES_SAMPLERS };

/**
 * The LB's configuration: every setting by its name (settings/schema.ts, the environment variable
 * in lower camel case), and the views the code takes that several settings or files make up.
 */
export interface Config extends Readonly<Settings> {
  /** REPLICA_DRIVER (the same value as `replicaDriver`). */
  readonly driver: DriverKind;
  /** K, virtual servers per replica (the same value as `k`). */
  readonly virtualServers: number;
  /** What replicas are and how they are checked (SPEC "Your own replicas"). */
  readonly replicas: ReplicaSpec;
  /** OpenTelemetry traces (an OTLP endpoint set), with their sampler; false is off. */
  readonly tracing: TracingConfig | false;
  /** TLS_CERT and TLS_KEY, as read: the LB port speaks TLS only; undefined is cleartext. */
  readonly tls: TlsFiles | undefined;
  /** How heartbeats ask: GET HEALTH_PATH, or (h2c replicas, HEALTH_PATH unset) the gRPC health protocol. */
  readonly healthCheck: 'http' | 'grpc';
  /** The replicas a file lists (`replicas:`), started instead of N `Server-k`. */
  readonly initialReplicas: readonly ListedReplica[] | undefined;
  /** LB_CONFIG or --config: the file reloads read again; undefined without one. */
  readonly configFile: string | undefined;
  /** Where each setting's value came from. */
  readonly origins: Readonly<Record<SettingName, Origin>>;
  /** What it was read from: a reload reads the same again (the file anew). */
  readonly sources: { readonly env: Env } & ConfigSources;
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

export interface ConfigSources {
  /** The image sets REPLICA_DRIVER=docker; from a checkout replicas are local processes. */
  readonly driver: DriverKind;
  /** The configuration file (--config); by default LB_CONFIG. */
  readonly file?: string | undefined;
}

/** Settings or views that cannot be used: every reason, one a line. */
export type ConfigReading = { readonly config: Config; readonly errors: [] } | { readonly errors: string[] };

/**
 * Reads the configuration: defaults, then the file (LB_CONFIG or `sources.file`), then the
 * environment. Every value is checked; any that cannot be used is a line in `errors`.
 */
export function readConfig(env: Env, sources: ConfigSources): ConfigReading {
  const path = sources.file ?? (env.LB_CONFIG?.trim() || undefined);
  const file = path === undefined ? undefined : readSettingsFile(path);
  const start = { driver: sources.driver, path: env.PATH ?? process.env.PATH };
  const { settings, origins, errors } = resolveSettings(env, file?.layer, start);
  const all = [...(file?.errors ?? []), ...errors];
  const views = viewsOf(settings, origins, file, all);
  if (all.length > 0) return { errors: all };
  return { config: { ...settings, ...views, configFile: path, origins, sources: { ...sources, env } }, errors: [] };
}

/** Reads the configuration, or throws ConfigError with every reason it cannot be used. */
export function parseConfig(env: Env, sources: ConfigSources): Config {
  const reading = readConfig(env, sources);
  if (!('config' in reading)) throw new ConfigError(reading.errors);
  return reading.config;
}

type Views = Omit<Config, keyof Settings | 'configFile' | 'origins' | 'sources'>;

/** The views of `settings`; what they refuse (settings that go together) is added to `errors`. */
function viewsOf(
  settings: Settings,
  origins: Record<SettingName, Origin>,
  file: SettingsFile | undefined,
  errors: string[],
): Views {
  if (settings.lbRole === 'data-plane' && settings.controllerUrl === undefined)
    errors.push('CONTROLLER_URL must be set when LB_ROLE=data-plane (e.g. http://controller:5000)');
  return {
    driver: settings.replicaDriver,
    virtualServers: settings.k,
    replicas: replicaSpecOf(settings),
    tracing: tracingOf(settings),
    tls: collect(errors, () => tlsFiles(settings.tlsCert, settings.tlsKey)),
    healthCheck: healthCheckOf(settings, origins),
    initialReplicas: listed(file, settings, origins, errors),
  };
}

function replicaSpecOf(settings: Readonly<Settings>): ReplicaSpec {
  return {
    port: settings.replicaPort,
    env: settings.replicaEnv,
    command: settings.replicaCommand,
    healthPath: settings.healthPath,
    healthStatus: settings.healthStatus,
  };
}

/** h2c replicas are asked by the gRPC health protocol unless HEALTH_PATH is set. */
const healthCheckOf = (settings: Readonly<Settings>, origins: Readonly<Record<SettingName, Origin>>) =>
  settings.replicaProtocol === 'h2c' && origins.healthPath === 'default' ? ('grpc' as const) : ('http' as const);

function collect<T>(errors: string[], read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    errors.push(...error.errors);
    return undefined;
  }
}

/** The ratio belongs to the ratio samplers only (as in the SDK). */
function tracingOf(settings: Settings): TracingConfig | false {
  if (!tracingOn(settings)) return false;
  const sampler = settings.otelTracesSampler;
  return { sampler, ratio: sampler.endsWith('traceidratio') ? settings.otelTracesSamplerArg : 1 };
}

/** Where spans go (OTLP/HTTP), as the SDK reads its two endpoint variables. */
export function otlpTracesUrl(settings: Readonly<Settings>): string | undefined {
  const endpoint = settings.otelExporterOtlpEndpoint?.replace(/\/+$/, '');
  return settings.otelExporterOtlpTracesEndpoint ?? (endpoint === undefined ? undefined : `${endpoint}/v1/traces`);
}

/** A file's `replicas:`, checked against the cap and against N (which it replaces). */
function listed(
  file: SettingsFile | undefined,
  settings: Settings,
  origins: Record<SettingName, Origin>,
  errors: string[],
): readonly ListedReplica[] | undefined {
  const replicas = file?.replicas;
  if (replicas === undefined) return undefined;
  const shown = file!.layer.shown;
  const weight = replicas.reduce((total, replica) => total + replica.weight, 0);
  if (weight > settings.maxReplicas)
    errors.push(`${shown}: replicas weigh ${weight} in all, over MAX_REPLICAS (${settings.maxReplicas})`);
  if (origins.n === 'file') errors.push(`${shown}: n and replicas both set; a file that lists its replicas has no n`);
  if (origins.n === 'environment' && settings.n !== replicas.length)
    errors.push(
      `N=${settings.n} and the ${replicas.length} replicas ${shown} lists disagree; unset N or list ${settings.n}`,
    );
  return replicas;
}

/** Whether the LB port is reachable from other machines (any address but loopback's). */
export function listensBeyondLoopback(host: string): boolean {
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

/** A configuration as the code holds it (one object per process): a reload writes into it. */
type Writable = { -readonly [K in keyof Config]: Config[K] };

/**
 * Writes the run-time settings of `next` into `config` (one object per process, which the code
 * reads when it needs a value: every reader sees the new values from the next read on), with the
 * views they make up. Settings that need a restart are left as they are. Returns the names whose
 * value changed.
 */
export function applyRuntimeSettings(
  config: Config,
  next: Readonly<Settings>,
  origins: Readonly<Record<SettingName, Origin>>,
): Set<SettingName> {
  const changed = new Set<SettingName>();
  const target = config as Writable;
  const writable = target as unknown as Record<SettingName, unknown>;
  const origin = target.origins as Record<SettingName, Origin>;
  for (const name of RUNTIME_NAMES) {
    if (sameValue(name, config[name], next[name])) continue;
    writable[name] = next[name];
    origin[name] = origins[name];
    changed.add(name);
  }
  if (changed.size === 0) return changed;
  // The views of what is running now (a data plane's `next` holds the controller's values only for what it changed).
  target.replicas = replicaSpecOf(config);
  target.healthCheck = healthCheckOf(config, target.origins);
  // Tracing stays on or off as it started (its endpoints need a restart); its sampler is run-time.
  if (config.tracing) target.tracing = tracingOf({ ...config, otelSdkDisabled: false });
  return changed;
}

/** Settings that need a restart whose value in `next` is not the one running. */
export function restartNeeded(config: Config, next: Readonly<Settings>): SettingName[] {
  return SETTING_NAMES.filter((name) => !RUNTIME_NAMES.includes(name) && !sameValue(name, config[name], next[name]));
}

const sameValue = (name: SettingName, a: unknown, b: unknown): boolean => {
  const show = settingOf(name).show as (value: unknown) => unknown;
  return JSON.stringify(show(a)) === JSON.stringify(show(b));
};
