/**
 * Paths the LB answers itself and never forwards (the contract's list, plus /membership
 * that data-plane instances read), with the method each takes.
 */
export const OWN_PATHS: Readonly<Record<string, string>> = {
  rep: 'GET',
  add: 'POST',
  rm: 'DELETE',
  metrics: 'GET',
  membership: 'GET',
  dashboard: 'GET',
  config: 'GET',
};

/** The method an LB-owned path takes, if the URL is one of them. Runs on every request: no regex, no split. */
export function ownPathMethod(url: string): string | undefined {
  let end = 1;
  while (end < url.length && url.charCodeAt(end) !== SLASH && url.charCodeAt(end) !== QUESTION) end++;
  // By the first segment's length, then in place: a forwarded path costs no string of its own.
  const names = OWN_BY_LENGTH.get(end - 1);
  if (names === undefined) return undefined;
  for (const name of names) if (url.startsWith(name, 1)) return OWN_PATHS[name];
  return undefined;
}

const SLASH = 0x2f;
const QUESTION = 0x3f;
/** OWN_PATHS' names by length. */
const OWN_BY_LENGTH = new Map<number, string[]>();
for (const name of Object.keys(OWN_PATHS))
  OWN_BY_LENGTH.set(name.length, [...(OWN_BY_LENGTH.get(name.length) ?? []), name]);
