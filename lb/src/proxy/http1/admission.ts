import { LbError } from '../../contract/errors.js';
import { isName } from '../header-list.js';
import type { AdmittedRequest } from '../request.js';
import type { Head, ParseError } from './parser.js';

/** More header fields than this and a replica (node:http keeps 2,000 entries) could lose the LB's own. */
export const MAX_HEADER_FIELDS = 1000;

/**
 * What the parser accepted that the LB still refuses, as a client error (no replica is
 * blamed): requests it cannot forward (CONNECT, asterisk-form, HTTP/0.9 and 2+), and what
 * RFC 9112 requires a server to refuse (no Host on HTTP/1.1, more than one Host).
 */
export function admit(head: Head): AdmittedRequest | LbError {
  const { versionMajor: major, versionMinor: minor, method, url, headers } = head;
  if (major !== 1) {
    return major === 0
      ? new LbError('BAD_REQUEST', 'HTTP/0.9 requests are not supported')
      : new LbError('HTTP_VERSION_NOT_SUPPORTED', `HTTP/${major}.${minor} is not supported over HTTP/1 syntax`);
  }
  if (headers.length / 2 > MAX_HEADER_FIELDS) {
    return new LbError(
      'HEADERS_TOO_LARGE',
      `Request has ${headers.length / 2} header fields; at most ${MAX_HEADER_FIELDS} are forwarded`,
    );
  }
  if (method === 'CONNECT')
    return new LbError('BAD_REQUEST', 'CONNECT is not supported: this load balancer is not a forward proxy');
  const facts = scan(headers);
  if (facts.hosts > 1) return new LbError('BAD_REQUEST', 'Request has more than one Host header');
  if (facts.hosts === 0 && minor >= 1) return new LbError('BAD_REQUEST', 'HTTP/1.1 request has no Host header');
  const target = requestTarget(url);
  if (target instanceof LbError) return target;
  const { expect } = facts;
  if (expect !== undefined && expect.trim().toLowerCase() !== '100-continue') {
    return new LbError(
      'EXPECTATION_FAILED',
      `Expectation '${expect.slice(0, 40)}' is not supported (only 100-continue)`,
    );
  }
  // llhttp refused any Transfer-Encoding of a request that does not end in chunked.
  const chunked = facts.transferEncoding;
  const hasBody = chunked || (facts.contentLength !== undefined && Number(facts.contentLength) > 0);
  // Fields spelled out, not spread: one object shape on the hot path.
  return {
    method,
    path: target.path,
    headers,
    host: target.host,
    versionMinor: minor,
    keepAlive: head.keepAlive,
    hasBody,
    chunked,
    expectsContinue: expect !== undefined && hasBody && minor >= 1,
    requestId: facts.requestId,
    // llhttp saw `Connection: upgrade` and an `Upgrade` header: a tunnel is asked for (GET, as WebSocket).
    upgrade: head.upgrade && method === 'GET' && !hasBody,
  };
}

interface HeaderFacts {
  hosts: number;
  expect: string | undefined;
  transferEncoding: boolean;
  contentLength: string | undefined;
  requestId: string | undefined;
}

/** What admission and routing need from the headers, in one pass (this runs per request). */
function scan(headers: readonly string[]): HeaderFacts {
  const facts: HeaderFacts = {
    hosts: 0,
    expect: undefined,
    transferEncoding: false,
    contentLength: undefined,
    requestId: undefined,
  };
  for (let k = 0; k < headers.length; k += 2) {
    const name = headers[k]!;
    // Switch on length first: most headers are none of these.
    switch (name.length) {
      case 4:
        if (isName(name, 'host')) facts.hosts++;
        break;
      case 6:
        if (isName(name, 'expect')) facts.expect ??= headers[k + 1];
        break;
      case 12:
        if (isName(name, 'x-request-id')) facts.requestId ??= headers[k + 1];
        break;
      case 14:
        if (isName(name, 'content-length')) facts.contentLength ??= headers[k + 1];
        break;
      case 17:
        if (isName(name, 'transfer-encoding')) facts.transferEncoding = true;
        break;
    }
  }
  return facts;
}

/** Origin-form as is; absolute-form (RFC 9112 3.2.2) becomes origin-form with its authority as Host. */
function requestTarget(url: string): { path: string; host: string | undefined } | LbError {
  if (url.startsWith('/')) return { path: url, host: undefined };
  if (url === '*')
    return new LbError(
      'BAD_REQUEST',
      "Asterisk-form target '*' is not forwarded (OPTIONS * asks the LB itself; it has no options to tell)",
    );
  const absolute = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(url);
  if (!absolute)
    return new LbError('BAD_REQUEST', 'Request target must be a path (origin-form) or an absolute http URL');
  const rest = absolute[2]!;
  return { path: rest.startsWith('/') ? rest : `/${rest}`, host: absolute[1]! };
}

/** What node:http's server answers to a request llhttp refused, in the contract's shape. */
export function protocolError(error: ParseError): LbError {
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? 'BODY_TOO_LARGE'
        : 'BAD_REQUEST';
  return new LbError(status, `Malformed HTTP request: ${error.reason ?? error.code}`);
}
