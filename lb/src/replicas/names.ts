/** Container/DNS-safe replica names, as the contract allows them: 2 to 63 characters (Docker wants 2 at least). */
export const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$/;

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
