import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type RunningLb, replicasBody, startLb } from '../../../kit/src/lb.js';

const INITIAL = replicasBody(['Server-1', 'Server-2', 'Server-3']);

describe('hostile input on the admin API', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '3', REQUEST_TIMEOUT_MS: '1000' });
  });
  after(() => lb.stop());

  const unchanged = async () => assert.deepEqual((await lb.call('GET', '/rep')).json, INITIAL);

  const cases: [string, string, string | object, RegExp][] = [
    ['n = 1e309', '/add', '{"n": 1e309}', /'n' must be integer/],
    ['n negative', '/add', { n: -3 }, /n must be at least 1/],
    ['n float', '/rm', { n: 0.5 }, /'n' must be integer/],
    ['n huge', '/add', { n: 1e20 }, /Cannot add 100000000000000000000 replicas/],
    ['n huge on rm', '/rm', { n: 1e20 }, /n must be between 1 and 3/],
    ['n as array', '/add', { n: [1] }, /'n' must be integer/],
    ['path in a name', '/add', { n: 1, hostnames: ['../../etc/passwd'] }, /Invalid hostname '..\/..\/etc\/passwd'/],
    ['shell in a name', '/add', { n: 1, hostnames: ['$(rm -rf /)'] }, /Invalid hostname/],
    ['backticks', '/add', { n: 1, hostnames: ['`id`'] }, /Invalid hostname/],
    ['unicode name', '/add', { n: 1, hostnames: ['Sérvér'] }, /Invalid hostname 'S\?rv\?r'/],
    ['RTL override', '/add', { n: 1, hostnames: ['abc\u202Edef'] }, /Invalid hostname/],
    ['NUL in a name', '/add', { n: 1, hostnames: ['a\u0000b'] }, /Invalid hostname/],
    ['5,000-char name', '/add', { n: 1, hostnames: ['a'.repeat(5000)] }, /Invalid hostname 'a{40}\.\.\.'/],
    ['64-char name', '/rm', { n: 1, hostnames: ['a'.repeat(64)] }, /Invalid hostname/],
    ['__proto__ key', '/add', '{"n": 1, "__proto__": {"polluted": true}}', /unknown field '__proto__'/],
    [
      'constructor key',
      '/add',
      '{"n": 1, "constructor": {"prototype": {"polluted": true}}}',
      /unknown field 'constructor'/,
    ],
    ['nested 7,000 deep', '/add', `{"n": ${'['.repeat(7000)}${']'.repeat(7000)}}`, /'n' must be integer/],
    ['not JSON', '/rm', '{n: 1}', /not valid JSON/],
    ['JSON string', '/add', '"hello"', /body must be object/],
    ['JSON null', '/add', 'null', /body must be object/],
  ];
  for (const [what, path, body, message] of cases) {
    it(`${what}: 4xx with a clear message, nothing changes`, async () => {
      const started = Date.now();
      const res = await lb.call(path === '/add' ? 'POST' : 'DELETE', path, body);
      assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
      assert.equal(res.json.status, 'failure');
      assert.match(res.json.message, /^<Error> /);
      assert.match(res.json.message, message);
      assert.ok(Date.now() - started < 1000);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
      await unchanged();
    });
  }

  it('non-JSON content types get 415', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
    ]) {
      const res = await lb.call('POST', '/add', 'n=1', { 'content-type': type });
      assert.equal(res.status, 415, type);
      assert.deepEqual(res.json, { message: '<Error> Content-Type must be application/json', status: 'failure' });
    }
    await unchanged();
  });

  it('a slow body (slowloris) is cut off after REQUEST_TIMEOUT_MS and changes nothing', async () => {
    const { port } = new URL(lb.url);
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"n"',
        );
      });
      socket.on('data', () => undefined);
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', () => undefined);
    });
    assert.ok(closedAfter >= 900 && closedAfter < 5000, `closed after ${closedAfter} ms`);
    await unchanged();
  });

  it('fuzz: any admin payload gets 200 or a 4xx failure, never a 5xx; a 4xx changes nothing', async () => {
    const weirdName = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.constantFrom('Server-1', 'Server-2', 'x', '', ' ', '-a', 'a..b', 'S'.repeat(63)),
    );
    const payload = fc.oneof(
      fc.record(
        {
          n: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), fc.string(), fc.constant(null)),
          hostnames: fc.array(weirdName, { maxLength: 4 }),
        },
        { requiredKeys: [] },
      ),
      fc.record({ n: fc.integer({ min: 1, max: 2 }), hostnames: fc.array(weirdName, { minLength: 3, maxLength: 4 }) }),
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
      fc.jsonValue({ maxDepth: 4 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/add', '/rm'), payload, async (path, body) => {
        const res = await lb.call(path === '/add' ? 'POST' : 'DELETE', path, JSON.stringify(body));
        assert.ok(res.status < 500, `${res.status} for ${path} ${JSON.stringify(body)}: ${res.text}`);
        if (res.status === 200) {
          // A valid call slipped through: undo it so the next run starts from the same state.
          const current = res.json.message.replicas as string[];
          const extra = current.filter((n) => !INITIAL.message.replicas.includes(n));
          if (extra.length) await lb.call('DELETE', '/rm', { n: extra.length, hostnames: extra });
          const missing = 3 - (await lb.call('GET', '/rep')).json.message.N;
          if (missing > 0) await lb.call('POST', '/add', { n: missing });
          return;
        }
        assert.equal(res.json.status, 'failure');
        assert.match(res.json.message, /^<Error> /);
        await unchanged();
      }),
      { numRuns: 150 },
    );
  });
});
