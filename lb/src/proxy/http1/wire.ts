import { STATUS_CODES } from 'node:http';
import { failureBody, type LbError } from '../../contract/errors.js';
import { isName } from '../header-list.js';
import type { AdmittedRequest } from '../request.js';

/** Headers that describe one connection, not the message (RFC 9110 7.6.1). */
export const HOP_BY_HOP = new Set([
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

/** Response headers the LB sets itself; a replica's own copies are dropped. */
export const SET_BY_LB_DOWN = new Set(['x-request-id', 'x-served-by']);

/** How Node's server says keep-alive (the README's examples show it). */
export const KEEP_ALIVE_SECONDS = 72;
const KEEP_ALIVE = `Connection: keep-alive\r\nKeep-Alive: timeout=${KEEP_ALIVE_SECONDS}\r\n\r\n`;
const CLOSE = 'Connection: close\r\n\r\n';

/**
 * The request head for the replica: hop-by-hop headers and those `Connection` lists are
 * dropped, `X-Request-Id` is the canonical id and the client's address is appended to
 * `X-Forwarded-For`. Always HTTP/1.1 on a keep-alive connection.
 */
export function requestHead(
  req: Pick<AdmittedRequest, 'method' | 'path' | 'headers' | 'host' | 'chunked' | 'upgrade'>,
  id: string | undefined,
  clientIp: string,
  defaultHost: string,
  /** Tracing: the LB's span as the replica's parent, in place of the client's traceparent. */
  traceparent?: string,
  /** The client came over TLS: the replica is told so (`X-Forwarded-Proto: https`, in place of the client's). */
  secure = false,
): string {
  const raw = req.headers;
  const listed = connectionListed(raw);
  let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
  let forwardedFor: string | undefined;
  let upgrade: string | undefined;
  let hasHost = false;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    const field = fieldOf(name);
    // Most fields go up as they came: no rule names them, and no Connection header lists them.
    if (field === Field.Other && listed === undefined) {
      head += `${name}: ${raw[k + 1]!}\r\n`;
      continue;
    }
    if (req.upgrade && field === Field.Upgrade) upgrade ??= raw[k + 1];
    if (field === Field.XForwardedFor) {
      forwardedFor = forwardedFor === undefined ? raw[k + 1]! : `${forwardedFor}, ${raw[k + 1]!}`;
      continue;
    }
    if (droppedUpField(field, name, listed, traceparent, secure)) continue;
    if (field === Field.Host) {
      if (req.host !== undefined) continue;
      hasHost = true;
    }
    head += `${name}: ${raw[k + 1]!}\r\n`;
  }
  // HTTP/1.1 needs a Host: the absolute-form authority, else the client's, else (HTTP/1.0) the replica's.
  if (!hasHost) head += `host: ${req.host ?? defaultHost}\r\n`;
  if (req.chunked) head += 'transfer-encoding: chunked\r\n';
  // A tunnel asks the replica to switch protocols on this connection (its own, never pooled).
  if (upgrade !== undefined) head += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
  if (id !== undefined) head += `x-request-id: ${id}\r\n`;
  if (traceparent !== undefined) head += `traceparent: ${traceparent}\r\n`;
  if (secure) head += 'x-forwarded-proto: https\r\n';
  head += `x-forwarded-for: ${forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`}\r\n\r\n`;
  return head;
}

/** `droppedUp` for a field `fieldOf` classified (`name` as received). */
function droppedUpField(
  field: Field,
  name: string,
  listed: ReadonlySet<string> | undefined,
  traceparent: string | undefined,
  secure: boolean,
): boolean {
  return (
    field === Field.HopByHop ||
    field === Field.XRequestId ||
    field === Field.XForwardedFor ||
    field === Field.Expect ||
    field === Field.Upgrade ||
    listed?.has(name.toLowerCase()) === true ||
    (traceparent !== undefined && field === Field.Traceparent) ||
    (secure && field === Field.XForwardedProto)
  );
}

/**
 * A request header (lower case) that does not go up as the client sent it, whatever the replica
 * speaks: hop-by-hop, one `Connection` lists, one the LB sets itself (the id, the client chain, the
 * expectation; `traceparent` when tracing, `X-Forwarded-Proto` over TLS).
 */
export function droppedUp(
  lower: string,
  listed: ReadonlySet<string> | undefined,
  traceparent: string | undefined,
  secure: boolean,
): boolean {
  return droppedUpField(fieldOf(lower), lower, listed, traceparent, secure);
}

/**
 * The 101 head for the client: the replica's headers as they are (its Upgrade, Connection and
 * Sec-WebSocket-* are the handshake), less its own X-Request-Id / X-Served-By, then the LB's.
 */
export function switchingHead(headers: readonly string[], id: string, servedBy: string): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (let k = 0; k < headers.length; k += 2) {
    const lower = headers[k]!.toLowerCase();
    if (SET_BY_LB_DOWN.has(lower)) continue;
    head += `${headers[k]!}: ${headers[k + 1]!}\r\n`;
  }
  return `${head}x-request-id: ${id}\r\nx-served-by: ${servedBy}\r\n\r\n`;
}

/** How the answer's body is framed for the client. */
export type Framing = 'length' | 'chunked' | 'close' | 'none';

export interface DownstreamResponse {
  readonly status: number;
  /** [name, value, ...] as the replica sent them. */
  readonly headers: readonly string[];
  /** The LB's own headers: X-Request-Id and X-Served-By (forwarded requests only). */
  readonly id: string | undefined;
  readonly servedBy: string | undefined;
  readonly framing: Framing;
  readonly keepAlive: boolean;
}

/**
 * The response head for the client: the replica's headers without hop-by-hop ones and those
 * `Connection` lists (nor its own X-Request-Id / X-Served-By), then the LB's, the framing,
 * a Date when the replica sent none, and the connection's fate.
 */
export function responseHead(res: DownstreamResponse): string {
  const raw = res.headers;
  const listed = connectionListed(raw);
  const lbHeaders = res.servedBy !== undefined;
  let head = statusLine(res.status);
  let hasDate = false;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    const field = fieldOf(name);
    if (field !== Field.Other || listed !== undefined) {
      if (field === Field.HopByHop || field === Field.Upgrade) continue;
      if (listed?.has(name.toLowerCase())) continue;
      if (lbHeaders && (field === Field.XRequestId || field === Field.XServedBy)) continue;
      if (field === Field.Date) hasDate = true;
    }
    head += `${name}: ${raw[k + 1]!}\r\n`;
  }
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  if (lbHeaders) head += `x-request-id: ${res.id}\r\nx-served-by: ${res.servedBy}\r\n`;
  if (res.framing === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
  return head + (res.keepAlive ? KEEP_ALIVE : CLOSE);
}

/** Status lines of the codes Node names, made once (a number-keyed lookup and a concatenation less per answer); any other code's reason is `Unknown`. */
const STATUS_LINES: readonly (string | undefined)[] = (() => {
  const lines: (string | undefined)[] = [];
  for (const [code, reason] of Object.entries(STATUS_CODES)) lines[Number(code)] = `HTTP/1.1 ${code} ${reason}\r\n`;
  return lines;
})();

function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `HTTP/1.1 ${status} Unknown\r\n`;
}

/**
 * The end of a chunked body: the last chunk, then the trailer fields an HTTP/2 upstream sent
 * (gRPC's status, say), less those a trailer may not carry.
 */
export function trailerSection(trailers: readonly string[] | undefined): string {
  let section = '0\r\n';
  if (trailers) {
    for (let k = 0; k < trailers.length; k += 2) {
      if (isTrailerField(trailers[k]!)) section += `${trailers[k]!}: ${trailers[k + 1]!}\r\n`;
    }
  }
  return `${section}\r\n`;
}

/** A trailer field (lower case) the LB passes on: none that describes the connection or the framing. */
export function isTrailerField(name: string): boolean {
  return !HOP_BY_HOP.has(name) && name !== 'content-length';
}

/** The contract's error as a whole response: `lbHeaders` ([name, value, ...]) name the id and replica when known. */
export function failureResponse(error: LbError, lbHeaders: readonly string[], keepAlive: boolean): string {
  const body = JSON.stringify(failureBody(error));
  const headers = [
    'content-type',
    'application/json; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    ...lbHeaders,
  ];
  return (
    responseHead({ status: error.status, headers, id: undefined, servedBy: undefined, framing: 'length', keepAlive }) +
    body
  );
}

/** Header names (lower case) that a `Connection` header lists as hop-by-hop; undefined when there is none. */
export function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let k = 0; k < raw.length; k += 2) {
    const name = raw[k]!;
    if (!isName(name, 'connection')) continue;
    const value = raw[k + 1]!;
    // The usual value names a header that is hop-by-hop anyway: nothing more is dropped.
    if (isName(value, 'keep-alive')) continue;
    listed ??= new Set();
    for (const token of value.split(',')) listed.add(token.trim().toLowerCase());
  }
  return listed;
}

let dateText = '';
let dateSecond = -1;
/** The IMF-fixdate of now, computed once a second as Node's server does. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** What the head rules make of a field, by its name. */
enum Field {
  /** No rule names it: it goes through as it came (unless a Connection header lists it). */
  Other,
  /** RFC 9110 7.6.1 (HOP_BY_HOP), `Upgrade` aside. */
  HopByHop,
  Upgrade,
  Host,
  Date,
  Expect,
  XRequestId,
  XForwardedFor,
  XForwardedProto,
  XServedBy,
  Traceparent,
}

/**
 * The field a header name is, compared without case and without a lower-case copy: by length first,
 * as most names are none of these (a copy and a Set lookup per header cost a request's head a
 * string hash each).
 */
function fieldOf(name: string): Field {
  switch (name.length) {
    case 2:
      return isName(name, 'te') ? Field.HopByHop : Field.Other;
    case 4:
      return isName(name, 'host') ? Field.Host : isName(name, 'date') ? Field.Date : Field.Other;
    case 6:
      return isName(name, 'expect') ? Field.Expect : Field.Other;
    case 7:
      return isName(name, 'upgrade') ? Field.Upgrade : isName(name, 'trailer') ? Field.HopByHop : Field.Other;
    case 10:
      return isName(name, 'connection') || isName(name, 'keep-alive') ? Field.HopByHop : Field.Other;
    case 11:
      return isName(name, 'traceparent')
        ? Field.Traceparent
        : isName(name, 'x-served-by')
          ? Field.XServedBy
          : Field.Other;
    case 12:
      return isName(name, 'x-request-id') ? Field.XRequestId : Field.Other;
    case 15:
      return isName(name, 'x-forwarded-for') ? Field.XForwardedFor : Field.Other;
    case 16:
      return isName(name, 'proxy-connection') ? Field.HopByHop : Field.Other;
    case 17:
      return isName(name, 'transfer-encoding')
        ? Field.HopByHop
        : isName(name, 'x-forwarded-proto')
          ? Field.XForwardedProto
          : Field.Other;
    case 18:
      return isName(name, 'proxy-authenticate') ? Field.HopByHop : Field.Other;
    case 19:
      return isName(name, 'proxy-authorization') ? Field.HopByHop : Field.Other;
    default:
      return Field.Other;
  }
}
