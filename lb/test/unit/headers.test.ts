import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentLength, downstreamHeaders, upstreamHeaders } from '../../src/proxy/headers.js';
import { requestIdFrom } from '../../src/proxy/request-id.js';

const buffers = (...items: string[]) => items.map((s) => Buffer.from(s, 'latin1'));

describe('forwarded headers', () => {
  it('upstream: drops hop-by-hop and Connection-listed headers, sets the id, appends the client to X-Forwarded-For', () => {
    const raw = [
      'Host', 'lb', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'Keep-Alive', 'timeout=5', 'TE', 'trailers',
      'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authorization', 'p', 'X-Request-Id', '007',
      'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'Accept', '*/*',
    ];
    assert.deepEqual(upstreamHeaders(raw, '7', '127.0.0.1'), [
      'Host', 'lb', 'Accept', '*/*', 'x-request-id', '7', 'x-forwarded-for', '10.0.0.1, 10.0.0.2, 127.0.0.1',
    ]);
  });

  it('downstream: drops hop-by-hop, Connection-listed and LB-owned headers, keeps repeated ones, names the replica', () => {
    const raw = buffers(
      'Content-Type', 'text/plain', 'Connection', 'close, X-Internal', 'X-Internal', 'i', 'Set-Cookie', 'a=1',
      'Set-Cookie', 'b=2', 'X-Served-By', 'spoofed', 'X-Request-Id', '999', 'Transfer-Encoding', 'chunked',
    );
    assert.deepEqual(downstreamHeaders(raw, '42', 'Server-2'), [
      'Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-request-id', '42', 'x-served-by', 'Server-2',
    ]);
  });

  it('reads Content-Length in any case, undefined when absent', () => {
    assert.equal(contentLength(buffers('content-type', 'x', 'CONTENT-LENGTH', '12')), 12);
    assert.equal(contentLength(buffers('transfer-encoding', 'chunked')), undefined);
  });
});

describe('request ids', () => {
  it('keeps a non-negative integer in canonical form, exactly beyond 2^53', () => {
    assert.deepEqual(requestIdFrom('123456'), { text: '123456', key: 123456 });
    assert.deepEqual(requestIdFrom('007'), { text: '7', key: 7 });
    assert.deepEqual(requestIdFrom('18446744073709551617'), { text: '18446744073709551617', key: 18446744073709551617n });
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
