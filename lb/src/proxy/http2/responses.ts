import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { failureBody, type LbError } from '../../contract/errors.js';
import { connectionListed, HOP_BY_HOP, isTrailerField, SET_BY_LB_DOWN } from '../http1/wire.js';

const { HTTP2_HEADER_STATUS, NGHTTP2_NO_ERROR } = constants;

/**
 * An HTTP/1 replica's answer headers for an HTTP/2 client: names in lower case, hop-by-hop ones
 * and those `Connection` lists dropped (HTTP/2 has no such headers), repeated names (set-cookie)
 * as lists, then the LB's own.
 */
export function h2ResponseHeaders(
  status: number,
  raw: readonly string[],
  id: string | undefined,
  servedBy: string | undefined,
): OutgoingHttpHeaders {
  const listed = connectionListed(raw);
  const headers: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: status };
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || listed?.has(name) || SET_BY_LB_DOWN.has(name)) continue;
    addField(headers, name, raw[k + 1]!);
  }
  return withLbHeaders(headers, id, servedBy);
}

/** Adds a field to node:http2's headers object: a repeated name (set-cookie) becomes a list. */
export function addField(headers: OutgoingHttpHeaders, name: string, value: string): void {
  const known = headers[name];
  headers[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [String(known), value];
}

/** An h2c upstream's trailer fields (pseudo-headers already out) for an HTTP/2 client, by the rule of HTTP/1's last chunk. */
export function h2Trailers(raw: readonly string[]): OutgoingHttpHeaders {
  const trailers: OutgoingHttpHeaders = {};
  for (let k = 0; k < raw.length; k += 2) if (isTrailerField(raw[k]!)) trailers[raw[k]!] = raw[k + 1]!;
  return trailers;
}

/** gRPC's status as trailers (`grpc-message` percent-encoded, as the protocol says). */
export function grpcTrailers(status: number, message: string): OutgoingHttpHeaders {
  return { 'grpc-status': String(status), 'grpc-message': percentEncoded(message) };
}

/** gRPC's percent-encoding: UTF-8 bytes outside space..~, and '%', as %XX; the rest as it is. */
function percentEncoded(message: string): string {
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** The LB's own headers on an answer: the request id and the replica, when known. */
function withLbHeaders(
  headers: OutgoingHttpHeaders,
  id: string | undefined,
  servedBy: string | undefined,
): OutgoingHttpHeaders {
  if (id !== undefined) headers['x-request-id'] = id;
  if (servedBy !== undefined) headers['x-served-by'] = servedBy;
  return headers;
}

/** The contract's error for an HTTP/2 client: the JSON body and status an HTTP/1 client gets. */
export function h2Failure(
  error: LbError,
  id: string | undefined,
  servedBy: string | undefined,
): { headers: OutgoingHttpHeaders; body: string } {
  const body = JSON.stringify(failureBody(error));
  const headers: OutgoingHttpHeaders = {
    [HTTP2_HEADER_STATUS]: error.status,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  return { headers: withLbHeaders(headers, id, servedBy), body };
}

/** gRPC status codes the LB answers with (grpc/doc/statuscodes.md). */
export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC status of the contract's error: what a gRPC client's retry policy acts on. */
export function grpcStatusOf(error: LbError): number {
  if (error.code === 'REQUEST_TIMEOUT' || /TIMEOUT/.test(error.detail)) return GRPC.DEADLINE_EXCEEDED;
  switch (error.code) {
    case 'NO_REPLICA':
    case 'REPLICA_FAILED':
    case 'REPLICA_BUSY':
    case 'CONTROLLER_UNAVAILABLE':
      return GRPC.UNAVAILABLE;
    case 'UNAUTHORIZED':
      return GRPC.UNAUTHENTICATED;
    case 'NOT_ON_REPLICAS':
      return GRPC.UNIMPLEMENTED;
    case 'INTERNAL':
    case 'START_FAILED':
    case 'DRIVER_FAILED':
      return GRPC.INTERNAL;
    default:
      return GRPC.INVALID_ARGUMENT;
  }
}

/**
 * A trailers-only gRPC answer (HTTP 200, the status in the headers frame that ends the stream), as
 * gRPC servers answer a call they fail before any message. `grpc-message` is percent-encoded.
 */
export function grpcFailure(
  status: number,
  message: string,
  id: string | undefined,
  servedBy: string | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    [HTTP2_HEADER_STATUS]: 200,
    'content-type': 'application/grpc',
    ...grpcTrailers(status, message),
  };
  return withLbHeaders(headers, id, servedBy);
}

/**
 * The answer is complete while the client may still be sending: once it is out, RST_STREAM with
 * NO_ERROR tells the client to stop (RFC 9113 8.1), so the stream does not stay half open.
 */
export function stopSending(stream: ServerHttp2Stream): void {
  if (stream.readableEnded || stream.destroyed) return;
  if (stream.writableFinished) stream.close(NGHTTP2_NO_ERROR);
  else stream.once('finish', () => stream.close(NGHTTP2_NO_ERROR));
}
