import type { OutgoingHttpHeaders } from 'node:http2';
import { connectionListed, droppedUp } from '../http1/wire.js';
import type { AdmittedRequest } from '../request.js';
import type { Forwarding } from '../upstream.js';
import { addField } from './responses.js';

/**
 * A request's headers for an h2c replica, by the rules of the HTTP/1 head (`requestHead`): names
 * in lower case, hop-by-hop ones and those `Connection` lists dropped (but `te: trailers`, which
 * gRPC needs and HTTP/2 allows), Host as `:authority`, then the LB's own.
 */
export function h2RequestHeaders(
  request: AdmittedRequest,
  up: Forwarding,
  defaultAuthority: string,
): OutgoingHttpHeaders {
  const raw = request.headers;
  const listed = connectionListed(raw);
  const headers: OutgoingHttpHeaders = { ':method': request.method, ':path': request.path, ':scheme': 'http' };
  let authority = request.host;
  let forwardedFor: string | undefined;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!.toLowerCase();
    const value = raw[k + 1]!;
    if (name === 'host') authority ??= value;
    else if (name === 'x-forwarded-for')
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else if (name === 'te') {
      if (/(^|,)\s*trailers\s*(;|,|$)/i.test(value)) headers.te = 'trailers';
    } else if (!droppedUp(name, listed, up.traceparent, up.secure)) addField(headers, name, value);
  }
  headers[':authority'] = authority ?? defaultAuthority;
  if (up.id !== undefined) headers['x-request-id'] = up.id;
  if (up.traceparent !== undefined) headers.traceparent = up.traceparent;
  if (up.secure) headers['x-forwarded-proto'] = 'https';
  headers['x-forwarded-for'] = forwardedFor === undefined ? up.clientIp : `${forwardedFor}, ${up.clientIp}`;
  return headers;
}

/** gRPC's `grpc-timeout` (an integer and a unit, H M S m u n) in milliseconds; undefined when absent or malformed. */
export function grpcTimeoutMs(headers: readonly string[]): number | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    if (headers[k]!.toLowerCase() !== 'grpc-timeout') continue;
    const match = /^(\d{1,8})([HMSmun])$/.exec(headers[k + 1]!);
    if (!match) return undefined;
    const scale = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[match[2] as 'H'];
    return Number(match[1]) * scale;
  }
  return undefined;
}
