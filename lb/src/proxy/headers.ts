/** Headers that describe one connection, not the message (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers the LB sets itself on the way back; a replica's own copies are dropped. */
const SET_BY_LB = new Set(['x-request-id', 'x-served-by']);

/**
 * The client's headers for the replica, as undici takes them ([name, value, ...]):
 * hop-by-hop ones and those `Connection` lists are dropped, `X-Request-Id` is the
 * canonical id, and the client's address is appended to `X-Forwarded-For`.
 */
export function upstreamHeaders(raw: readonly string[], id: string, clientIp: string | undefined): string[] {
  const out: string[] = [];
  const listed = connectionListed(raw, (v) => v);
  let forwardedFor: string | undefined;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'x-request-id' || listed?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[k + 1]! : `${forwardedFor}, ${raw[k + 1]!}`;
      continue;
    }
    out.push(name, raw[k + 1]!);
  }
  out.push('x-request-id', id);
  const ip = clientIp ?? 'unknown';
  out.push('x-forwarded-for', forwardedFor === undefined ? ip : `${forwardedFor}, ${ip}`);
  return out;
}

/**
 * The replica's response headers for the client ([name, value, ...] as writeHead
 * takes them), without hop-by-hop ones, and the LB's `X-Request-Id` and `X-Served-By`.
 */
export function downstreamHeaders(raw: readonly Buffer[], id: string, replica: string): string[] {
  const out: string[] = [];
  const listed = connectionListed(raw, (v) => v.toString('latin1'));
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!.toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || SET_BY_LB.has(lower) || listed?.has(lower)) continue;
    out.push(name, raw[k + 1]!.toString('latin1'));
  }
  out.push('x-request-id', id, 'x-served-by', replica);
  return out;
}

/** Header names (lower case) that a `Connection` header lists as hop-by-hop; undefined when there is none. */
function connectionListed<T extends string | Buffer>(raw: readonly T[], text: (value: T) => string): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    if (name.length !== 10 || text(name).toLowerCase() !== 'connection') continue;
    listed ??= new Set();
    for (const token of text(raw[k + 1]!).split(',')) listed.add(token.trim().toLowerCase());
  }
  return listed;
}

/** Content-Length of raw headers, or undefined when absent (e.g. chunked). */
export function contentLength(raw: readonly Buffer[]): number | undefined {
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    if (name.length === 14 && name.toString('latin1').toLowerCase() === 'content-length') return Number(raw[k + 1]!.toString('latin1'));
  }
  return undefined;
}
