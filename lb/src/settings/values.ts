import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { type KeySource, parseKeySources } from '../routing/index.js';
import { custom, type Earlier, listItems, mustBe, Refusal, type Setting, type StartContext } from './kinds.js';

// How the settings of their own shape read their values (settings/schema.ts declares them).

/** `K=V` pairs: from `K=V,K2=V2` text, a YAML list of `K=V`, or a YAML map. */
export function replicaEnv(value: unknown): string[] {
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
export function healthStatus(value: unknown): [number, number][] {
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
export function replicaCommand(value: unknown, _earlier: Earlier, start: StartContext): string[] | undefined {
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

export function hashKey(value: unknown): KeySource[] {
  const sources = parseKeySources(listItems(value).join(','));
  if (typeof sources === 'string') throw new Refusal(`: ${sources}`);
  return sources;
}

export function otlpEndpoint(env: string, doc: string): Setting<string | undefined> {
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
