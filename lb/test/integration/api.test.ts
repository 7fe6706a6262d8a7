import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { failureBody, type RunningLb, replicasBody, spawnLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { given, Ring } from '../../src/routing/index.js';

const FIXED_IDS = [
  0,
  1,
  7,
  42,
  100000,
  123456,
  271828,
  314159,
  500000,
  777777,
  999999,
  2 ** 40,
  ...Array.from({ length: 40 }, (_, k) => 100003 + k * 22501),
];
const model = (members: [number, string][]) =>
  Ring.of(
    { slots: 512, virtualServers: 9, hash: given },
    members.map(([index, name]) => ({ index, name })),
  );

/** Sends each id and checks the answering replica is the one the ring module names. */
async function assertRouting(
  lb: RunningLb,
  ring: Ring<{ index: number; name: string }>,
  ids: (number | bigint)[] = FIXED_IDS,
) {
  for (const id of ids) {
    const res = await lb.call('GET', '/home', undefined, { 'x-request-id': String(id) });
    const expected = ring.lookup(id)!.name;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-served-by'), expected, `id ${id}`);
    assert.equal(res.headers.get('x-request-id'), String(id));
    assert.deepEqual(res.json, { message: `Hello from Server: ${expected}`, status: 'successful' });
  }
}

describe('LB API with N = 3, given hash', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ HASH_FUNCTION: 'given', N: '3' });
  });
  after(() => lb.stop());

  const unchanged = async () => {
    const rep = await lb.call('GET', '/rep');
    assert.deepEqual(rep.json, replicasBody(['Server-1', 'Server-2', 'Server-3']), 'state must not change');
  };

  it('GET /rep lists the three initial replicas', async () => {
    const res = await lb.call('GET', '/rep');
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"message":{"N":3,"replicas":["Server-1","Server-2","Server-3"]},"status":"successful"}');
  });

  it('routes fixed request ids to the replica the ring module names', async () => {
    await assertRouting(
      lb,
      model([
        [1, 'Server-1'],
        [2, 'Server-2'],
        [3, 'Server-3'],
      ]),
    );
  });

  it('passes the request id through, canonical, and makes one up otherwise', async () => {
    const padded = await lb.call('GET', '/home', undefined, { 'x-request-id': '000123' });
    assert.equal(padded.headers.get('x-request-id'), '123');
    const huge = '123456789012345678901234567890';
    const big = await lb.call('GET', '/home', undefined, { 'x-request-id': huge });
    assert.equal(big.headers.get('x-request-id'), huge);
    assert.equal(
      big.headers.get('x-served-by'),
      model([
        [1, 'Server-1'],
        [2, 'Server-2'],
        [3, 'Server-3'],
      ]).lookup(BigInt(huge))!.name,
    );
    for (const bad of ['abc', '-5', '1.5', '12a', '0x10', '']) {
      const res = await lb.call('GET', '/home', undefined, { 'x-request-id': bad });
      const id = Number(res.headers.get('x-request-id'));
      assert.ok(Number.isInteger(id) && id >= 100000 && id <= 999999, `'${bad}' -> ${id}`);
    }
  });

  it('turns a replica 404 into the 400 error of the contract', async () => {
    const res = await lb.call('GET', '/other/path?x=1');
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, failureBody("<Error> '/other/path' endpoint does not exist in server replicas"));
    assert.ok(res.headers.get('x-served-by'));
  });

  it('passes a replica answer through with its headers', async () => {
    const res = await lb.call('GET', '/heartbeat', undefined, { 'x-request-id': '5' });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.equal(
      res.headers.get('x-served-by'),
      model([
        [1, 'Server-1'],
        [2, 'Server-2'],
        [3, 'Server-3'],
      ]).lookup(5)!.name,
    );
  });

  it('answers wrong methods on its own paths with 405 and never forwards them', async () => {
    for (const [method, path, allow] of [
      ['GET', '/add', 'POST'],
      ['POST', '/rep', 'GET'],
      ['GET', '/rm', 'DELETE'],
      ['PUT', '/metrics', 'GET'],
      ['POST', '/dashboard', 'GET'],
    ] as const) {
      const res = await lb.call(method, path);
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), allow);
      assert.equal(res.headers.get('x-served-by'), null);
      assert.equal(res.json.status, 'failure');
    }
  });

  it('serves the dashboard and its JSON state itself; unknown paths under it are 404, not forwarded', async () => {
    const page = await lb.call('GET', '/dashboard');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.text, /<title>Load balancer dashboard<\/title>/);
    const state = await lb.call('GET', '/dashboard/state');
    assert.deepEqual(
      state.json.replicas.map((r: { name: string }) => r.name),
      ['Server-1', 'Server-2', 'Server-3'],
    );
    assert.equal(state.json.layout.virtualServers.length, 27);
    const missing = await lb.call('GET', '/dashboard/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-served-by'), null);
    assert.deepEqual(missing.json, failureBody("<Error> '/dashboard/nope' does not exist on the load balancer"));
  });

  const badCalls: [string, string, unknown, number, string][] = [
    [
      'POST',
      '/add',
      { n: 1, hostnames: ['A', 'B'] },
      400,
      '<Error> Length of hostname list is more than newly added instances',
    ],
    [
      'DELETE',
      '/rm',
      { n: 1, hostnames: ['Server-1', 'Server-2'] },
      400,
      '<Error> Length of hostname list is more than removable instances',
    ],
    ['POST', '/add', { n: 0 }, 400, '<Error> n must be at least 1 (got 0)'],
    ['POST', '/add', { n: -2 }, 400, '<Error> n must be at least 1 (got -2)'],
    ['POST', '/add', { n: 1.5 }, 400, "<Error> Invalid request body: 'n' must be integer"],
    ['POST', '/add', { n: '2' }, 400, "<Error> Invalid request body: 'n' must be integer"],
    ['POST', '/add', { hostnames: [] }, 400, "<Error> Invalid request body: body must have required property 'n'"],
    ['POST', '/add', { n: 1, hostnames: 'S9' }, 400, "<Error> Invalid request body: 'hostnames' must be array"],
    ['POST', '/add', { n: 1, hostnames: [5] }, 400, "<Error> Invalid request body: 'hostnames.0' must be string"],
    [
      'POST',
      '/add',
      { n: 1, hostname: ['S9'] },
      400,
      "<Error> Invalid request body: body has unknown field 'hostname' (allowed: n, hostnames, weight)",
    ],
    [
      'DELETE',
      '/rm',
      { n: 1, weight: 2 },
      400,
      "<Error> Invalid request body: body has unknown field 'weight' (allowed: n, hostnames)",
    ],
    ['POST', '/add', [1], 400, '<Error> Invalid request body: body must be object'],
    ['POST', '/add', { n: Number.POSITIVE_INFINITY }, 400, "<Error> Invalid request body: 'n' must be integer"],
    ['POST', '/add', '{"n": 1e309}', 400, "<Error> Invalid request body: 'n' must be integer"],
    ['POST', '/add', { n: 0, hostnames: ['A'] }, 400, '<Error> n must be at least 1 (got 0)'],
    [
      'DELETE',
      '/rm',
      { n: 5, hostnames: ['Server-1', 'Server-2', 'Server-3', 'x', 'y', 'z'] },
      400,
      '<Error> Length of hostname list is more than removable instances',
    ],
    [
      'POST',
      '/add',
      { n: 1, hostnames: ['bad name'] },
      400,
      "<Error> Invalid hostname 'bad name': use 2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ],
    [
      'POST',
      '/add',
      { n: 1, hostnames: ['-x'] },
      400,
      "<Error> Invalid hostname '-x': use 2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ],
    [
      'POST',
      '/add',
      { n: 1, hostnames: ['W'] },
      400,
      "<Error> Invalid hostname 'W': use 2 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ],
    ['POST', '/add', { n: 2, hostnames: ['S9', 'S9'] }, 400, "<Error> Hostname 'S9' appears more than once"],
    ['POST', '/add', { n: 1, hostnames: ['Server-2'] }, 400, "<Error> Hostname 'Server-2' already exists"],
    ['POST', '/add', { n: 1, hostnames: ['server-2'] }, 400, "<Error> Hostname 'server-2' already exists"],
    ['POST', '/add', { n: 54 }, 400, '<Error> Cannot add 54 replicas: 3 exist and at most 56 fit (MAX_REPLICAS)'],
    ['DELETE', '/rm', { n: 4 }, 400, '<Error> n must be between 1 and 3 (the number of replicas), got 4'],
    ['DELETE', '/rm', { n: 0 }, 400, '<Error> n must be between 1 and 3 (the number of replicas), got 0'],
    [
      'DELETE',
      '/rm',
      { n: 1, hostnames: ['Server-9'] },
      400,
      "<Error> Hostname 'Server-9' is not a replica of this load balancer",
    ],
    [
      'DELETE',
      '/rm',
      { n: 2, hostnames: ['Server-1', 'Server-1'] },
      400,
      "<Error> Hostname 'Server-1' appears more than once",
    ],
  ];
  for (const [method, path, body, status, message] of badCalls) {
    it(`${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)} -> ${status} and nothing changes`, async () => {
      const res = await lb.call(method, path, body);
      assert.equal(res.status, status);
      assert.deepEqual(res.json, failureBody(message));
      await unchanged();
    });
  }

  it('refuses a non-JSON content type, an empty body and an oversized body', async () => {
    const text = await lb.call('POST', '/add', 'n=1', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.deepEqual(text.json, failureBody('<Error> Content-Type must be application/json'));
    const empty = await lb.call('POST', '/add', '', { 'content-type': 'application/json' });
    assert.equal(empty.status, 400);
    assert.deepEqual(empty.json, failureBody('<Error> Request body is empty; send a JSON object'));
    const huge = await lb.call('POST', '/add', { n: 1, hostnames: ['x'.repeat(20000)] });
    assert.equal(huge.status, 413);
    assert.deepEqual(huge.json, failureBody('<Error> Request body is too large'));
    const broken = await lb.call('POST', '/add', '{"n": 1');
    assert.equal(broken.status, 400);
    // The rest is V8's own wording, which differs between Node versions.
    assert.match(broken.json.message, /^<Error> Request body is not valid JSON: \S/);
    const proto = await lb.call('POST', '/add', '{"n": 1, "__proto__": {"x": 1}}');
    assert.equal(proto.status, 400);
    assert.deepEqual(
      proto.json,
      failureBody("<Error> Invalid request body: body has unknown field '__proto__' (allowed: n, hostnames, weight)"),
    );
    const nested = await lb.call('POST', '/add', `{"n": 1, "hostnames": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
    assert.equal(nested.status, 400);
    assert.deepEqual(nested.json, failureBody("<Error> Invalid request body: 'hostnames.0' must be string"));
    await unchanged();
  });

  it('serves /metrics in Prometheus text format', async () => {
    const res = await lb.call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain/);
    assert.match(res.text, /^lb_requests_total\{replica="Server-\d",code="200"\} \d+$/m);
    assert.match(res.text, /^lb_replicas\{state="healthy"\} 3$/m);
    assert.match(res.text, /^# TYPE lb_request_duration_seconds histogram$/m);
  });
});

describe('LB membership changes', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ HASH_FUNCTION: 'given', N: '3' });
  });
  after(() => lb.stop());

  it('/add names the given hosts first, generates Server-k for the rest, and routes by the new ring', async () => {
    const res = await lb.call('POST', '/add', { n: 2, hostnames: ['S5'] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, replicasBody(['Server-1', 'Server-2', 'Server-3', 'S5', 'Server-4']));
    await assertRouting(
      lb,
      model([
        [1, 'Server-1'],
        [2, 'Server-2'],
        [3, 'Server-3'],
        [4, 'S5'],
        [5, 'Server-4'],
      ]),
    );
  });

  it('/rm removes the named hosts, frees their index, and a new replica reuses it', async () => {
    const res = await lb.call('DELETE', '/rm', { n: 1, hostnames: ['Server-2'] });
    assert.deepEqual(res.json, replicasBody(['Server-1', 'Server-3', 'S5', 'Server-4']));
    await assertRouting(
      lb,
      model([
        [1, 'Server-1'],
        [3, 'Server-3'],
        [4, 'S5'],
        [5, 'Server-4'],
      ]),
    );
    const added = await lb.call('POST', '/add', { n: 1, hostnames: ['S9'] });
    assert.deepEqual(added.json, replicasBody(['Server-1', 'S9', 'Server-3', 'S5', 'Server-4']));
    await assertRouting(
      lb,
      model([
        [1, 'Server-1'],
        [2, 'S9'],
        [3, 'Server-3'],
        [4, 'S5'],
        [5, 'Server-4'],
      ]),
    );
  });

  it('/rm picks the rest at random among the others', async () => {
    const res = await lb.call('DELETE', '/rm', { n: 3, hostnames: ['S5'] });
    assert.equal(res.status, 200);
    assert.equal(res.json.message.N, 2);
    assert.ok(!res.json.message.replicas.includes('S5'));
    const rep = await lb.call('GET', '/rep');
    assert.deepEqual(rep.json, res.json);
  });

  it('with every replica removed, requests get 503 and /add brings service back', async () => {
    const rep = await lb.call('GET', '/rep');
    await lb.call('DELETE', '/rm', { n: rep.json.message.N });
    const down = await lb.call('GET', '/home');
    assert.equal(down.status, 503);
    assert.deepEqual(down.json, failureBody('<Error> No server replica is available'));
    const up = await lb.call('POST', '/add', { n: 1 });
    assert.deepEqual(up.json, replicasBody(['Server-1']));
    assert.equal((await lb.call('GET', '/home')).status, 200);
  });
});

describe('admin token', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '1', ADMIN_TOKEN: 's3cret' });
  });
  after(() => lb.stop());

  it('/add and /rm need the bearer token; /rep and forwarding do not', async () => {
    for (const auth of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cret' }] as Record<
      string,
      string
    >[]) {
      const res = await lb.call('POST', '/add', { n: 1 }, auth);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(
        res.json,
        failureBody('<Error> Missing or wrong admin token (send Authorization: Bearer <ADMIN_TOKEN>)'),
      );
      assert.equal((await lb.call('DELETE', '/rm', { n: 1 }, auth)).status, 401);
    }
    assert.equal((await lb.call('GET', '/rep')).json.message.N, 1);
    assert.equal((await lb.call('GET', '/home')).status, 200);
    const ok = await lb.call('POST', '/add', { n: 1 }, { authorization: 'Bearer s3cret' });
    assert.deepEqual(ok.json, replicasBody(['Server-1', 'Server-2']));
    // The scheme name is case-insensitive (RFC 9110 11.1).
    const lower = await lb.call('POST', '/add', { n: 1 }, { authorization: 'bearer s3cret' });
    assert.deepEqual(lower.json, replicasBody(['Server-1', 'Server-2', 'Server-3']));
    assert.equal(
      (await lb.call('DELETE', '/rm', { n: 1, hostnames: ['Server-3'] }, { authorization: 'BEARER s3cret' })).status,
      200,
    );
  });

  it('a removed replica takes its metric series with it', async () => {
    await lb.call('POST', '/add', { n: 1, hostnames: ['Passing'] }, { authorization: 'Bearer s3cret' });
    const id = [...Array(2000).keys()].find((k) => lb.lb.manager.router.lookup(k)?.name === 'Passing')!;
    assert.equal(
      (await lb.call('GET', '/home', undefined, { 'x-request-id': String(id) })).headers.get('x-served-by'),
      'Passing',
    );
    assert.match((await lb.call('GET', '/metrics')).text, /replica="Passing"/);
    await lb.call('DELETE', '/rm', { n: 1, hostnames: ['Passing'] }, { authorization: 'Bearer s3cret' });
    assert.doesNotMatch((await lb.call('GET', '/metrics')).text, /replica="Passing"/);
  });
});

describe('an open admin API is said at start', () => {
  const warning =
    /"level":40,.*"msg":"the admin API \(\/add, \/rm\) is open to every client that reaches 0\.0\.0\.0:\d+: set ADMIN_TOKEN"/;
  it('no ADMIN_TOKEN on an address other machines reach: a warning; with a token, or on loopback, none', async () => {
    for (const [env, warns] of [
      [{ HOST: '0.0.0.0' }, true],
      [{ HOST: '0.0.0.0', ADMIN_TOKEN: 's3cret' }, false],
      [{ HOST: '127.0.0.1' }, false],
    ] as const) {
      const lb = await spawnLb({ N: '0', ...env });
      try {
        await waitFor('the start to be logged', () => /listening on/.test(lb.output()) || undefined, 5000);
        assert.equal(warning.test(lb.output()), warns, JSON.stringify(env));
        assert.equal(/admin API .* is open/.test(lb.output()), warns, JSON.stringify(env));
      } finally {
        await lb.stop();
      }
    }
  });
});

describe('a port already in use', () => {
  it('stops the LB at start with one line naming PORT, before any replica starts', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const child = spawn(process.execPath, ['dist/lb.js'], {
        env: { ...process.env, PORT: String(port), N: '3', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (err += chunk));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.equal(
        err,
        `lb: failed to start: port ${port} on 127.0.0.1 is already in use: stop what holds it, or choose another with PORT\n`,
      );
      assert.doesNotMatch(out, /replica (added|started)/, 'no replica was started');
    } finally {
      holder.close();
    }
  });
});
