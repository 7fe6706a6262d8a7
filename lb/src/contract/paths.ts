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
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  const first = url.slice(1, end);
  return Object.hasOwn(OWN_PATHS, first) ? OWN_PATHS[first] : undefined;
}
