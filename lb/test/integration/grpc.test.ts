import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type ClientHttp2Session, connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { grpcClient } from '../../../kit/src/grpc-client.js';
import { type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance, type DataPlaneInstance } from '../../src/lb.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { Ring, sha256 } from '../../src/routing/index.js';
import { modelRoutingId } from '../helpers/ring.js';

const quiet = pino({ level: 'silent' });
const H2C = { REPLICA_PROTOCOL: 'h2c', HASH_KEY: 'header:x-user' };
/** The replica's service, spoken through `address` (an LB). */
const echoVia = (url: string) => grpcClient('echo.proto', ['lb', 'v1', 'Echo'], new URL(url).host);
const userMetadata = (user: string) => {
  const metadata = new Metadata();
  metadata.set('x-user', user);
  return metadata;
};

interface GrpcError extends Error {
  code: number;
  details: string;
  metadata: Metadata;
}

/** One unary call with metadata and options; resolves to the reply or the error. */
function call<T>(
  client: Record<string, (...args: unknown[]) => void>,
  method: string,
  request: object,
  metadata: Metadata,
  options: object = {},
): Promise<{ reply?: T; error?: GrpcError }> {
  return new Promise((resolve) =>
    client[method]!(request, metadata, options, (error: GrpcError | null, reply: T) =>
      resolve(error ? { error } : { reply }),
    ),
  );
}

/** A bidirectional Chat: sends `texts`, then ends; what came back and the call's status. */
async function chat(
  client: { Chat(metadata: Metadata): NodeJS.EventEmitter & { write(m: object): boolean; end(): void } },
  user: string,
  texts: string[],
) {
  const stream = client.Chat(userMetadata(user));
  const got: string[] = [];
  stream.on('data', (message: { text: string }) => got.push(message.text));
  stream.on('error', () => undefined); // the status says it
  const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('status', resolve));
  for (const text of texts) stream.write({ text });
  stream.end();
  const final = await ended;
  return { got, status: final };
}

describe('gRPC through the LB to h2c replicas (REPLICA_PROTOCOL=h2c)', () => {
  let controller: RunningLb;
  let plane: DataPlaneInstance;
  let planeUrl = '';
  const clients: { close(): void }[] = [];
  const client = (url: string) => {
    const echo = echoVia(url);
    clients.push(echo);
    return echo;
  };

  before(async () => {
    controller = await startLb({ N: '3', ...H2C });
    const config = parseConfig(
      { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: controller.url, ...H2C },
      { driver: 'process' },
    );
    plane = createDataPlaneInstance(config, { log: quiet });
    planeUrl = await plane.start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await plane.stop();
    await controller.stop();
  });

  it('unary calls with a key in metadata reach the replica the ring model names: 1,000 keys through two LB instances', async () => {
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, controller.lb.manager.router.members);
    const via = [client(controller.url), client(planeUrl)];
    const users = Array.from({ length: 1000 }, (_, k) => (k % 10 === 0 ? String(500_000 + k) : `user-${k}`));
    for (let from = 0; from < users.length; from += 100) {
      await Promise.all(
        users.slice(from, from + 100).map(async (user) => {
          const want = model.lookup(modelRoutingId(user))!.name;
          for (const echo of via) {
            const { reply, error } = await call<{ server: string; key: string }>(
              echo,
              'Who',
              { key: user },
              userMetadata(user),
            );
            assert.equal(error, undefined);
            assert.deepEqual(reply, { server: want, key: user }, `user ${user}`);
          }
        }),
      );
    }
  });

  it("a bidirectional stream goes to the key's replica and back, message by message, ending with grpc-status 0", async () => {
    const echo = client(controller.url);
    const owner = (await call<{ server: string }>(echo, 'Who', { key: 'alice' }, userMetadata('alice'))).reply!.server;
    const { got, status: final } = await chat(echo, 'alice', ['hello', 'again', 'and again']);
    assert.deepEqual(got, [owner, 'hello', 'again', 'and again']);
    assert.equal(final.code, status.OK);
  });

  it('the dashboard counts HTTP/2 streams in flight per replica, and client connections by protocol', async () => {
    const echo = client(controller.url);
    const stream = echo.Chat(userMetadata('erin'));
    stream.on('error', () => undefined);
    const [greeting] = (await once(stream, 'data')) as [{ text: string }];
    type State = { replicas: { name: string; streams: number }[]; clients: { h1: number; h2: number } };
    const state = (await send(controller.url, 'GET', '/dashboard/state')).json as State;
    assert.equal(state.replicas.find((r) => r.name === greeting.text)?.streams, 1);
    assert.ok(state.clients.h2 >= 1 && state.clients.h1 >= 1, JSON.stringify(state.clients));
    stream.end();
    await waitFor(
      'the stream to end',
      async () => {
        const after = (await send(controller.url, 'GET', '/dashboard/state')).json as State;
        return after.replicas.every((r) => r.streams === 0) || undefined;
      },
      3000,
    );
  });

  it('streams 8 MiB each way on one call, with flow control, in order', async () => {
    const echo = client(planeUrl);
    const texts = Array.from({ length: 256 }, (_, k) => `${k}:`.padEnd(32 * 1024, String.fromCharCode(97 + (k % 26))));
    const { got, status: final } = await chat(echo, 'bulk', texts);
    assert.equal(final.code, status.OK);
    assert.equal(got.length, 257);
    assert.deepEqual(got.slice(1), texts);
  });

  it("passes the replica's grpc-status and grpc-message trailers after messages, with the LB's headers", async () => {
    const echo = client(controller.url);
    const { got, status: final } = await chat(echo, 'bob', ['one', 'fail:no such room: 42%']);
    assert.equal(got.length, 2); // the replica's name, then 'one'
    assert.equal(final.code, status.INVALID_ARGUMENT);
    assert.equal(final.details, 'no such room: 42%');
  });

  it('a raw HTTP/2 client sees the trailers as the replica sent them, and X-Served-By in the headers', async () => {
    const session: ClientHttp2Session = connect(controller.url);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/lb.v1.Echo/Nope',
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-user': 'carol',
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    const [headers] = (await once(stream, 'response')) as [Record<string, string>];
    stream.resume();
    await once(stream, 'close');
    session.close();
    // An unknown method: the replica's trailers-only answer (UNIMPLEMENTED), relayed as it is.
    assert.equal(headers[':status'], 200);
    assert.equal(headers['grpc-status'], String(status.UNIMPLEMENTED));
    assert.match(decodeURIComponent(headers['grpc-message']!), /Nope/);
    assert.match(headers['x-served-by']!, /^Server-\d$/);
  });

  it("a call's own deadline holds through the LB, and a longer one than UPSTREAM_TIMEOUT_MS is honoured", async () => {
    const lb = await startLb({ N: '1', UPSTREAM_TIMEOUT_MS: '400', ...H2C });
    try {
      const echo = client(lb.url);
      const short = await call(echo, 'Wait', { key: 'k', ms: 2000 }, userMetadata('k'), { deadline: Date.now() + 300 });
      assert.equal(short.error?.code, status.DEADLINE_EXCEEDED);
      // grpc-timeout (1.5 s here) replaces the LB's 400 ms.
      const long = await call<{ server: string }>(echo, 'Wait', { key: 'k', ms: 900 }, userMetadata('k'), {
        deadline: Date.now() + 1500,
      });
      assert.deepEqual(long.reply, { server: 'Server-1', key: 'k' });
      // With no deadline of its own, the call gets the LB's: DEADLINE_EXCEEDED, naming the replica.
      const none = await call(echo, 'Wait', { key: 'k', ms: 2000 }, userMetadata('k'));
      assert.equal(none.error?.code, status.DEADLINE_EXCEEDED);
      assert.equal(none.error?.details, 'Replica Server-1 failed: HEADERS_TIMEOUT');
    } finally {
      await lb.stop();
    }
  });

  it('a replica killed mid-stream ends the call UNAVAILABLE, naming it; the next call for the key fails over', async () => {
    const lb = await startLb({ N: '2', ...H2C });
    try {
      const echo = client(lb.url);
      const stream = echo.Chat(userMetadata('dave'));
      stream.on('error', () => undefined);
      const first = (await once(stream, 'data')) as [{ text: string }];
      const owner = first[0].text;
      const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('status', resolve));
      process.kill(lb.pid(owner), 'SIGKILL');
      const final = await ended;
      assert.equal(final.code, status.UNAVAILABLE, final.details);
      assert.match(final.details, new RegExp(`^Replica ${owner} broke off its answer: `));
      // Before the heartbeats notice: the call finds the dead replica refusing and goes to the other.
      const { reply, error } = await call<{ server: string }>(echo, 'Who', { key: 'dave' }, userMetadata('dave'));
      assert.equal(error, undefined);
      assert.notEqual(reply!.server, owner);
    } finally {
      await lb.stop();
    }
  });

  it('re-homing: after /add, exactly the calls whose key moved end (refused if unanswered, UNAVAILABLE if streaming); the rest go on', async () => {
    const lb = await startLb({ N: '2', REHOME_GRACE_MS: '50', ...H2C });
    try {
      const ringOf = (members: readonly ReplicaHandle[]) =>
        Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, members);
      const before = lb.lb.manager.router.members;
      const after = ringOf([...before, { name: 'Server-3', index: 3, url: 'http://unused' }]);
      const owner = (key: string) => ringOf(before).lookup(modelRoutingId(key))!.name;
      const keys = Array.from({ length: 200 }, (_, k) => `room-${k}`);
      const moved = keys.find((key) => after.lookup(modelRoutingId(key))!.name === 'Server-3')!;
      const stays = keys.find((key) => after.lookup(modelRoutingId(key))!.name === owner(key))!;
      const echo = client(lb.url);
      const open = (key: string) => {
        const stream = echo.Chat(userMetadata(key));
        const got: string[] = [];
        stream.on('data', (message: { text: string }) => got.push(message.text));
        stream.on('error', () => undefined);
        const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('status', resolve));
        return { stream, got, ended };
      };
      const [movedChat, staysChat] = [open(moved), open(stays)];
      await waitFor('both greetings', () => movedChat.got.length + staysChat.got.length === 2 || undefined, 5000);
      // A call for the moved key still waiting for its answer when the table changes.
      const waiting = call<{ server: string }>(echo, 'Wait', { key: moved, ms: 1500 }, userMetadata(moved));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await lb.call('POST', '/add', { n: 1 })).status, 200);
      const movedEnd = await movedChat.ended;
      assert.equal(movedEnd.code, status.UNAVAILABLE);
      assert.equal(movedEnd.details, `The key moved from replica ${owner(moved)}: call again`);
      // Refused before any answer: grpc-js sends it again by itself, and the new owner answers.
      const { reply, error } = await waiting;
      assert.equal(error, undefined, error?.details);
      assert.equal(reply!.server, 'Server-3');
      // The call whose key did not move goes on.
      staysChat.stream.write({ text: 'still here' });
      await waitFor('the echo', () => staysChat.got.length === 2 || undefined, 5000);
      staysChat.stream.end();
      assert.equal((await staysChat.ended).code, status.OK);
      assert.deepEqual(staysChat.got, [owner(stays), 'still here']);
    } finally {
      await lb.stop();
    }
  });

  it('a reload that changes HASH_KEY ends exactly the streaming calls whose key moved; the rest go on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lb-grpc-reload-'));
    const file = join(dir, 'lb.yaml');
    await writeFile(file, 'hashKey: header:x-user\nrehomeGraceMs: 50\n');
    const lb = await startLb({ N: '3', REPLICA_PROTOCOL: 'h2c', LB_CONFIG: file });
    try {
      const ring = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
      const owner = (key: string) => ring.lookup(modelRoutingId(key))!.name;
      const echo = client(lb.url);
      const chats = Array.from({ length: 40 }, (_, k) => {
        const metadata = userMetadata(`user-${k}`);
        metadata.set('x-team', `team-${k}`);
        const stream = echo.Chat(metadata);
        const got: string[] = [];
        stream.on('data', (message: { text: string }) => got.push(message.text));
        stream.on('error', () => undefined);
        const ended = new Promise<{ code: number; details: string }>((resolve) => stream.on('status', resolve));
        let status: { code: number; details: string } | undefined;
        void ended.then((s) => (status = s));
        return { user: `user-${k}`, team: `team-${k}`, stream, got, ended, status: () => status };
      });
      await waitFor('every greeting', () => chats.every((c) => c.got.length === 1) || undefined, 5000);
      for (const chat of chats) assert.equal(chat.got[0], owner(chat.user));
      const moved = chats.filter((c) => owner(c.team) !== owner(c.user));
      assert.ok(moved.length > 5 && moved.length < 40, `${moved.length} of 40 keys moved`);

      await writeFile(file, 'hashKey: header:x-team\nrehomeGraceMs: 50\n');
      assert.equal((await lb.call('POST', '/config/reload')).json.message.version, 2);
      await waitFor('the moved calls to end', () => moved.every((c) => c.status() !== undefined) || undefined, 5000);
      const ends = await Promise.all(moved.map((c) => c.ended));
      for (const [k, end] of ends.entries()) {
        assert.equal(end.code, status.UNAVAILABLE);
        assert.equal(end.details, `The key moved from replica ${owner(moved[k]!.user)}: call again`);
      }
      await new Promise((r) => setTimeout(r, 200));
      const kept = chats.filter((c) => !moved.includes(c));
      assert.deepEqual(
        kept.filter((c) => c.status() !== undefined).map((c) => c.user),
        [],
        'only the moved calls ended',
      );
      for (const chat of kept) chat.stream.write({ text: 'still here' });
      await waitFor('every echo', () => kept.every((c) => c.got.length === 2) || undefined, 5000);
      for (const chat of kept) chat.stream.end();
      for (const end of await Promise.all(kept.map((c) => c.ended))) assert.equal(end.code, status.OK);
    } finally {
      await lb.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the replicas are told to speak h2c and are watched by the gRPC health check: a killed one is replaced', async () => {
    const lb = await startLb({ N: '1', ...H2C });
    try {
      const before = lb.pid('Server-1');
      process.kill(before, 'SIGKILL');
      await waitFor(
        'the respawn',
        () => (lb.lb.manager.get('Server-1') && lb.pid('Server-1') !== before ? true : undefined),
        10_000,
      );
      const echo = client(lb.url);
      await waitFor(
        'the respawned replica to answer',
        async () => ((await call(echo, 'Who', { key: 'e' }, userMetadata('e'))).reply ? true : undefined),
        10_000,
      );
    } finally {
      await lb.stop();
    }
  });

  it('your own h2c replica: its trailers reach an HTTP/2 client as trailers and an HTTP/1.1 client in the last chunk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'h2c-replica-'));
    const script = join(dir, 'replica.mjs');
    await writeFile(script, OWN_H2C_REPLICA);
    const lb = await startLb({ N: '1', REPLICA_COMMAND: `${process.execPath} ${script} {port}`, ...H2C });
    try {
      const session = connect(lb.url);
      const stream = session.request({ ':path': '/data', 'x-user': 'gina' });
      stream.setEncoding('utf8');
      let text = '';
      stream.on('data', (chunk: string) => (text += chunk));
      const [trailers] = (await once(stream, 'trailers')) as [Record<string, string>];
      await once(stream, 'close');
      session.close();
      assert.equal(text, 'body from Server-1');
      assert.equal(trailers['x-checksum'], 'abc123');
      const raw = await rawExchange(
        new URL(lb.url),
        'GET /data HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n',
      );
      assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(raw, /\r\nTransfer-Encoding: chunked\r\n/);
      assert.ok(raw.endsWith('\r\n12\r\nbody from Server-1\r\n0\r\nx-checksum: abc123\r\n\r\n'), JSON.stringify(raw));
    } finally {
      await lb.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** What a raw HTTP/1.1 exchange got back, whole, once the LB closed the connection. */
async function rawExchange(url: URL, request: string): Promise<string> {
  const socket = netConnect(Number(url.port), url.hostname);
  socket.setEncoding('latin1');
  let got = '';
  socket.on('data', (chunk: string) => (got += chunk));
  socket.write(request);
  await once(socket, 'close');
  return got;
}

/**
 * A user's own h2c replica (node:http2): the gRPC health check's SERVING, and for anything else a
 * body and a trailer.
 */
const OWN_H2C_REPLICA = `
import { createServer } from 'node:http2';
const server = createServer();
server.on('stream', (stream, headers) => {
  stream.resume();
  const health = headers[':path'] === '/grpc.health.v1.Health/Check';
  stream.respond({ ':status': 200, 'content-type': health ? 'application/grpc' : 'text/plain' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(health ? { 'grpc-status': '0' } : { 'x-checksum': 'abc123' }));
  // SERVING: a gRPC message of 2 bytes, field 1 = 1.
  stream.end(health ? Buffer.from([0, 0, 0, 0, 2, 8, 1]) : 'body from ' + process.env.SERVER_ID);
});
server.listen(Number(process.argv[2]), '127.0.0.1');
`;
