import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { type RunningLb, send, spawnLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { routingIdOf } from '../../src/routing/index.js';
import { rawExchange } from '../helpers/raw.js';

/** Every line of an access-log file, parsed (none when it is not there). */
function linesOf(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

/** The one line that `match` picks, once the LB wrote it (lines are written asynchronously). */
function lineWhere(file: string, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return waitFor('the access-log line', () => linesOf(file).find(match), 3000);
}

const FIELDS = [
  'time',
  'event',
  'client',
  'method',
  'path',
  'status',
  'bytesIn',
  'bytesOut',
  'durationMs',
  'requestId',
  'keySource',
  'routingId',
  'replica',
  'attempts',
  'passedOver',
  'traceId',
  'error',
  'closedBy',
  'protocol',
  'tls',
];

/** Every field, in order, and the clock fields sane; returns the line without them for deepEqual. */
function checked(line: Record<string, unknown>, since: number): Record<string, unknown> {
  assert.deepEqual(Object.keys(line), FIELDS);
  const time = Date.parse(line.time as string);
  assert.ok(time >= since - 5 && time <= Date.now(), `time ${line.time}`);
  assert.ok(typeof line.durationMs === 'number' && line.durationMs >= 0, `durationMs ${line.durationMs}`);
  const { time: _t, durationMs: _d, ...rest } = line;
  return rest;
}

/** A whole answer read off a raw connection that asks to be closed after it: its exact bytes. */
async function rawAnswer(port: number, request: string): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(request);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

describe('access log (ACCESS_LOG=<file>): one JSON line per request, tunnel and refused request', () => {
  let dir: string;
  let file: string;
  let lb: RunningLb;
  let port: number;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-access-'));
    file = join(dir, 'access.log');
    lb = await startLb({
      N: '3',
      ACCESS_LOG: file,
      HASH_KEY: 'cookie:sid,query:room,request-id',
      REQUEST_TIMEOUT_MS: '300',
      // Heartbeats too slow to notice the killed replica: the data plane finds out by itself.
      HEARTBEAT_INTERVAL_MS: '60000',
    });
    port = Number(new URL(lb.url).port);
  });
  after(async () => {
    await lb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a forwarded request: client, method, path, status, exact bytes, id, key source, replica, attempts', async () => {
    // The replica serves GET /home only: its 404 to this POST is the contract's 400.
    const since = Date.now();
    const answer = await rawAnswer(
      port,
      'POST /home?x=1 HTTP/1.1\r\nHost: lb\r\nX-Request-Id: 4242\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    const served = /x-served-by: (\S+)/i.exec(answer.toString('latin1'))![1]!;
    const line = await lineWhere(file, (l) => l.requestId === '4242');
    assert.deepEqual(checked(line, since), {
      event: 'request',
      client: '127.0.0.1',
      method: 'POST',
      path: '/home?x=1',
      status: 400,
      bytesIn: 5,
      bytesOut: answer.length,
      requestId: '4242',
      keySource: 'request-id',
      routingId: '4242',
      replica: served,
      attempts: [{ replica: served, failure: null }],
      passedOver: [],
      traceId: null,
      error: "'/home' endpoint does not exist in server replicas",
      closedBy: null,
      protocol: 'h1',
      tls: false,
    });
  });

  it('an HTTP/2 stream says so: protocol h2, and a refused one too', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const done = (stream: ReturnType<typeof session.request>) =>
      new Promise((resolve) => stream.on('close', resolve).resume());
    await done(session.request({ ':path': '/home', 'x-request-id': '8080' }));
    await done(session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' }));
    session.close();
    const line = await lineWhere(file, (l) => l.requestId === '8080');
    assert.deepEqual([line.event, line.status, line.protocol, line.tls], ['request', 200, 'h2', false]);
    const refused = await lineWhere(file, (l) => l.event === 'refused' && l.protocol === 'h2');
    assert.deepEqual([refused.status, refused.tls], [400, false]);
  });

  it('a cookie key is logged by its source and routing id, never by its value; the trace id is the client’s', async () => {
    const since = Date.now();
    const answer = await send(lb.url, 'GET', '/home', undefined, {
      cookie: 'theme=dark; sid=s3cr3t-session-value',
      'x-request-id': '777',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    assert.equal(answer.status, 200);
    const line = await lineWhere(file, (l) => l.requestId === '777');
    assert.equal(JSON.stringify(line).includes('s3cr3t'), false);
    const rest = checked(line, since);
    assert.equal(rest.keySource, 'cookie:sid');
    assert.equal(rest.routingId, String(routingIdOf('s3cr3t-session-value')));
    assert.equal(rest.replica, answer.headers.get('x-served-by'));
    assert.equal(rest.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it("a replica's 404 answered as the contract's 400, with the LB's message", async () => {
    const answer = await send(lb.url, 'GET', '/nowhere', undefined, { 'x-request-id': '9001' });
    assert.equal(answer.status, 400);
    const line = await lineWhere(file, (l) => l.requestId === '9001');
    assert.equal(line.status, 400);
    assert.equal(line.error, "'/nowhere' endpoint does not exist in server replicas");
    assert.equal(line.replica, answer.headers.get('x-served-by'));
    assert.deepEqual(line.attempts, [{ replica: line.replica, failure: null }]);
  });

  it('a head that never ends: 408, logged as refused with the reason', async () => {
    const before = linesOf(file).length;
    const { text } = await rawExchange(port, 'GET /home HTTP/1.1\r\nHost: lb\r\n', 1000, 3000);
    assert.match(text, /^HTTP\/1\.1 408 /);
    const line = await lineWhere(file, (l) => l.status === 408);
    assert.ok(linesOf(file).length > before);
    assert.deepEqual(
      { event: line.event, method: line.method, path: line.path, error: line.error, replica: line.replica },
      {
        event: 'refused',
        method: null,
        path: null,
        error: 'Request not received within 300 ms (REQUEST_TIMEOUT_MS)',
        replica: null,
      },
    );
  });

  it('a body that stops coming (to the LB’s own /add, which waits for it): 408 and the body bytes that came', async () => {
    const { text } = await rawExchange(
      port,
      'POST /add HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"n"',
      1000,
      3000,
    );
    assert.match(text, /^HTTP\/1\.1 408 /);
    const line = await lineWhere(file, (l) => l.path === '/add');
    assert.deepEqual(
      { event: line.event, status: line.status, bytesIn: line.bytesIn, replica: line.replica, error: line.error },
      {
        event: 'request',
        status: 408,
        bytesIn: 4,
        replica: null,
        error: 'Request not received within 300 ms (REQUEST_TIMEOUT_MS)',
      },
    );
  });

  it('a malformed request: 400, logged as refused with what was wrong', async () => {
    const { text } = await rawExchange(port, 'GET /home HTTP/1.1\r\nHost: lb\r\nBad Header\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400 /);
    const line = await lineWhere(file, (l) => l.event === 'refused' && l.status === 400 && l.protocol === 'h1');
    assert.match(line.error as string, /^Malformed HTTP request: /);
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.bytesOut, Buffer.byteLength(text, 'latin1'));
  });

  it('a tunnel: one line when it closes, with its key, replica, bytes each way and who closed it', async () => {
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/ws?room=blue`);
    const greeting = await once(ws, 'message');
    const server = JSON.parse(String(greeting[0])).server as string;
    ws.send('0123456789');
    await once(ws, 'message');
    ws.terminate(); // the client goes without a close handshake (after one, the replica closes first)
    await once(ws, 'close');
    const line = await lineWhere(file, (l) => l.event === 'tunnel');
    assert.deepEqual(
      {
        method: line.method,
        path: line.path,
        status: line.status,
        keySource: line.keySource,
        routingId: line.routingId,
        replica: line.replica,
        closedBy: line.closedBy,
      },
      {
        method: 'GET',
        path: '/ws?room=blue',
        status: 101,
        keySource: 'query:room',
        routingId: String(routingIdOf('blue')),
        replica: server,
        closedBy: 'client',
      },
    );
    // Client to replica: one masked 10-byte text frame (2 + 4 + 10 bytes).
    assert.equal(line.bytesIn, 16);
    // Replica to client: the greeting frame and the echo (2 + 10).
    assert.equal(line.bytesOut, 2 + Buffer.byteLength(String(greeting[0])) + 12);
  });

  it("a failover: the killed owner's attempt failed (refused), the next replica answered; then it is passed over", async () => {
    const owner = (await send(lb.url, 'GET', '/home', undefined, { 'x-request-id': '31337' })).headers.get(
      'x-served-by',
    )!;
    const ownerUrl = lb.lb.manager.router.members.find((m) => m.name === owner)!.url;
    process.kill(lb.pid(owner), 'SIGKILL');
    await waitFor('the owner to refuse connections', () => refuses(ownerUrl), 2000);
    const answer = await send(lb.url, 'GET', '/home', undefined, { 'x-request-id': '31337' });
    assert.equal(answer.status, 200);
    const next = answer.headers.get('x-served-by')!;
    assert.notEqual(next, owner);
    const line = await lineWhere(file, (l) => l.requestId === '31337' && l.replica === next);
    const attempts = line.attempts as { replica: string; failure: string | null }[];
    assert.deepEqual(attempts.at(-1), { replica: next, failure: null });
    assert.ok(
      attempts.some((a) => a.replica === owner && a.failure === 'refused'),
      JSON.stringify(attempts),
    );
    for (const attempt of attempts.slice(0, -1)) assert.ok(['stale', 'refused', 'reset'].includes(attempt.failure!));
    assert.deepEqual(line.passedOver, []);

    // Within a second of its failure the owner is a suspect: passed over, not tried.
    const again = await send(lb.url, 'GET', '/home', undefined, { 'x-request-id': '31337' });
    assert.equal(again.headers.get('x-served-by'), next);
    await waitFor(
      'both lines',
      () => linesOf(file).filter((l) => l.requestId === '31337').length === 3 || undefined,
      3000,
    );
    const second = linesOf(file).filter((l) => l.requestId === '31337')[2]!;
    assert.deepEqual(second.attempts, [{ replica: next, failure: null }]);
    assert.deepEqual(second.passedOver, [{ replica: owner, reason: 'suspect' }]);
  });
});

/** True once nothing listens at `url` any more (a connection is refused). */
function refuses(url: string): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' || undefined));
  });
}

/** The bundle started with `env` that must refuse to start: its exit code and what it printed. */
function failedStart(env: Record<string, string>): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, ['dist/lb.js'], {
    env: { ...process.env, PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: run.status, stderr: run.stderr };
}

describe('access log file across SIGHUP (logrotate), a vanished directory, a full disk, a bad path', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-access-hup-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('after logrotate moves the file away, SIGHUP opens a new one; a directory that is gone does not stop forwarding', async () => {
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'access.log');
    const lb = await spawnLb({ N: '2', ACCESS_LOG: file });
    try {
      const get = async (id: string) => {
        const answer = await send(lb.url, 'GET', '/home', undefined, { 'x-request-id': id });
        assert.equal(answer.status, 200);
      };
      await get('1');
      await lineWhere(file, (l) => l.requestId === '1');
      await rename(file, `${file}.1`); // logrotate's move
      await get('2');
      await lineWhere(`${file}.1`, (l) => l.requestId === '2'); // still the open file
      process.kill(lb.pid, 'SIGHUP');
      await waitFor('the new file', () => existsSync(file) || undefined, 3000);
      await get('3');
      await lineWhere(file, (l) => l.requestId === '3');
      assert.equal(
        linesOf(`${file}.1`).some((l) => l.requestId === '3'),
        false,
      );

      // The directory goes: the reopen fails, is said once, and forwarding goes on.
      await rm(logs, { recursive: true });
      process.kill(lb.pid, 'SIGHUP');
      await waitFor(
        'the reopen failure',
        () => /access log: write or reopen failed/.test(lb.output()) || undefined,
        3000,
      );
      for (const id of ['4', '5', '6']) await get(id);
      await mkdir(logs);
      process.kill(lb.pid, 'SIGHUP');
      await get('7');
      await lineWhere(file, (l) => l.requestId === '7');
      assert.equal(await lb.stop(), 0);
    } finally {
      await lb.stop();
    }
  });

  it('two workers append to one file: every line whole, one per request', { timeout: 60_000 }, async () => {
    const file = join(dir, 'workers.log');
    const lb = await spawnLb({ N: '2', LB_WORKERS: '2', ACCESS_LOG: file });
    try {
      const total = 6000;
      for (let k = 0; k < total; k += 200) {
        await Promise.all(
          Array.from({ length: 200 }, (_, j) =>
            send(lb.url, 'GET', '/home', undefined, { 'x-request-id': String(k + j) }).then((a) =>
              assert.equal(a.status, 200),
            ),
          ),
        );
      }
      await lb.stop();
      const ids = linesOf(file).map((line) => line.requestId); // throws on a torn line
      assert.equal(ids.length, total);
      assert.equal(new Set(ids).size, total);
    } finally {
      await lb.stop();
    }
  });

  it('a log that fails every write (a full disk: /dev/full) costs lines, counted, not requests', async () => {
    const lb = await spawnLb({ N: '2', ACCESS_LOG: '/dev/full' });
    try {
      for (let id = 1; id <= 20; id++) {
        const answer = await send(lb.url, 'GET', '/home', undefined, { 'x-request-id': String(id) });
        assert.equal(answer.status, 200);
      }
      const errors = await waitFor(
        'lb_access_log_errors_total',
        async () => {
          const text = (await send(lb.url, 'GET', '/metrics')).text;
          const value = Number(/^lb_access_log_errors_total (\d+)/m.exec(text)?.[1] ?? 0);
          return value > 0 ? value : undefined;
        },
        3000,
      );
      assert.ok(errors > 0);
      assert.equal((lb.output().match(/access log: write or reopen failed/g) ?? []).length, 1);
    } finally {
      await lb.stop();
    }
  });

  it('a path that cannot be opened stops the LB at start, naming it', async () => {
    const bad = join(dir, 'no-such-dir', 'access.log');
    const { status, stderr } = failedStart({ N: '1', ACCESS_LOG: bad });
    assert.equal(status, 1);
    assert.equal(stderr.trim(), `lb: cannot start: ACCESS_LOG: cannot open ${bad} for appending: ENOENT`);
  });
});
