import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../kit/src/cli.js';
import { type RunningLb, startLb } from '../../kit/src/lb.js';
import { Ring, routingIdOf, sha256 } from '../../lb/src/routing/index.js';
import { CommandError, parseCommand } from '../src/commands.js';

/** The client with stdin piped (not a terminal). */
const client = (args: string[], lbUrl: string, stdin = '') => runCli('client/src/main.ts', args, lbUrl, stdin);

describe('client command parsing', () => {
  it('maps words to requests', () => {
    assert.deepEqual(parseCommand('rep'), { kind: 'request', method: 'GET', path: '/rep' });
    assert.deepEqual(parseCommand('  add 2 S5 S6 '), {
      kind: 'request',
      method: 'POST',
      path: '/add',
      body: { n: 2, hostnames: ['S5', 'S6'] },
    });
    assert.deepEqual(parseCommand('del 1'), {
      kind: 'request',
      method: 'DELETE',
      path: '/rm',
      body: { n: 1, hostnames: [] },
    });
    assert.deepEqual(parseCommand('rm 1 S5'), {
      kind: 'request',
      method: 'DELETE',
      path: '/rm',
      body: { n: 1, hostnames: ['S5'] },
    });
    assert.deepEqual(parseCommand('a/b'), { kind: 'request', method: 'GET', path: '/a/b' });
    assert.deepEqual(parseCommand('/heartbeat'), { kind: 'request', method: 'GET', path: '/heartbeat' });
    assert.deepEqual(parseCommand('QUIT'), { kind: 'exit' });
    assert.deepEqual(parseCommand('home --key user-42'), {
      kind: 'request',
      method: 'GET',
      path: '/home',
      headers: { 'x-key': 'user-42' },
    });
    assert.deepEqual(parseCommand('rooms/7 --header Cookie:sid=abc --header X-Tenant:acme'), {
      kind: 'request',
      method: 'GET',
      path: '/rooms/7',
      headers: { cookie: 'sid=abc', 'x-tenant': 'acme' },
    });
    assert.deepEqual(parseCommand('ws /ws?room=42 hi there --key r42'), {
      kind: 'tunnel',
      path: '/ws?room=42',
      messages: ['hi', 'there'],
      headers: { 'x-key': 'r42' },
    });
    assert.deepEqual(parseCommand('add 1 Big --weight 2'), {
      kind: 'request',
      method: 'POST',
      path: '/add',
      body: { n: 1, hostnames: ['Big'], weight: 2 },
    });
    assert.deepEqual(parseCommand(''), { kind: 'empty' });
  });

  it('refuses malformed commands with a usage hint', () => {
    assert.throws(() => parseCommand('add'), new CommandError('missing <n>: add <n> [name ...] [--weight w]'));
    assert.throws(
      () => parseCommand('add two'),
      new CommandError("<n> must be a whole number, got 'two': add <n> [name ...] [--weight w]"),
    );
    assert.throws(
      () => parseCommand('add 1 --weight'),
      new CommandError("--weight needs a whole number, got '': add <n> [name ...] [--weight w]"),
    );
    assert.throws(() => parseCommand('home --key'), new CommandError('--key needs a value: --key K'));
    assert.throws(
      () => parseCommand('ws'),
      new CommandError('missing <path>: ws <path> [message ...] (e.g. ws /ws?room=42)'),
    );
    assert.throws(
      () => parseCommand('home --header nocolon'),
      new CommandError("--header needs Name:value, got 'nocolon'"),
    );
    assert.throws(
      () => parseCommand('home user-42'),
      new CommandError("home takes no words but its options, got 'user-42' (type help)"),
    );
    assert.throws(
      () => parseCommand('del -1'),
      new CommandError("<n> must be a whole number, got '-1': del <n> [name ...]"),
    );
    assert.throws(() => parseCommand('frobnicate now'), new CommandError("unknown command 'frobnicate' (type help)"));
    // A bare word is a command: a typo is said, never sent as a GET.
    assert.throws(
      () => parseCommand('reps'),
      new CommandError(
        "unknown command 'reps': did you mean 'rep'? a path to GET starts with /, e.g. /reps (type help)",
      ),
    );
    assert.throws(
      () => parseCommand('frobnicate'),
      new CommandError("unknown command 'frobnicate': a path to GET starts with /, e.g. /frobnicate (type help)"),
    );
  });
});

describe('client against a real LB', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '3', HASH_KEY: 'header:x-key,request-id' });
  });
  after(() => lb.stop());

  it('one-shot `rep` prints plain JSON when piped and exits 0', async () => {
    const run = await client(['rep'], lb.url);
    assert.equal(run.code, 0);
    assert.equal(
      run.stdout,
      '{"message":{"N":3,"replicas":["Server-1","Server-2","Server-3"]},"status":"successful"}\n',
    );
    assert.equal(run.stderr, '');
  });

  it('one-shot with an LB error exits 1 and prints the error body', async () => {
    const run = await client(['add', '1', 'Server-1'], lb.url);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '{"message":"<Error> Hostname \'Server-1\' already exists","status":"failure"}\n');
  });

  it('a malformed command exits 1 with a clear message and sends nothing', async () => {
    const run = await client(['add', 'x'], lb.url);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, "error: <n> must be a whole number, got 'x': add <n> [name ...] [--weight w]\n");
  });

  it('an unknown word (a typo) exits 1, says so and sends nothing', async () => {
    const before = Number(/^lb_requests_total\S* (\d+)/m.exec((await lb.call('GET', '/metrics')).text)?.[1] ?? 0);
    const run = await client(['frobnicate'], lb.url);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      "error: unknown command 'frobnicate': a path to GET starts with /, e.g. /frobnicate (type help)\n",
    );
    const after = Number(/^lb_requests_total\S* (\d+)/m.exec((await lb.call('GET', '/metrics')).text)?.[1] ?? 0);
    assert.equal(after, before, 'nothing was forwarded');
  });

  it('a down LB gives a clear message and exit 1', async () => {
    const run = await client(['rep'], 'http://127.0.0.1:1');
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'error: cannot reach the load balancer at http://127.0.0.1:1 (ECONNREFUSED)\n');
  });

  it('reads a script from stdin, runs every line, and exits 1 if any failed', async () => {
    const run = await client([], lb.url, 'add 1 S9\nrep\nbogus words here\n/nope\ndel 1 S9\nrep\n');
    assert.equal(run.code, 1);
    assert.deepEqual(run.stdout.trim().split('\n'), [
      '{"message":{"N":4,"replicas":["Server-1","Server-2","Server-3","S9"]},"status":"successful"}',
      '{"message":{"N":4,"replicas":["Server-1","Server-2","Server-3","S9"]},"status":"successful"}',
      '{"message":"<Error> \'/nope\' endpoint does not exist in server replicas","status":"failure"}',
      '{"message":{"N":3,"replicas":["Server-1","Server-2","Server-3"]},"status":"successful"}',
      '{"message":{"N":3,"replicas":["Server-1","Server-2","Server-3"]},"status":"successful"}',
    ]);
    assert.equal(run.stderr, "error: unknown command 'bogus' (type help)\n");
  });

  it('a clean script exits 0; `exit` stops reading', async () => {
    const run = await client([], lb.url, 'home\nexit\nbogus words\n');
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^\{"message":"Hello from Server: Server-[123]","status":"successful"\}\n$/);
  });

  it('home --key sends a routing key: the same key, the same replica, the one the ring model names', async () => {
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
    for (const key of ['user-42', 'room 7', 'tenant-acme']) {
      const run = await client([], lb.url, `home --key ${key.replace(' ', '_')}\n`.repeat(3));
      assert.equal(run.code, 0, run.stderr);
      const want = model.lookup(routingIdOf(key.replace(' ', '_')))!.name;
      assert.deepEqual(
        run.stdout.trim().split('\n'),
        Array(3).fill(`{"message":"Hello from Server: ${want}","status":"successful"}`),
      );
    }
  });

  it('plan add 1 S5 shows what that /add would move, changing nothing; owner <key> names the replica that answers it', async () => {
    const run = await client(['plan', 'add', '1', 'S5'], lb.url);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout).message;
    assert.deepEqual(plan.replicas, ['Server-1', 'Server-2', 'Server-3', 'S5']);
    assert.ok(plan.movedRatio > 0.1 && plan.movedRatio < 0.5, `${plan.movedRatio}`);
    assert.deepEqual(
      plan.moved.map((r: { now: string }) => r.now).filter((now: string) => now !== 'S5'),
      [],
      'only S5 gains keys',
    );
    assert.deepEqual((await lb.call('GET', '/rep')).json.message.replicas, ['Server-1', 'Server-2', 'Server-3']);
    const rm = await client(['plan', 'rm', '1', 'Server-2'], lb.url);
    assert.deepEqual(JSON.parse(rm.stdout).message.replicas, ['Server-1', 'Server-3']);
    const refused = await client(['plan', 'add', '1', 'Server-1'], lb.url);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '{"message":"<Error> Hostname \'Server-1\' already exists","status":"failure"}\n');
    const owner = await client(['owner', 'user-42'], lb.url);
    const served = await client([], lb.url, 'home --key user-42\n');
    assert.equal(
      served.stdout.trim(),
      `{"message":"Hello from Server: ${JSON.parse(owner.stdout).message.replica}","status":"successful"}`,
    );
    const what = await client(['plan', 'grow', '1'], lb.url);
    assert.deepEqual([what.code, what.stderr.trim()], [1, 'error: plan what? plan add|rm <n> [name ...] [--weight w]']);
  });

  it("ws opens a tunnel on the key's replica, sends each message and prints what comes back", async () => {
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
    const run = await client([], lb.url, 'ws /ws hello there --key user-42\n');
    assert.equal(run.code, 0, run.stderr);
    const want = model.lookup(routingIdOf('user-42'))!.name;
    assert.deepEqual(run.stdout.trim().split('\n'), [`{"server":"${want}"}`, 'hello', 'there']);
  });
});

describe('client against an LB of gRPC replicas (REPLICA_PROTOCOL=h2c)', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '3', REPLICA_PROTOCOL: 'h2c', HASH_KEY: 'header:x-key' });
  });
  after(() => lb.stop());

  it("grpc <key> calls lb.v1.Echo/Who through the LB and prints the key's replica, the one the ring model names", async () => {
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
    const run = await client([], lb.url, 'grpc user-42\ngrpc tenant-acme\n');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.stdout.trim().split('\n'),
      ['user-42', 'tenant-acme'].map((key) => JSON.stringify({ server: model.lookup(routingIdOf(key))!.name, key })),
    );
  });

  it('a gRPC error is one line with its status, exit 1', async () => {
    await lb.call('DELETE', '/rm', { n: 3 });
    const run = await client(['grpc', 'k'], lb.url);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'error: UNAVAILABLE (14): No server replica is available\n');
  });

  it('a down LB gives the same clear message as for HTTP, exit 1', async () => {
    const run = await client(['grpc', 'k'], 'http://127.0.0.1:1');
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'error: cannot reach the load balancer at http://127.0.0.1:1 (ECONNREFUSED)\n');
  });

  it('grpc without a key, or with two, is refused with a usage hint', () => {
    for (const line of ['grpc', 'grpc a b'])
      assert.throws(
        () => parseCommand(line),
        new CommandError('grpc takes one key: grpc <key> [options] (e.g. grpc alice)'),
      );
  });
});
