import type { AdmittedRequest } from '../../src/proxy/request.js';

/** An admitted bodiless GET of /home on keep-alive HTTP/1.1, with `over` on top. */
export const admittedRequest = (over: Partial<AdmittedRequest> = {}): AdmittedRequest => ({
  method: 'GET',
  path: '/home',
  headers: ['Host', 'lb'],
  host: undefined,
  versionMinor: 1,
  keepAlive: true,
  hasBody: false,
  chunked: false,
  expectsContinue: false,
  requestId: undefined,
  upgrade: false,
  ...over,
});
