import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AdmittedRequest } from '../../src/proxy/request.js';
import { requestIdFrom } from '../../src/proxy/request-id.js';
import { keyOf } from '../../src/proxy/routing-key.js';
import { routingIdOf } from '../../src/routing/index.js';
import { MAX_KEY_LENGTH, parseKeySources } from '../../src/routing/key-sources.js';
import { admittedRequest } from '../helpers/request.js';

/** The SPEC rule written out independently: digits are their value, anything else 6 bytes of SHA-256. */
function modelId(key: string): bigint {
  if (/^\d+$/.test(key)) return BigInt(key);
  return BigInt(`0x${createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex').slice(0, 12)}`);
}

const request = (over: Partial<AdmittedRequest> = {}) =>
  admittedRequest({ path: '/rooms/42/chat?room=lobby&x=1', ...over });
const sources = (text: string) => {
  const parsed = parseKeySources(text);
  assert.ok(typeof parsed !== 'string', parsed as string);
  return parsed;
};
const key = (text: string, over: Partial<AdmittedRequest> = {}, ip = '10.0.0.7') =>
  keyOf(sources(text), request(over), ip);

describe('routing id of a key (SPEC "Routing keys")', () => {
  it('digits are their integer value, exactly as an X-Request-Id (leading zeros, past 2^53)', () => {
    for (const text of ['0', '7', '007', '123456', '9007199254740991', '9007199254740993', '1'.repeat(40)]) {
      assert.equal(BigInt(routingIdOf(text)), BigInt(text), text);
      assert.equal(routingIdOf(text), requestIdFrom(text).key, `${text} routes as X-Request-Id: ${text}`);
    }
  });

  it('any other key is the first 6 bytes of SHA-256 of its UTF-8 bytes, big-endian', () => {
    assert.equal(routingIdOf('user-42'), 0x6d894aa3ee80);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64, unit: 'binary' }), (text) => {
        assert.equal(BigInt(routingIdOf(text)), modelId(text));
      }),
    );
  });
});

describe('HASH_KEY sources', () => {
  it('parses the list in order, names as given (header names lower-cased)', () => {
    assert.deepEqual(sources('header:X-Tenant, cookie:sid,query:room,path,segment:2,client-ip,request-id'), [
      { kind: 'header', name: 'x-tenant' },
      { kind: 'cookie', name: 'sid' },
      { kind: 'query', name: 'room' },
      { kind: 'path' },
      { kind: 'segment', n: 2 },
      { kind: 'client-ip' },
      { kind: 'request-id' },
    ]);
  });

  it('refuses unknown sources, empty names, segment:0 and names on sources that take none', () => {
    for (const [text, says] of [
      ['host', "unknown key source 'host'"],
      ['header:', "'header:NAME' needs a name"],
      ['cookie', "'cookie:NAME' needs a name"],
      ['segment:0', "'segment:N' needs N from 1 to 1000"],
      ['segment:x', "'segment:N' needs N from 1 to 1000"],
      ['path:x', "'path' takes no name"],
      ['header:a b', "'a b' is not a header name"],
      ['request-id,,path', "unknown key source ''"],
    ] as const) {
      const parsed = parseKeySources(text);
      assert.equal(typeof parsed, 'string', text);
      assert.ok((parsed as string).includes(says), `${text}: ${parsed}`);
    }
  });

  it('reads each source from the request', () => {
    assert.equal(key('header:x-tenant', { headers: ['Host', 'lb', 'X-Tenant', 'acme', 'x-tenant', 'other'] }), 'acme');
    assert.equal(key('cookie:sid', { headers: ['Cookie', 'a=1; sid=abc; b=2'] }), 'abc');
    assert.equal(key('cookie:sid', { headers: ['Cookie', 'sid="quoted value"'] }), 'quoted value');
    assert.equal(key('cookie:sid', { headers: ['cookie', 'a=1', 'Cookie', 'sid=second'] }), 'second');
    assert.equal(key('query:room'), 'lobby');
    assert.equal(key('query:ré', { path: '/?r%C3%A9=caf%C3%A9' }), 'café', 'name and value percent-decoded');
    assert.equal(key('path'), '/rooms/42/chat');
    assert.equal(key('segment:2'), '42');
    assert.equal(key('segment:3'), 'chat');
    assert.equal(key('client-ip'), '10.0.0.7');
    assert.equal(key('request-id', { requestId: '0042' }), '0042');
  });

  it('a source that yields nothing passes to the next; none yields: undefined', () => {
    const order = 'cookie:sid,query:room,request-id';
    assert.equal(key(order, { headers: ['Cookie', 'sid=s1'], requestId: '9' }), 's1');
    assert.equal(key(order, { requestId: '9' }), 'lobby');
    assert.equal(key(order, { path: '/p', requestId: '9' }), '9');
    assert.equal(key(order, { path: '/p', requestId: 'abc' }), undefined, 'a non-integer X-Request-Id is no key');
    assert.equal(key('segment:4'), undefined);
    assert.equal(key('segment:2', { path: '/rooms//chat' }), undefined, 'an empty segment');
  });

  it('malformed cookies, bad percent-encoding and over-long keys are no key from that source', () => {
    assert.equal(key('cookie:sid,path', { headers: ['Cookie', 'sid'] }), '/rooms/42/chat');
    assert.equal(key('cookie:sid,path', { headers: ['Cookie', ';;=;sid='] }), '/rooms/42/chat');
    assert.equal(key('query:room,path', { path: '/x?room=%E0%A4%A' }), '/x');
    assert.equal(key('query:room,path', { path: '/x?room' }), '/x');
    const long = 'k'.repeat(MAX_KEY_LENGTH + 1);
    assert.equal(key('header:x-k,path', { headers: ['x-k', long] }), '/rooms/42/chat');
    assert.equal(key('header:x-k', { headers: ['x-k', long.slice(1)] }), long.slice(1));
  });

  it('never throws on arbitrary cookies, queries and paths', () => {
    const all = sources('cookie:sid,query:q,segment:2,path');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (cookie, path) => {
        keyOf(all, request({ headers: ['Cookie', cookie], path: `/${path}` }), '::1');
      }),
    );
  });

  it('text past ASCII is hashed from its UTF-8 bytes, whichever source carries it (headers arrive one latin1 character a byte)', () => {
    const onWire = (text: string) => Buffer.from(text, 'utf8').toString('latin1'); // what the parser hands over
    const want = modelId('café');
    const ids = [
      key('header:x-key', { headers: ['X-Key', onWire('café')] }),
      key('cookie:room', { headers: ['Cookie', `a=1; room=${onWire('café')}`] }),
      key('query:k', { path: '/x?k=caf%C3%A9' }),
      key('query:k', { path: `/x?k=${onWire('café')}` }),
      key('segment:2', { path: `/rooms/${onWire('café')}/chat` }),
    ].map((k) => BigInt(routingIdOf(k!)));
    assert.deepEqual(ids, Array(5).fill(want));
    assert.equal(BigInt(routingIdOf(key('path', { path: `/${onWire('日本')}` })!)), modelId('/日本'));
    // Bytes that are not UTF-8 are ISO-8859-1 characters, one a byte (as fetch sends 'é': 0xE9).
    const latin1 = Buffer.from([0x72, 0xe9, 0x73]).toString('latin1');
    assert.equal(key('header:x-key', { headers: ['X-Key', latin1] }), 'rés');
    assert.equal(key('query:k', { path: `/x?k=${latin1}` }), 'rés');
  });
});
