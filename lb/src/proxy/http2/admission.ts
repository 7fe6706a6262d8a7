import { LbError } from '../../contract/errors.js';
import type { AdmittedRequest } from '../request.js';

/** Headers HTTP/2 forbids in a request (RFC 9113 8.2.2); nghttp2 refuses them first, this is the LB's own word. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * One HTTP/2 stream's request as the data plane knows it: its pseudo-headers become the method,
 * path and authority (the Host an HTTP/1 replica gets); its other headers are kept in order, with
 * split `cookie` fields joined into one (RFC 9113 8.2.3), as an HTTP/1 hop needs them.
 * `rawHeaders` is [name, value, ...] as node:http2 gives them; `ended`: the HEADERS frame ended the stream.
 */
export function admitStream(rawHeaders: readonly string[], ended: boolean): AdmittedRequest | LbError {
  let method = '';
  let path = '';
  let authority: string | undefined;
  const headers: string[] = [];
  const cookies: string[] = [];
  let length: string | undefined;
  let requestId: string | undefined;
  for (let k = 0; k < rawHeaders.length; k += 2) {
    const name = rawHeaders[k]!;
    const value = rawHeaders[k + 1]!;
    if (name.startsWith(':')) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name))
      return new LbError('BAD_REQUEST', `Malformed HTTP/2 request: ${name} is a connection-specific header`);
    if (name === 'cookie') {
      cookies.push(value);
      continue;
    }
    if (name === 'content-length') length ??= value;
    if (name === 'x-request-id') requestId ??= value;
    headers.push(name, value);
  }
  if (method === 'CONNECT')
    return new LbError('BAD_REQUEST', 'CONNECT is not served: this load balancer is no forward proxy');
  if (!path.startsWith('/'))
    return new LbError('BAD_REQUEST', `Malformed HTTP/2 request: :path must start with / (got '${path}')`);
  if (cookies.length > 0) headers.push('cookie', cookies.join('; '));
  const hasBody = !ended && length !== '0';
  return {
    method,
    path,
    headers,
    host: authority,
    versionMinor: 1,
    keepAlive: true,
    hasBody,
    // An HTTP/1 replica needs the body framed: by its length when the client gave one, else chunked.
    chunked: hasBody && length === undefined,
    expectsContinue: false,
    requestId,
    upgrade: false,
  };
}
