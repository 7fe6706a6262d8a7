import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LbError } from '../../src/contract/errors.js';
import { admit, MAX_HEADER_FIELDS } from '../../src/proxy/http1/admission.js';
import type { Head } from '../../src/proxy/http1/parser.js';

const head = (over: Partial<Head> = {}): Head => ({
  versionMajor: 1,
  versionMinor: 1,
  headers: ['Host', 'lb'],
  method: 'GET',
  url: '/home',
  status: 0,
  statusMessage: '',
  upgrade: false,
  keepAlive: true,
  ...over,
});

/** The refusal as the client sees it: status and detail. */
function refused(over: Partial<Head>): [number, string] {
  const result = admit(head(over));
  assert.ok(result instanceof LbError, `expected a refusal, got ${JSON.stringify(result)}`);
  return [result.status, result.detail];
}

describe('admission (what the parser accepted that the LB still refuses)', () => {
  it('admits an ordinary GET: its path, no body, no Host override, its X-Request-Id', () => {
    const headers = ['Host', 'lb', 'X-Request-Id', '42', 'x-request-id', '7'];
    assert.deepEqual(admit(head({ headers })), {
      method: 'GET',
      path: '/home',
      headers,
      host: undefined,
      versionMinor: 1,
      keepAlive: true,
      hasBody: false,
      chunked: false,
      expectsContinue: false,
      requestId: '42',
      upgrade: false,
    });
  });

  it('refuses HTTP/0.9 (400) and HTTP/2+ in HTTP/1 syntax (505)', () => {
    assert.deepEqual(refused({ versionMajor: 0, versionMinor: 9 }), [400, 'HTTP/0.9 requests are not supported']);
    assert.deepEqual(refused({ versionMajor: 2, versionMinor: 0 }), [
      505,
      'HTTP/2.0 is not supported over HTTP/1 syntax',
    ]);
  });

  it('refuses more than MAX_HEADER_FIELDS fields (431) and admits exactly that many', () => {
    const fields = (n: number) => ['Host', 'lb', ...Array.from({ length: n - 1 }, (_, k) => [`x-${k}`, 'v']).flat()];
    assert.ok(!(admit(head({ headers: fields(MAX_HEADER_FIELDS) })) instanceof LbError));
    assert.deepEqual(refused({ headers: fields(MAX_HEADER_FIELDS + 1) }), [
      431,
      `Request has ${MAX_HEADER_FIELDS + 1} header fields; at most ${MAX_HEADER_FIELDS} are forwarded`,
    ]);
  });

  it('refuses CONNECT, asterisk-form and targets that are neither a path nor an absolute http URL', () => {
    assert.deepEqual(refused({ method: 'CONNECT', url: 'example.com:443' }), [
      400,
      'CONNECT is not supported: this load balancer is not a forward proxy',
    ]);
    assert.equal(refused({ method: 'OPTIONS', url: '*' })[0], 400);
    assert.match(refused({ method: 'OPTIONS', url: '*' })[1], /^Asterisk-form target '\*' is not forwarded/);
    for (const url of ['ftp://x/y', 'home', 'http:/x', 'http://', 'xhttp://h/p', 'http://h/p#fragment']) {
      assert.deepEqual(
        refused({ url }),
        [400, 'Request target must be a path (origin-form) or an absolute http URL'],
        url,
      );
    }
  });

  it('Host: one is required on HTTP/1.1, optional on HTTP/1.0, two are refused (any case)', () => {
    assert.deepEqual(refused({ headers: [] }), [400, 'HTTP/1.1 request has no Host header']);
    assert.ok(!(admit(head({ versionMinor: 0, headers: [] })) instanceof LbError));
    assert.deepEqual(refused({ headers: ['Host', 'a', 'HOST', 'b'] }), [400, 'Request has more than one Host header']);
    assert.deepEqual(refused({ versionMinor: 0, headers: ['host', 'a', 'host', 'b'] }), [
      400,
      'Request has more than one Host header',
    ]);
  });

  it('absolute-form becomes origin-form with its authority as Host (http or https, any case, with or without a path)', () => {
    const admitted = (url: string) => {
      const result = admit(head({ url }));
      assert.ok(!(result instanceof LbError));
      return [result.path, result.host];
    };
    assert.deepEqual(admitted('http://example.com:8080/a/b?c=1'), ['/a/b?c=1', 'example.com:8080']);
    assert.deepEqual(admitted('HTTPS://Example.com'), ['/', 'Example.com']);
    assert.deepEqual(admitted('http://h?q=1'), ['/?q=1', 'h']);
  });

  it('bodies: Content-Length above 0 or chunked; Expect: 100-continue only with a body on HTTP/1.1; other expectations 417', () => {
    const facts = (headers: string[], versionMinor = 1) => {
      const result = admit(head({ method: 'POST', headers: ['Host', 'lb', ...headers], versionMinor }));
      assert.ok(!(result instanceof LbError));
      return [result.hasBody, result.chunked, result.expectsContinue];
    };
    assert.deepEqual(facts(['Content-Length', '0']), [false, false, false]);
    assert.deepEqual(facts(['content-length', '5']), [true, false, false]);
    assert.deepEqual(facts(['Transfer-Encoding', 'chunked']), [true, true, false]);
    assert.deepEqual(facts(['Content-Length', '5', 'Expect', ' 100-Continue ']), [true, false, true]);
    assert.deepEqual(facts(['Content-Length', '0', 'Expect', '100-continue']), [false, false, false]);
    assert.deepEqual(facts(['Content-Length', '5', 'Expect', '100-continue'], 0), [true, false, false]);
    const expectation = 'x'.repeat(60);
    assert.deepEqual(refused({ headers: ['Host', 'lb', 'Expect', expectation] }), [
      417,
      `Expectation '${'x'.repeat(40)}' is not supported (only 100-continue)`,
    ]);
  });

  it('the first Content-Length, Expect and X-Request-Id count; header names are matched by length and case-insensitively', () => {
    const result = admit(
      head({
        headers: [
          'Host',
          'lb',
          'Content-Length',
          '0',
          'CONTENT-LENGTH',
          '9',
          'X-REQUEST-ID',
          '5',
          'X-Request-Idd',
          '6',
          'Hostx',
          'y',
        ],
      }),
    );
    assert.ok(!(result instanceof LbError));
    assert.equal(result.hasBody, false);
    assert.equal(result.requestId, '5');
  });

  it('headers of the same length as the ones it reads are not taken for them (Date, Accept, Content-Type, Accept-Charset, If-Modified-Since)', () => {
    const lookalikes = [
      'Date',
      'x',
      'Accept',
      '*/*',
      'Content-Type',
      'text/plain',
      'Accept-Charset',
      '9',
      'If-Modified-Since',
      'chunked',
    ];
    const headers = ['Host', 'lb', ...lookalikes];
    assert.deepEqual(admit(head({ method: 'POST', headers })), {
      method: 'POST',
      path: '/home',
      headers,
      host: undefined,
      versionMinor: 1,
      keepAlive: true,
      hasBody: false,
      chunked: false,
      expectsContinue: false,
      requestId: undefined,
      upgrade: false,
    });
  });
});
