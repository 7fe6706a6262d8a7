import type { Setting } from './kinds.js';
import { CLUSTER_SETTINGS } from './schema-cluster.js';
import { TRAFFIC_SETTINGS } from './schema-traffic.js';

export {
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_SLOTS,
  defaultVirtualServers,
  TRACES_SAMPLERS,
  type TracesSampler,
} from './defaults.js';
export { splitCommand, tracingOn } from './values.js';

/**
 * Every setting of the LB, in the order they are checked (a range may depend on one above it) and
 * shown. The key is the setting's name in a file and in GET /config: its environment variable in
 * lower camel case.
 */
export const SETTINGS = { ...CLUSTER_SETTINGS, ...TRAFFIC_SETTINGS } as const;

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
