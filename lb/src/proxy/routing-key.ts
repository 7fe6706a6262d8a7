import { type KeySource, keySourceText, MAX_KEY_LENGTH } from '../routing/key-sources.js';
import { headerValue, isName } from './header-list.js';
import type { AdmittedRequest } from './request.js';
import { isIntegerId } from './request-id.js';

/**
 * The request's key: the first source in `sources` that yields a non-empty one (at most
 * MAX_KEY_LENGTH). Text read off the wire is the UTF-8 its bytes are, so `X-Key: café` sent as
 * UTF-8 and `?k=caf%C3%A9` are one key; bytes that are not UTF-8 are ISO-8859-1, one character a
 * byte (what a header's bytes meant before UTF-8, and how fetch and browsers send them).
 */
export function keyOf(sources: readonly KeySource[], request: AdmittedRequest, clientIp: string): string | undefined {
  for (const source of sources) {
    const key = fromSource(source, request, clientIp);
    if (key !== undefined && key.length > 0 && key.length <= MAX_KEY_LENGTH) return key;
  }
  return undefined;
}

/** How HASH_KEY names the first source in `sources` that yields the request's key; undefined when none does. */
export function keySourceOf(
  sources: readonly KeySource[],
  request: AdmittedRequest,
  clientIp: string,
): string | undefined {
  const source = sources.find((one) => keyOf([one], request, clientIp) !== undefined);
  return source && keySourceText(source);
}

function fromSource(source: KeySource, request: AdmittedRequest, clientIp: string): string | undefined {
  switch (source.kind) {
    case 'request-id':
      return request.requestId !== undefined && isIntegerId(request.requestId) ? request.requestId : undefined;
    case 'header':
      return wireKey(headerValue(request.headers, source.name));
    case 'cookie':
      return wireKey(cookieValue(request.headers, source.name));
    case 'query':
      return queryValue(request.path, source.name);
    case 'path':
      return wireKey(pathOnly(request.path));
    case 'segment':
      return wireKey(pathOnly(request.path).split('/')[source.n]);
    case 'client-ip':
      return clientIp;
  }
}

const NON_ASCII = /[\u0080-\uffff]/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A value as the parser read it (one latin1 character a byte) as the text its bytes are: ASCII as
 * it is, bytes past it decoded as UTF-8, or left as ISO-8859-1 characters when they are not UTF-8.
 */
function wireKey(value: string | undefined): string | undefined {
  if (value === undefined || !NON_ASCII.test(value)) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

const pathOnly = (target: string): string => {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
};

/** Cookie `name` from the Cookie header(s) (RFC 6265 `name=value; ...`); a pair without '=' is skipped. */
function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    const field = headers[k]!;
    if (!isName(field, 'cookie')) continue;
    for (const pair of headers[k + 1]!.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
      const value = pair.slice(eq + 1).trim();
      // A quoted value (cookie-value may be DQUOTE *cookie-octet DQUOTE) is its inside.
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
  }
  return undefined;
}

/** Query parameter `name`, percent-decoded; a parameter that does not decode is absent. */
function queryValue(target: string, name: string): string | undefined {
  const q = target.indexOf('?');
  if (q === -1) return undefined;
  for (const pair of target.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    if (decoded(rawName) !== name) continue;
    return eq === -1 ? undefined : decoded(pair.slice(eq + 1));
  }
  return undefined;
}

/** Percent-decoded (escapes that are not UTF-8: absent); raw bytes past ASCII read as wireKey does. */
function decoded(wire: string): string | undefined {
  const text = wireKey(wire)!;
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
