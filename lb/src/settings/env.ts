import { isPrime } from '../routing/index.js';

/** A setting that cannot be used: the LB stops at start with its message (exit 2). */
export class ConfigError extends Error {}

export type Env = Readonly<Record<string, string | undefined>>;

export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer in ${min}..${max} (got '${text}')`);
  }
  return value;
}

export function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got '${text}')`);
  }
  return text as T;
}

export function matching(env: Env, name: string, fallback: string, pattern: RegExp, what: string): string {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  if (!pattern.test(text)) throw new ConfigError(`${name} must be ${what} (got '${text}')`);
  return text;
}

export function prime(env: Env, name: string, fallback: number): number {
  const value = integer(env, name, fallback, 2, 10_000_019);
  if (!isPrime(value)) throw new ConfigError(`${name} must be a prime number (got '${value}')`);
  return value;
}

export function factor(env: Env, name: string): number | undefined {
  const text = raw(env, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value <= 1 || value > 100) {
    throw new ConfigError(`${name} must be a number above 1 and at most 100, e.g. 1.25 (got '${text}')`);
  }
  return value;
}
