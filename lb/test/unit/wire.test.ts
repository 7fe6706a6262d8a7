import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decimalOf, isName } from '../../src/proxy/header-list.js';
import { requestHead, responseHead } from '../../src/proxy/http1/wire.js';
import { requestIdFrom } from '../../src/proxy/request-id.js';

describe('forwarded heads', () => {
  it('request: drops hop-by-hop, Connection-listed and Expect headers, sets the id, appends the client to X-Forwarded-For', () => {
    const headers = [
      'Host',
      'lb',
      'Connection',
      'keep-alive, X-Secret',
      'X-Secret',
      's',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'Proxy-Authorization',
      'p',
      'X-Request-Id',
      '007',
      'Expect',
      '100-continue',
      'X-Forwarded-For',
      '10.0.0.1',
      'x-forwarded-for',
      '10.0.0.2',
      'Accept',
      '*/*',
    ];
    assert.equal(
      requestHead(
        { method: 'POST', path: '/home?x=1', headers, host: undefined, chunked: true, upgrade: false },
        '7',
        '127.0.0.1',
        'replica:1',
      ),
      'POST /home?x=1 HTTP/1.1\r\nHost: lb\r\nAccept: */*\r\ntransfer-encoding: chunked\r\n' +
        'x-request-id: 7\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\n\r\n',
    );
  });

  it("request: an absolute-form target replaces Host; no id for the LB's own routes", () => {
    assert.equal(
      requestHead(
        {
          method: 'GET',
          path: '/rep',
          headers: ['Host', 'ignored'],
          host: 'lb.example:5000',
          chunked: false,
          upgrade: false,
        },
        undefined,
        '::1',
        'replica:1',
      ),
      'GET /rep HTTP/1.1\r\nhost: lb.example:5000\r\nx-forwarded-for: ::1\r\n\r\n',
    );
  });

  it('request: an HTTP/1.0 request without Host gets the replica as Host', () => {
    assert.equal(
      requestHead(
        { method: 'GET', path: '/', headers: [], host: undefined, chunked: false, upgrade: false },
        '1',
        '::1',
        'replica:1',
      ),
      'GET / HTTP/1.1\r\nhost: replica:1\r\nx-request-id: 1\r\nx-forwarded-for: ::1\r\n\r\n',
    );
  });

  it('response: drops hop-by-hop, Connection-listed and LB-owned headers, keeps repeated ones, names the replica', () => {
    const headers = [
      'Content-Type',
      'text/plain',
      'Connection',
      'close, X-Internal',
      'X-Internal',
      'i',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Served-By',
      'spoofed',
      'X-Request-Id',
      '999',
      'Transfer-Encoding',
      'chunked',
      'Date',
      'D',
    ];
    assert.equal(
      responseHead({ status: 201, headers, id: '42', servedBy: 'Server-2', framing: 'chunked', keepAlive: true }),
      'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nDate: D\r\n' +
        'x-request-id: 42\r\nx-served-by: Server-2\r\nTransfer-Encoding: chunked\r\n' +
        'Connection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n',
    );
  });

  it('response: adds a Date when the replica sent none, and says close when the connection ends', () => {
    const head = responseHead({
      status: 200,
      headers: ['content-length', '0'],
      id: undefined,
      servedBy: undefined,
      framing: 'length',
      keepAlive: false,
    });
    assert.match(
      head,
      /^HTTP\/1\.1 200 OK\r\ncontent-length: 0\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\nConnection: close\r\n\r\n$/,
    );
  });
});

describe('request ids', () => {
  it('keeps a non-negative integer in canonical form, exactly beyond 2^53', () => {
    assert.deepEqual(requestIdFrom('123456'), { text: '123456', key: 123456 });
    assert.deepEqual(requestIdFrom('007'), { text: '7', key: 7 });
    assert.deepEqual(requestIdFrom('0'), { text: '0', key: 0 });
    assert.deepEqual(requestIdFrom('00'), { text: '0', key: 0 });
    assert.deepEqual(requestIdFrom('999999999999999'), { text: '999999999999999', key: 999999999999999 });
    assert.deepEqual(requestIdFrom('18446744073709551617'), {
      text: '18446744073709551617',
      key: 18446744073709551617n,
    });
    assert.deepEqual(requestIdFrom('0000000000000000042'), { text: '42', key: 42 });
  });

  it('draws a random id in [100000, 999999] for anything else', () => {
    for (const header of [undefined, '', '-1', '1.5', 'abc', ' 12', ['1', '2'], '9'.repeat(1025)]) {
      const id = requestIdFrom(header);
      assert.equal(typeof id.key, 'number');
      assert.ok((id.key as number) >= 100000 && (id.key as number) <= 999999, `${String(header)} -> ${id.text}`);
      assert.equal(id.text, String(id.key));
    }
  });
});

describe('header names and numbers, without copies', () => {
  it('isName: equal in any case, unequal in length or any character', () => {
    assert.equal(isName('Content-Length', 'content-length'), true);
    assert.equal(isName('CONNECTION', 'connection'), true);
    assert.equal(isName('Keep-Alive', 'keep-alive'), true);
    assert.equal(isName('connection', 'connection'), true);
    assert.equal(isName('connections', 'connection'), false);
    assert.equal(isName('connectio', 'connection'), false);
    assert.equal(isName('Content_Length', 'content-length'), false);
    assert.equal(isName('keep alive', 'keep-alive'), false);
    assert.equal(isName('x-request-ie', 'x-request-id'), false);
    // Only letters fold: '_' and '^' are token characters of their own, not '\x7f' and '~'.
    assert.equal(isName('X_User', 'x_user'), true);
    assert.equal(isName('X^Y', 'x^y'), true);
    assert.equal(isName('X^Y', 'x~y'), false);
  });

  it('decimalOf: what Number makes of a field of digits, NaN for anything else', () => {
    for (const text of ['0', '7', '63', '0063', '65536', '9007199254740991', '18446744073709551615', '']) {
      assert.equal(decimalOf(text), Number(text), text);
    }
    for (const text of ['6 3', '-1', '+1', '1e3', '0x10', '1.5', '5, 5', 'abc']) {
      assert.ok(Number.isNaN(decimalOf(text)), text);
    }
  });
});
