import { randomInt } from 'node:crypto';
import { LbError } from '../contract/errors.js';

/** Container/DNS-safe replica names, as the contract allows them: 2 to 63 characters (Docker wants 2 at least). */
export const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$/;

/** Names as the contract allows them, and no name twice: a 400 naming the first that is not. */
export function checkNames(hostnames: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of hostnames) {
    if (!REPLICA_NAME.test(name)) {
      throw new LbError(
        'BAD_REQUEST',
        `Invalid hostname ${quoteName(name)}: use 2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit`,
      );
    }
    if (seen.has(nameKey(name))) throw new LbError('BAD_REQUEST', `Hostname ${quoteName(name)} appears more than once`);
    seen.add(nameKey(name));
  }
}

/** Names collide case-insensitively: Docker DNS aliases do not tell `S1` from `s1`. */
export const nameKey = (name: string): string => name.toLowerCase();

/** `Server-k` names for `count` new replicas: the smallest k not in use. */
export function generateNames(count: number, taken: Iterable<string>): string[] {
  const used = new Set([...taken].map(nameKey));
  const names: string[] = [];
  for (let k = 1; names.length < count; k++) {
    const name = `Server-${k}`;
    if (!used.has(nameKey(name))) {
      used.add(nameKey(name));
      names.push(name);
    }
  }
  return names;
}

/** Shown in messages: names are user input, so keep them short and quoted. */
export function quoteName(name: string): string {
  const shown = name.length > 40 ? `${name.slice(0, 40)}...` : name;
  return `'${shown.replace(/[^\x20-\x7e]/g, '?')}'`;
}

/** `count` of `items`, picked at random (a Fisher-Yates shuffle from the CSPRNG, cut short). */
export function pickRandom<T>(items: readonly T[], count: number): T[] {
  const pool = [...items];
  for (let k = pool.length - 1; k > 0; k--) {
    const r = randomInt(k + 1);
    [pool[k], pool[r]] = [pool[r]!, pool[k]!];
  }
  return pool.slice(0, count);
}
