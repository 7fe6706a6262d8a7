import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { monotonicMs } from '../../src/clock.js';
import { LbError } from '../../src/contract/errors.js';
import type { ReplicaHandle } from '../../src/membership/replica.js';
import { Deadlines } from '../../src/proxy/deadlines.js';
import { Exchange, type ExchangeHost } from '../../src/proxy/exchange.js';
import { UpstreamPool } from '../../src/proxy/http1/pool.js';
import { type ClientSide, Relay } from '../../src/proxy/http1/relay.js';
import type { AdmittedRequest } from '../../src/proxy/request.js';
import { admittedRequest } from '../helpers/request.js';

/** A raw TCP "replica" answering each request with the bytes `script` gives (or not at all). */
type Script = (socket: Socket, request: string) => void;

const SCRIPTS: Record<string, Script> = {
  ok: (s) =>
    s.write(
      'HTTP/1.1 201 Created\r\nx-app: 1\r\nconnection: x-app2\r\nx-app2: hidden\r\nx-served-by: fake\r\ncontent-length: 2\r\n\r\nhi',
    ),
  missing: (s) => s.write('HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope'),
  reset: (s) => s.destroy(),
  broken: (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart');
    setTimeout(() => s.destroy(), 10);
  },
  hang: () => undefined,
  // One byte more than its Content-Length, then a second answer nobody asked for.
  overlong: (s) =>
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxyHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'),
  // A whole second answer nobody asked for, in the same write as the first.
  twice: (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nz'),
  // The first bytes of a second answer in the same write, its rest a moment later.
  trailing: (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxHTTP/1.1 20');
    setTimeout(() => s.writable && s.write('0 OK\r\ncontent-length: 1\r\n\r\nz'), 5);
  },
  garbage: (s) => s.write('HTTP/1.1 2x0 OK\r\n\r\n'),
  // A switch of protocols nobody asked for.
  switching: (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'),
  chunked: (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
};

const servers = new Map<string, { server: Server; url: string; requests: string[]; sockets: number; closed: number }>();
const deadlines = new Deadlines(20);

before(async () => {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    const entry = { server: createServer(), url: '', requests: [] as string[], sockets: 0, closed: 0 };
    entry.server.on('connection', (socket) => {
      entry.sockets++;
      socket.on('error', () => undefined);
      socket.on('close', () => entry.closed++);
      socket.on('data', (data) => {
        entry.requests.push(data.toString('latin1'));
        script(socket, data.toString('latin1'));
      });
    });
    await new Promise<void>((r) => entry.server.listen(0, '127.0.0.1', r));
    entry.url = `http://127.0.0.1:${(entry.server.address() as { port: number }).port}`;
    servers.set(name, entry);
  }
  // A port nobody listens on: connections are refused.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  servers.set('refused', { server: closed, url: `http://127.0.0.1:${port}`, requests: [], sockets: 0, closed: 0 });
});
after(() => {
  for (const { server } of servers.values()) server.close();
  deadlines.close();
});

/** A request forwarded to the replicas: a relay whose strategy is the exchange. */
const forward = (host: ExchangeHost, client: ClientSide, request: AdmittedRequest): Relay =>
  new Relay(client, request, new Exchange(host, client, request));

const replica = (name: string): ReplicaHandle => ({ name, index: 1, url: servers.get(name)!.url });

/** A host whose failover order is `order`, recording what the exchange tells it. */
class FakeHost implements ExchangeHost {
  readonly log: string[] = [];
  private readonly pools = new Map<string, UpstreamPool>();
  readonly pass404 = false;
  constructor(private readonly order: string[]) {}
  keyOf() {
    return undefined;
  }
  keySourceOf() {
    return undefined;
  }
  streamOpened() {}
  streamEnded() {}
  tunnel() {
    throw new Error('no tunnels here');
  }
  pool(target: ReplicaHandle): UpstreamPool {
    let pool = this.pools.get(target.name);
    if (!pool) {
      const url = new URL(target.url);
      pool = new UpstreamPool(
        { host: url.hostname, port: Number(url.port) },
        { maxConnections: 4, connectTimeoutMs: 500, responseTimeoutMs: 300, idleTimeoutMs: 5000 },
        deadlines,
      );
      this.pools.set(target.name, pool);
    }
    return pool;
  }
  began(name: string) {
    this.log.push(`began ${name}`);
  }
  settled(name: string) {
    this.log.push(`settled ${name}`);
  }
  answered(name: string, code: number) {
    this.log.push(`answered ${name} ${code}`);
  }
  failed(name: string, error: Error) {
    this.log.push(`failed ${name} ${(error as { code?: string }).code}`);
  }
  choose(_key: unknown, tried?: ReadonlySet<string>) {
    const name = this.order.find((n) => !tried?.has(n));
    return name === undefined ? undefined : replica(name);
  }
  unavailable() {
    this.log.push('unavailable');
    return new LbError('NO_REPLICA');
  }
  busy(name: string) {
    this.log.push(`busy ${name}`);
    return new LbError('REPLICA_BUSY', `${name} busy`);
  }
  close() {
    for (const pool of this.pools.values()) pool.close();
  }
}

/** Collects what the exchange writes to the client. */
class FakeClient implements ClientSide {
  readonly clientIp = '10.1.2.3';
  readonly observers = { requestLog: undefined, tracer: undefined };
  text = '';
  aborted = false;
  readonly done: Promise<boolean>;
  private resolve!: (keepAlive: boolean) => void;
  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }
  write(data: string | Buffer) {
    this.text += typeof data === 'string' ? data : data.toString('latin1');
    return true;
  }
  answered(keepAlive: boolean) {
    this.resolve(keepAlive);
  }
  keepsAlive(requestKeepAlive: boolean) {
    return requestKeepAlive;
  }
  abort() {
    this.aborted = true;
    this.resolve(false);
  }
  pauseBody() {}
  resumeBody() {}
  switchProtocols(): never {
    throw new Error('no tunnels here');
  }
}

/** A client whose buffer is always full: every write says "wait for drain" (which never comes). */
class SlowClient extends FakeClient {
  override write(data: string | Buffer) {
    super.write(data);
    return false;
  }
}

const GET = admittedRequest({ path: '/home?q=1', requestId: '42' });
const POST: AdmittedRequest = { ...GET, method: 'POST', headers: ['Host', 'lb', 'content-length', '4'], hasBody: true };

function run(order: string[], request: AdmittedRequest = GET, body?: string) {
  const host = new FakeHost(order);
  const client = new FakeClient();
  const exchange = forward(host, client, request);
  exchange.start();
  if (body !== undefined) exchange.onRequestBody(Buffer.from(body));
  if (request.hasBody) exchange.onRequestComplete();
  return { host, client, exchange };
}

const answer = (text: string) => {
  const [head, body] = text.split('\r\n\r\n');
  const [status, ...lines] = head!.split('\r\n');
  return { status: status!, headers: lines, body: body ?? '' };
};

describe('Exchange (scripted raw replicas, fake client and host)', () => {
  it('relays an answer with the LB headers and the replica headers filtered; the request carries id and client', async () => {
    const { host, client } = run(['ok']);
    assert.equal(await client.done, true);
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 201 Created');
    assert.deepEqual(
      res.headers.filter((h) => !h.startsWith('Date:')),
      [
        'x-app: 1',
        'content-length: 2',
        'x-request-id: 42',
        'x-served-by: ok',
        'Connection: keep-alive',
        'Keep-Alive: timeout=72',
      ],
    );
    assert.equal(res.body, 'hi');
    assert.deepEqual(host.log, ['began ok', 'answered ok 201', 'settled ok']);
    assert.equal(
      servers.get('ok')!.requests.at(-1),
      'GET /home?q=1 HTTP/1.1\r\nHost: lb\r\nx-request-id: 42\r\nx-forwarded-for: 10.1.2.3\r\n\r\n',
    );
    host.close();
  });

  it("turns a replica's 404 into the contract's 400", async () => {
    const { host, client } = run(['missing']);
    await client.done;
    while (host.log.length < 3) await new Promise((r) => setTimeout(r, 5)); // the 404's body is read after the answer
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 400 Bad Request');
    assert.deepEqual(JSON.parse(res.body), {
      message: "<Error> '/home' endpoint does not exist in server replicas",
      status: 'failure',
    });
    assert.deepEqual(host.log, ['began missing', 'answered missing 400', 'settled missing']);
    host.close();
  });

  it('sends a bodiless GET on to the next replica when one refuses or resets before answering', async () => {
    const { host, client } = run(['refused', 'reset', 'ok']);
    await client.done;
    assert.match(client.text, /^HTTP\/1\.1 201 Created\r\n/);
    assert.match(client.text, /x-served-by: ok\r\n/);
    assert.deepEqual(host.log, [
      'began refused',
      'settled refused',
      'failed refused ECONNREFUSED',
      'began reset',
      'settled reset',
      'failed reset ECONNRESET',
      'began ok',
      'answered ok 201',
      'settled ok',
    ]);
    host.close();
  });

  it('never sends a POST twice: a failure is a 502 naming the replica', async () => {
    const { host, client } = run(['reset', 'ok'], POST, 'data');
    await client.done;
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 502 Bad Gateway');
    assert.deepEqual(JSON.parse(res.body), { message: '<Error> Replica reset failed: ECONNRESET', status: 'failure' });
    assert.ok(res.headers.includes('x-served-by: reset'));
    assert.equal(host.log.filter((l) => l.startsWith('began')).length, 1);
    host.close();
  });

  it('every replica answered a GET wrongly (garbage, an unasked 101): a 502 that says how each one failed', async () => {
    const { host, client } = run(['garbage', 'switching', 'refused']);
    await client.done;
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 502 Bad Gateway');
    assert.deepEqual(JSON.parse(res.body), {
      message:
        '<Error> Every replica failed this request: garbage sent an invalid answer (HPE_INVALID_STATUS: Invalid status code), switching switched protocols without being asked (101), refused refused the connection',
      status: 'failure',
    });
    assert.ok(!res.headers.includes('x-served-by'), 'no one replica answered');
    host.close();
  });

  it('answers the contract 503 when every replica failed a GET', async () => {
    const { host, client } = run(['refused', 'reset']);
    await client.done;
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 503 Service Unavailable');
    assert.deepEqual(JSON.parse(res.body), { message: '<Error> No server replica is available', status: 'failure' });
    assert.equal(host.log.at(-1), 'unavailable');
    host.close();
  });

  it('a small answer broken off is a 502, not a short body', async () => {
    const { host, client } = run(['broken']);
    await client.done;
    const res = answer(client.text);
    assert.equal(res.status, 'HTTP/1.1 502 Bad Gateway');
    assert.match(JSON.parse(res.body).message, /^<Error> Replica broken broke off its answer: \S+$/);
    host.close();
  });

  it('a replica that does not answer in time is a failure (HEADERS_TIMEOUT), then the next one answers', async () => {
    const { host, client } = run(['hang', 'ok']);
    await client.done;
    assert.match(client.text, /x-served-by: ok/);
    assert.ok(host.log.includes('failed hang HEADERS_TIMEOUT'));
    host.close();
  });

  it('bytes beyond Content-Length close the pooled connection instead of desynchronising it', async () => {
    const entry = servers.get('overlong')!;
    const before = entry.sockets;
    const host = new FakeHost(['overlong']);
    for (let k = 0; k < 2; k++) {
      const client = new FakeClient();
      const exchange = forward(host, client, GET);
      exchange.start();
      await client.done;
      assert.equal(answer(client.text).body, 'x');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(entry.sockets - before, 2, 'each exchange needed a new connection');
    host.close();
  });

  for (const name of ['twice', 'trailing']) {
    it(`an answer nobody asked for after a whole one closes the pooled connection (${name})`, {
      timeout: 5000,
    }, async () => {
      const entry = servers.get(name)!;
      const before = entry.sockets;
      const host = new FakeHost([name]);
      for (let k = 0; k < 2; k++) {
        const client = new FakeClient();
        forward(host, client, GET).start();
        await client.done;
        assert.equal(answer(client.text).body, 'x', 'each request gets its own answer, never the extra one');
        await new Promise((r) => setTimeout(r, 30));
      }
      assert.equal(entry.sockets - before, 2, 'each exchange needed a new connection');
      host.close();
    });
  }

  it('a malformed status line is a failure of that replica (BAD_RESPONSE)', async () => {
    const { host, client } = run(['garbage', 'ok']);
    await client.done;
    assert.match(client.text, /x-served-by: ok/);
    assert.match(host.log.join(' '), /failed garbage BAD_RESPONSE/);
    host.close();
  });

  it('a connection paused for a slow client at its last piece reads again for the next exchange', {
    timeout: 5000,
  }, async () => {
    const host = new FakeHost(['chunked']);
    try {
      const slow = new SlowClient();
      forward(host, slow, GET).start();
      assert.equal(await slow.done, true);
      assert.match(slow.text, /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
      // The client's drain comes after the exchange is over; the pooled connection must not stay paused.
      const next = new FakeClient();
      forward(host, next, GET).start();
      const outcome = await Promise.race([
        next.done.then(() => 'answered'),
        new Promise((r) => setTimeout(() => r('no answer within 2 s'), 2000)),
      ]);
      assert.equal(outcome, 'answered');
      assert.equal(servers.get('chunked')!.sockets, 1, 'the second exchange reused the pooled connection');
    } finally {
      host.close();
    }
  });

  it('an idle connection the deadline sweep closed is never handed out, even before its close event (a stalled LB resuming)', {
    timeout: 5000,
  }, async () => {
    const host = new FakeHost(['ok']);
    const exchangeOn = () => {
      const client = new FakeClient();
      forward(host, client, GET).start();
      return client;
    };
    assert.equal(await exchangeOn().done, true); // its connection is now idle in the pool
    const sockets = servers.get('ok')!.sockets;
    // After a stall, the overdue sweep and a new request run in one turn of the event loop.
    deadlines.sweep(monotonicMs() + 60_000);
    const next = exchangeOn();
    const done = await Promise.race([next.done, new Promise((r) => setTimeout(() => r('no answer within 1 s'), 1000))]);
    assert.equal(done, true);
    assert.equal(answer(next.text).status, 'HTTP/1.1 201 Created');
    assert.equal(servers.get('ok')!.sockets, sockets + 1, 'on a new connection');
    host.close();
  });

  it('a client that leaves closes the replica connection', async () => {
    const entry = servers.get('hang')!;
    const { host, exchange } = run(['hang']);
    await new Promise((r) => setTimeout(r, 50));
    const open = entry.sockets - entry.closed;
    assert.ok(open >= 1);
    exchange.cancel();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(entry.sockets - entry.closed, open - 1, 'the replica saw its connection close');
    assert.deepEqual(host.log, ['began hang', 'settled hang']);
    host.close();
  });
});
