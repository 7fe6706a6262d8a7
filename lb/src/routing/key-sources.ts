// HASH_KEY's sources as text: what they are and how they are written. Pure (no request):
// configuration parses them, the data plane reads requests by them (proxy/routing-key.ts).

/** One place a routing key may come from (SPEC "Routing keys", `HASH_KEY`). */
export type KeySource =
  | { readonly kind: 'request-id' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string }
  | { readonly kind: 'path' }
  | { readonly kind: 'segment'; readonly n: number }
  | { readonly kind: 'client-ip' };

/** Longer keys are no key from their source (a header may be 16 KiB; a key is an id). */
export const MAX_KEY_LENGTH = 1024;

/**
 * HASH_KEY's sources, in order; or why the text is not a list of them. Header and cookie names are
 * tokens, query names any non-empty text, segments counted from 1.
 */
export function parseKeySources(text: string): KeySource[] | string {
  const sources: KeySource[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const colon = item.indexOf(':');
    const kind = colon === -1 ? item : item.slice(0, colon);
    const arg = colon === -1 ? undefined : item.slice(colon + 1).trim();
    if (kind === 'request-id' || kind === 'path' || kind === 'client-ip') {
      if (arg !== undefined) return `'${kind}' takes no name (got '${item}')`;
      sources.push({ kind });
    } else if (kind === 'header' || kind === 'cookie' || kind === 'query') {
      if (!arg) return `'${kind}:NAME' needs a name (got '${item}')`;
      if (kind !== 'query' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(arg)) return `'${arg}' is not a ${kind} name`;
      sources.push({ kind, name: kind === 'header' ? arg.toLowerCase() : arg });
    } else if (kind === 'segment') {
      const n = Number(arg);
      if (!arg || !Number.isInteger(n) || n < 1 || n > 1000) {
        return `'segment:N' needs N from 1 to 1000 (got '${item}')`;
      }
      sources.push({ kind, n });
    } else {
      return `unknown key source '${item}': use request-id, header:NAME, cookie:NAME, query:NAME, path, segment:N or client-ip`;
    }
  }
  return sources;
}

/** A source as HASH_KEY writes it (`cookie:sid`): what parseKeySources reads back. */
export function keySourceText(source: KeySource): string {
  switch (source.kind) {
    case 'header':
    case 'cookie':
    case 'query':
      return `${source.kind}:${source.name}`;
    case 'segment':
      return `segment:${source.n}`;
    default:
      return source.kind;
  }
}
