import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { type ClientHttp2Session, connect, constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeEchoReplica } from '../../../kit/src/echo-replica.js';
import { type RunningLb, send, startLb } from '../../../kit/src/lb.js';

const execFileAsync = promisify(execFile);

/** What one HTTP/2 stream got back. */
interface H2Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

function request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string | Buffer[],
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let answerHeaders: H2Answer['headers'] = {};
    let trailers: H2Answer['trailers'] = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answerHeaders = h;
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () =>
      resolve({ status, headers: answerHeaders, trailers, text: Buffer.concat(chunks).toString() }),
    );
    stream.on('error', reject);
    if (typeof body === 'string') stream.end(body);
    else if (body) {
      // Several DATA frames with no content-length: the replica gets it chunked.
      for (const piece of body) stream.write(piece);
      stream.end();
    }
  });
}

describe('HTTP/2 clients (prior knowledge, on the HTTP/1 port)', () => {
  let lb: RunningLb;
  let session: ClientHttp2Session;
  before(async () => {
    lb = await startLb({ HASH_KEY: 'header:x-user,request-id' });
    session = connect(lb.url);
  });
  after(async () => {
    session.close();
    await lb.stop();
  });

  it('serves a stream as HTTP/1.1 serves the same request: same replica for the same id, same body, LB headers', async () => {
    for (const id of ['123456', '7', '999999', '424242']) {
      const h2 = await request(session, { ':path': '/home', 'x-request-id': id });
      const h1 = await lb.call('GET', '/home', undefined, { 'x-request-id': id });
      assert.equal(h2.status, 200);
      assert.equal(h2.headers['x-request-id'], id);
      assert.equal(h2.headers['x-served-by'], h1.headers.get('x-served-by'), `id ${id}`);
      assert.deepEqual(JSON.parse(h2.text), h1.json);
      assert.equal(h2.headers.connection, undefined); // no connection-specific header reaches an HTTP/2 client
    }
  });

  it('curl --http2-prior-knowledge reaches the replica HTTP/1.1 reaches for the same key', async () => {
    for (const user of ['ada', 'grace', 'linus']) {
      const { stdout } = await execFileAsync('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-D',
        '-',
        '-w',
        '%{http_version}',
        '--http2-prior-knowledge',
        '-H',
        `x-user: ${user}`,
        `${lb.url}/home`,
      ]);
      const h1 = await lb.call('GET', '/home', undefined, { 'x-user': user });
      assert.equal(stdout.trim().split('\n').at(-1), '2');
      assert.equal(/^x-served-by: (\S+)/im.exec(stdout)?.[1], h1.headers.get('x-served-by'), user);
    }
  });

  it('/metrics counts client connections by protocol', async () => {
    const count = async (protocol: string) =>
      Number(
        new RegExp(`^lb_client_connections_total\\{protocol="${protocol}",tls="false"\\} (\\d+)$`, 'm').exec(
          (await lb.call('GET', '/metrics')).text,
        )?.[1] ?? 0,
      );
    const h2 = await count('h2');
    const other = connect(lb.url);
    await request(other, { ':path': '/home' });
    other.close();
    assert.equal(await count('h2'), h2 + 1);
    assert.ok((await count('h1')) >= 1); // the /metrics calls' own connection
  });

  it('chooses a replica for every stream of one connection by its own key', async () => {
    const users = Array.from({ length: 40 }, (_, k) => `user-${k}`);
    const answers = await Promise.all(users.map((user) => request(session, { ':path': '/home', 'x-user': user })));
    const servedBy = new Set(answers.map((answer) => answer.headers['x-served-by']));
    assert.ok(servedBy.size >= 2, `40 keys on one connection all went to ${[...servedBy]}`);
    for (const [k, user] of users.entries()) {
      const h1 = await lb.call('GET', '/home', undefined, { 'x-user': user });
      assert.equal(answers[k]!.headers['x-served-by'], h1.headers.get('x-served-by'), user);
    }
  });

  it("serves the LB's own paths and errors in the contract's JSON", async () => {
    const rep = await request(session, { ':path': '/rep' });
    assert.equal(rep.status, 200);
    assert.deepEqual(JSON.parse(rep.text), (await lb.call('GET', '/rep')).json);
    const other = await request(session, { ':path': '/other' });
    assert.equal(other.status, 400);
    assert.deepEqual(JSON.parse(other.text), {
      message: "<Error> '/other' endpoint does not exist in server replicas",
      status: 'failure',
    });
    const connectMethod = await request(session, { ':path': '/home', ':method': 'OPTIONS' });
    assert.equal(connectMethod.status, 400); // the replica has no OPTIONS route: its 404 is the contract's 400
  });

  it('answers a gRPC call with grpc-status 14 (UNAVAILABLE) naming the replica that does not speak h2c', async () => {
    const call = await request(
      session,
      {
        ':method': 'POST',
        ':path': '/lb.v1.Echo/Who',
        'content-type': 'application/grpc',
        te: 'trailers',
        'x-user': 'user-1',
      },
      [Buffer.from([0, 0, 0, 0, 0])],
    );
    assert.equal(call.status, 200);
    const status = call.headers['grpc-status'] ?? call.trailers['grpc-status'];
    const message = decodeURIComponent(String(call.headers['grpc-message'] ?? call.trailers['grpc-message']));
    assert.equal(status, '14');
    const h1 = await lb.call('GET', '/home', undefined, { 'x-user': 'user-1' });
    assert.equal(
      message,
      `Replica ${h1.headers.get('x-served-by')} does not speak h2c: a gRPC call cannot be relayed to it over HTTP/1.1`,
    );
  });

  it('fails a stream over to the next replica when its replica is dead, as an HTTP/1.1 GET', async () => {
    const key = 'user-failover';
    const owner = (await request(session, { ':path': '/home', 'x-user': key })).headers['x-served-by'] as string;
    process.kill(lb.pid(owner), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50)); // its port refuses now
    const answer = await request(session, { ':path': '/home', 'x-user': key });
    assert.equal(answer.status, 200);
    assert.notEqual(answer.headers['x-served-by'], owner);
    assert.equal(JSON.parse(answer.text).message, `Hello from Server: ${answer.headers['x-served-by']}`);
  });

  it('closes a connection whose client ends its side before sending a byte (no protocol to wait for)', {
    timeout: 5000,
  }, async () => {
    const { port } = new URL(lb.url);
    const socket = netConnect(Number(port), '127.0.0.1', () => socket.end());
    const started = Date.now();
    await new Promise((resolve) => socket.on('close', resolve));
    assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
  });

  it('keeps HTTP/1.1 working on the same port, on fresh connections and kept-alive ones', async () => {
    for (let k = 0; k < 3; k++) assert.equal((await send(lb.url, 'GET', '/home', undefined, {})).status, 200);
  });
});

describe('HTTP/2 request bodies and headers reach an HTTP/1 replica', () => {
  let lb: RunningLb;
  let session: ClientHttp2Session;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-h2-'));
    lb = await startLb({ REPLICA_COMMAND: await writeEchoReplica(dir), N: '2' });
    session = connect(lb.url);
  });
  after(async () => {
    session.close();
    await lb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('relays a body with its length, and one without (chunked to the replica), and the answer headers as HTTP/2 allows', async () => {
    const sized = await request(session, { ':method': 'POST', ':path': '/items', 'content-length': '5' }, 'hello');
    assert.equal(sized.status, 201);
    const seen = JSON.parse(sized.text);
    assert.equal(seen.body, 'hello');
    assert.equal(seen.headers['content-length'], '5');
    assert.deepEqual(sized.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(sized.headers['keep-alive'], undefined);
    const pieces = [Buffer.from('a'.repeat(70_000)), Buffer.from('b'.repeat(30_000))];
    const streamed = JSON.parse((await request(session, { ':method': 'PUT', ':path': '/items/1' }, pieces)).text);
    assert.equal(streamed.headers['transfer-encoding'], 'chunked');
    assert.equal(streamed.body, `${'a'.repeat(70_000)}${'b'.repeat(30_000)}`);
  });

  it("gives the replica :authority as Host, the cookies joined, the client's address in X-Forwarded-For", async () => {
    const answer = await request(session, {
      ':path': '/who?x=1',
      ':authority': 'shop.example:8443',
      cookie: 'sid=42',
      'x-app': 'yes',
    });
    const seen = JSON.parse(answer.text);
    assert.equal(seen.url, '/who?x=1');
    assert.equal(seen.headers.host, 'shop.example:8443');
    assert.equal(seen.headers['x-app'], 'yes');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.match(answer.headers['x-request-id'] as string, /^\d+$/);
    assert.equal(seen.headers['x-request-id'], answer.headers['x-request-id']);
    assert.equal(answer.headers['x-served-by'], seen.name);
  });

  it('refuses a request HTTP/2 cannot carry as the contract says (CONNECT), and the session goes on', async () => {
    const stream = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
    stream.resume();
    const status = await new Promise<number>((resolve) => stream.on('response', (h) => resolve(Number(h[':status']))));
    // The LB answered whole and reset the stream with NO_ERROR (stop sending): it closes.
    const code = await new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
    assert.equal(status, 400);
    assert.equal(code, constants.NGHTTP2_NO_ERROR);
    assert.equal((await request(session, { ':path': '/again' })).status, 201);
  });
});

describe('HTTP/2 limits', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ H2_MAX_CONCURRENT_STREAMS: '7' });
  });
  after(() => lb.stop());

  it('advertises H2_MAX_CONCURRENT_STREAMS and a 16 KiB header list', async () => {
    const session = connect(lb.url);
    const settings = await new Promise<{ maxConcurrentStreams?: number; maxHeaderListSize?: number }>((resolve) =>
      session.once('remoteSettings', resolve),
    );
    session.close();
    assert.equal(settings.maxConcurrentStreams, 7);
    assert.equal(settings.maxHeaderListSize, 16 * 1024);
  });

  it('closes a session whose header block is over 16 KiB with GOAWAY ENHANCE_YOUR_CALM; other sessions go on', async () => {
    const calm = connect(lb.url);
    const other = connect(lb.url);
    calm.on('error', () => undefined);
    const goaway = new Promise<number>((resolve) => calm.once('goaway', (code) => resolve(code)));
    const big = calm.request({ ':path': '/home', 'x-big': 'a'.repeat(17 * 1024) });
    big.on('error', () => undefined);
    big.resume();
    assert.equal(await goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const fine = await request(other, { ':path': '/home', 'x-fits': 'a'.repeat(15 * 1024) });
    assert.equal(fine.status, 200);
    other.close();
    calm.destroy();
  });
});
