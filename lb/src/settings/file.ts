import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { REPLICA_NAME } from '../replicas/names.js';
import { MAX_WEIGHT } from '../routing/index.js';
import { editDistance } from './edit-distance.js';
import type { FileLayer } from './resolve.js';
import { SETTING_NAMES } from './schema.js';

/** A replica a file lists: it starts with the LB (instead of N `Server-k`). */
export interface ListedReplica {
  readonly name: string;
  readonly weight: number;
}

/** What a configuration file holds, or every reason it cannot be used. */
export interface SettingsFile {
  readonly path: string;
  readonly layer: FileLayer;
  /** `replicas:`, when the file lists them. */
  readonly replicas: readonly ListedReplica[] | undefined;
  readonly errors: readonly string[];
}

/** The one name a file may hold that is not a setting. */
const REPLICAS = 'replicas';

/**
 * Reads `path` (LB_CONFIG, --config): a YAML mapping of settings by their file names. A file that
 * cannot be read, is not YAML, changes while it is read, or holds an unknown name is refused with
 * every reason, one a line; nothing of it is used then.
 */
export function readSettingsFile(path: string): SettingsFile {
  const shown = basename(path);
  const refused = (errors: string[]): SettingsFile => ({
    path,
    layer: { shown, values: {} },
    replicas: undefined,
    errors,
  });
  let text: string;
  try {
    const before = statSync(path);
    text = readFileSync(path, 'utf8');
    const after = statSync(path);
    if (before.mtimeMs !== after.mtimeMs || before.size !== after.size || Buffer.byteLength(text) !== after.size) {
      return refused([`${shown}: it changed while it was read; nothing of it was used (try again)`]);
    }
  } catch (error) {
    return refused([`LB_CONFIG: cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    return refused(document.errors.map((error) => `${shown}: not YAML: ${firstLine(error.message)}`));
  }
  if (document.contents !== null && !isMap(document.contents)) {
    return refused([`${shown}: must be a mapping of settings (name: value), e.g. upstreamTimeoutMs: 10000`]);
  }
  const all = (document.toJS() ?? {}) as Record<string, unknown>;
  const errors: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (key === REPLICAS) continue;
    if ((SETTING_NAMES as readonly string[]).includes(key)) values[key] = value;
    else errors.push(`${shown}: unknown setting '${key}'${suggestion(key)}`);
  }
  const replicas = REPLICAS in all ? listedReplicas(all[REPLICAS], shown, errors) : undefined;
  return { path, layer: { shown, values }, replicas, errors };
}

const firstLine = (message: string) => message.split('\n')[0]!.trim().replace(/:$/, '');

/** `replicas: [{name, weight}]` (a bare name is weight 1). */
function listedReplicas(value: unknown, shown: string, errors: string[]): ListedReplica[] | undefined {
  const what = `${shown}: replicas must be a list of {name, weight} (weight 1..${MAX_WEIGHT}, default 1)`;
  if (!Array.isArray(value)) {
    errors.push(`${what} (got ${JSON.stringify(value)})`);
    return undefined;
  }
  const listed: ListedReplica[] = [];
  const seen = new Set<string>();
  for (const item of value) {
    const entry = typeof item === 'string' ? { name: item } : item;
    const { name, weight = 1, ...rest } = (entry ?? {}) as { name?: unknown; weight?: unknown };
    if (typeof name !== 'string' || Object.keys(rest).length > 0) {
      errors.push(`${what} (got ${JSON.stringify(item)})`);
    } else if (!REPLICA_NAME.test(name)) {
      errors.push(
        `${shown}: replicas: '${name}' is not a replica name (2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit)`,
      );
    } else if (seen.has(name.toLowerCase())) {
      errors.push(`${shown}: replicas: '${name}' appears more than once`);
    } else if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
      errors.push(`${shown}: replicas: '${name}' has weight ${JSON.stringify(weight)}; use 1..${MAX_WEIGHT}`);
    } else {
      seen.add(name.toLowerCase());
      listed.push({ name, weight });
    }
  }
  return listed;
}

/** ` (did you mean 'hashFunction'?)` for a name close to a known one (a typo, or the variable's own name). */
export function suggestion(key: string): string {
  const plain = (name: string) => name.toLowerCase().replace(/[_-]/g, '');
  let best: { name: string; distance: number } | undefined;
  for (const name of [...SETTING_NAMES, REPLICAS]) {
    const distance = editDistance(plain(key), plain(name));
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  const near = best !== undefined && best.distance <= Math.max(2, Math.floor(plain(key).length / 4));
  return near ? ` (did you mean '${best!.name}'?)` : '';
}
