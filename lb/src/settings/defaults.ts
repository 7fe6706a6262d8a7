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
