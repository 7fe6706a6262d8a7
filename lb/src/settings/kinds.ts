import { type TSchema, Type } from '@sinclair/typebox';

/** What a setting's checks see of the settings declared before it (dependent ranges and defaults). */
export type Earlier = Readonly<Record<string, unknown>>;

/** What the LB is started as, for defaults that depend on it (the image runs Docker replicas). */
export interface StartContext {
  readonly driver: 'process' | 'docker' | 'swarm';
  /** The environment REPLICA_COMMAND's program is looked up in (PATH). */
  readonly path: string | undefined;
}

/** A value a setting refuses: the text after its name, e.g. ` must be an integer in 0..9 (got 'x')`. */
export class Refusal extends Error {}

export const mustBe = (what: string, got: string): Refusal => new Refusal(` must be ${what} (got '${got}')`);

/**
 * One setting, declared once: its environment variable (its name in a file is that in lower camel
 * case), the JSON Schema of its value in a file, its default, whether it can change while the LB
 * runs, and one line of doc. Values from the environment are text: `fromEnv` reads them into the
 * file's form, so one schema checks both.
 */
export interface Setting<T> {
  readonly env: string;
  readonly group: string;
  readonly doc: string;
  /** Can change on reload (SIGHUP, POST /config/reload) without a restart. */
  readonly runtime: boolean;
  /** Shown redacted (GET /config, check-config). */
  readonly secret?: boolean;
  /** Read only when this holds of the settings above (else left at its default, unchecked). */
  readonly readWhen?: (earlier: Earlier) => boolean;
  /** Its value as a file holds it (YAML); null is "unset" and takes the default. */
  readonly schema: TSchema;
  /** What it accepts, in messages (`must be <expects>`); may depend on earlier settings. */
  expects(earlier: Earlier): string;
  /** The default in the file's form; undefined is "unset". */
  fallback(earlier: Earlier, start: StartContext): unknown;
  /** The default as the docs show it. */
  readonly defaultDoc: string;
  /** Environment text into the file's form (before the schema checks it). */
  fromEnv(text: string): unknown;
  /** A schema-valid value (or the default) into what the code takes; throws Refusal. */
  parse(value: unknown, earlier: Earlier, start: StartContext): T;
  /** What the code took, back into the file's form (GET /config, the example file). */
  show(value: T): unknown;
}

interface Common {
  readonly group: string;
  readonly doc: string;
  readonly runtime?: boolean;
  readonly defaultDoc?: string;
  readonly readWhen?: (earlier: Earlier) => boolean;
}

/** What every kind takes alike from its declaration. */
function common(
  env: string,
  options: Common,
): Pick<Setting<unknown>, 'env' | 'group' | 'doc' | 'runtime' | 'readWhen'> {
  return {
    env,
    group: options.group,
    doc: options.doc,
    runtime: options.runtime ?? false,
    ...(options.readWhen ? { readWhen: options.readWhen } : {}),
  };
}

/** Environment text that is a decimal number, as a number; anything else stays text (the schema refuses it). */
export const numberFromEnv = (text: string): unknown => (/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);

/** An integer in min..max; `max` may depend on earlier settings (N up to MAX_REPLICAS). */
export function integer(
  env: string,
  options: Common & {
    readonly min: number;
    readonly max: number;
    readonly fallback: number | ((earlier: Earlier) => number);
    readonly maxOf?: (earlier: Earlier) => number;
    /** A check beyond the range (MAGLEV_TABLE_SIZE is a prime); throws Refusal. */
    readonly check?: (value: number) => void;
  },
): Setting<number> {
  const max = (earlier: Earlier) => options.maxOf?.(earlier) ?? options.max;
  const expects = (earlier: Earlier) => `an integer in ${options.min}..${max(earlier)}`;
  const { fallback } = options;
  return {
    ...common(env, options),
    schema: Type.Integer({ minimum: options.min, maximum: options.max }),
    expects,
    fallback: (earlier) => (typeof fallback === 'function' ? fallback(earlier) : fallback),
    defaultDoc: options.defaultDoc ?? String(fallback),
    fromEnv: (text) => (/^\d+$/.test(text) ? Number(text) : text),
    parse(value, earlier) {
      const n = value as number;
      if (n > max(earlier)) throw mustBe(expects(earlier), String(n));
      options.check?.(n);
      return n;
    },
    show: (value) => value,
  };
}

/** One of a few words. */
export function oneOf<T extends string>(
  env: string,
  values: readonly T[],
  options: Common & { readonly fallback: T | ((start: StartContext) => T) },
): Setting<T> {
  const { fallback } = options;
  return {
    ...common(env, options),
    schema: Type.Union(values.map((value) => Type.Literal(value))),
    expects: () => `one of ${values.join(', ')}`,
    fallback: (_earlier, start) => (typeof fallback === 'function' ? fallback(start) : fallback),
    defaultDoc: options.defaultDoc ?? `\`${String(fallback)}\``,
    fromEnv: (text) => text,
    parse: (value) => value as T,
    show: (value) => value,
  };
}

/** Text matching `pattern`; `fallback` undefined: unset by default (the code takes undefined). */
export function text<Fallback extends string | undefined | ((start: StartContext) => string)>(
  env: string,
  options: Common & {
    readonly pattern: RegExp;
    readonly what: string;
    readonly fallback: Fallback;
    readonly secret?: boolean;
  },
): Setting<undefined extends Fallback ? string | undefined : string> {
  const { fallback } = options;
  return {
    ...common(env, options),
    ...(options.secret ? { secret: true } : {}),
    schema: Type.String({ pattern: options.pattern.source }),
    expects: () => options.what,
    fallback: (_earlier, start) => (typeof fallback === 'function' ? fallback(start) : fallback),
    defaultDoc: options.defaultDoc ?? (fallback === undefined ? 'unset' : `\`${String(fallback)}\``),
    fromEnv: (value: string) => value,
    parse: (value) => value as never,
    show: (value) => value ?? null,
  };
}

/** A number above `above` and at most `max` (HASH_BALANCE_FACTOR); unset by default. */
export function ratio(
  env: string,
  options: Common & { readonly above: number; readonly max: number; readonly what: string },
): Setting<number | undefined> {
  return {
    ...common(env, options),
    schema: Type.Number({ exclusiveMinimum: options.above, maximum: options.max }),
    expects: () => options.what,
    fallback: () => undefined,
    defaultDoc: options.defaultDoc ?? 'unset',
    fromEnv: numberFromEnv,
    parse: (value) => value as number | undefined,
    show: (value) => value ?? null,
  };
}

/**
 * A setting of its own shape (lists, paths, commands): its schema, how environment text reads, and
 * how a valid value becomes the code's.
 */
export function custom<T>(
  env: string,
  options: Common & {
    readonly schema: TSchema;
    readonly expects: string;
    readonly fallback: unknown;
    readonly secret?: boolean;
    readonly fromEnv?: (text: string) => unknown;
    readonly parse: (value: unknown, earlier: Earlier, start: StartContext) => T;
    readonly show: (value: T) => unknown;
  },
): Setting<T> {
  return {
    ...common(env, options),
    ...(options.secret ? { secret: true } : {}),
    schema: options.schema,
    expects: () => options.expects,
    fallback: () => options.fallback,
    defaultDoc: options.defaultDoc ?? (options.fallback === undefined ? 'unset' : `\`${String(options.fallback)}\``),
    fromEnv: options.fromEnv ?? ((value) => value),
    parse: options.parse,
    show: options.show,
  };
}

/** A list, written as comma-separated text (the environment, or a file) or as a YAML list. */
export const listSchema = (item: TSchema = Type.String()): TSchema => Type.Union([Type.String(), Type.Array(item)]);

/** A list's items, from either form. */
export function listItems(value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',') : (value as unknown[]).map(String);
  return items.map((item) => item.trim());
}
