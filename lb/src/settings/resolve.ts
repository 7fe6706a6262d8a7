import { Ajv, type ValidateFunction } from 'ajv';
import { type Earlier, Refusal, type StartContext } from './kinds.js';
import { SETTING_NAMES, type SettingName, type Settings, settingOf } from './schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where a setting's value came from. */
export type Origin = 'default' | 'file' | 'environment';

/** A file's settings, by name (checked to be known names by the file's reader); null is unset. */
export interface FileLayer {
  /** As the messages name it (`lb.yaml`). */
  readonly shown: string;
  readonly values: Readonly<Record<string, unknown>>;
}

export interface Resolution {
  readonly settings: Settings;
  readonly origins: Readonly<Record<SettingName, Origin>>;
  /** One line each, in the order of the settings; empty when every value can be used. */
  readonly errors: readonly string[];
}

const ajv = new Ajv({ strict: false, allErrors: false });
const validators = new Map<SettingName, ValidateFunction>();

function validatorOf(name: SettingName): ValidateFunction {
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile(settingOf(name).schema);
    validators.set(name, validate);
  }
  return validate;
}

/** A value as a message shows it: text as it was written, anything else as JSON. */
const shownValue = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

interface Candidate {
  readonly origin: Origin;
  readonly label: string;
  readonly value: unknown;
  /** As it was written (the environment's text, trimmed). */
  readonly got: string;
}

/** A setting's value in the environment, in its file form; undefined when unset (absent or blank). */
function fromEnvironment(name: SettingName, env: Env, errors: string[]): Candidate | undefined {
  const setting = settingOf(name);
  const raw = env[setting.env];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') {
    // A secret that came out empty is refused, never read as "no authentication".
    if (setting.secret) errors.push(`${setting.env}${blankSecret('the variable')}`);
    return undefined;
  }
  return { origin: 'environment', label: setting.env, value: setting.fromEnv(text), got: text };
}

const blankSecret = (what: string) => ` is set but blank; set a token, or unset ${what} to leave admin calls open`;

function fromFile(name: SettingName, file: FileLayer | undefined, errors: string[]): Candidate | undefined {
  const value = file?.values[name];
  if (file === undefined || value === undefined || value === null) return undefined;
  const label = `${file.shown}: ${name}`;
  if (settingOf(name).secret && typeof value === 'string' && value.trim() === '') {
    errors.push(`${label}${blankSecret('it')}`);
    return undefined;
  }
  return { origin: 'file', label, value: typeof value === 'string' ? value.trim() : value, got: shownValue(value) };
}

/**
 * Every setting's value: its default, unless the file sets it, unless the environment does. Each
 * value given is checked against the setting's schema, then read by the setting (ranges that depend
 * on a setting above, lists, paths): every value that cannot be used is one line in `errors`.
 */
export function resolveSettings(env: Env, file: FileLayer | undefined, start: StartContext): Resolution {
  const settings: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  const errors: string[] = [];
  for (const name of SETTING_NAMES) {
    const setting = settingOf(name);
    const earlier: Earlier = settings;
    const fallback = () => setting.parse(setting.fallback(earlier, start), earlier, start);
    if (setting.readWhen && !setting.readWhen(earlier)) {
      settings[name] = fallback();
      origins[name] = 'default';
      continue;
    }
    let chosen: { origin: Origin; value: unknown } | undefined;
    for (const candidate of [fromFile(name, file, errors), fromEnvironment(name, env, errors)]) {
      if (candidate === undefined) continue;
      const value = readValue(name, candidate, earlier, start, errors);
      if (value !== REFUSED) chosen = { origin: candidate.origin, value };
    }
    settings[name] = chosen ? chosen.value : fallback();
    origins[name] = chosen ? chosen.origin : 'default';
  }
  return { settings: settings as Settings, origins: origins as Record<SettingName, Origin>, errors };
}

const REFUSED = Symbol('refused');

function readValue(
  name: SettingName,
  candidate: Candidate,
  earlier: Earlier,
  start: StartContext,
  errors: string[],
): unknown {
  const setting = settingOf(name);
  if (!validatorOf(name)(candidate.value)) {
    errors.push(`${candidate.label} must be ${setting.expects(earlier)} (got '${candidate.got}')`);
    return REFUSED;
  }
  try {
    return setting.parse(candidate.value, earlier, start);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    errors.push(`${candidate.label}${error.message}`);
    return REFUSED;
  }
}

/** Every setting in its file form, secrets redacted: GET /config and check-config. */
export function shownSettings(settings: Settings): Record<SettingName, unknown> {
  const shown: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const setting = settingOf(name);
    const value = settings[name];
    shown[name] = setting.secret && value !== undefined ? '<redacted>' : setting.show(value);
  }
  return shown as Record<SettingName, unknown>;
}
