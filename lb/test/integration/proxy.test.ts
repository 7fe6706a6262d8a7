import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Client } from 'undici';
import { failureBody, type RunningLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { given, Ring } from '../../src/routing/index.js';
import { members } from '../helpers/ring.js';
import { StaticDriver, startUpstream, type UpstreamLog } from '../helpers/upstream.js';

const NAMES = ['Server-1', 'Server-2', 'Server-3'];
const ring = Ring.of({ slots: 512, virtualServers: 9, hash: given }, members(3));
/** A request id the ring gives to `name`, and the replica a GET fails over to from it. */
const idOwnedBy = (name: string) => {
  for (let id = 0; ; id++)
    if (ring.lookup(id)!.name === name) return { id: String(id), next: ring.candidates(id)[1]!.name };
};

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request on its own connection, with full control of headers and body (fetch forbids hop-by-hop headers). */
function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | Buffer[],
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const part of body === undefined ? [] : Array.isArray(body) ? body : [body]) req.write(part);
    req.end();
  });
}

/** What /bytes sends: 16 KiB block k filled with byte k. */
function expectedBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let at = 0; at < n; at += 16384) out.fill((at / 16384) & 255, at, Math.min(n, at + 16384));
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('forwarding through the LB', () => {
  const upstreams = new Map<string, Awaited<ReturnType<typeof startUpstream>>>();
  const log = (name: string): UpstreamLog => upstreams.get(name)!.log;
  const requestsTo = (path: string) =>
    NAMES.flatMap((n) =>
      log(n)
        .requests.filter((r) => r.url.startsWith(path))
        .map(() => n),
    );
  let lb: RunningLb;
  let url: string;

  before(async () => {
    for (const name of NAMES) upstreams.set(name, await startUpstream(name));
  });
  after(async () => {
    for (const u of upstreams.values()) await u.close();
  });
  beforeEach(async () => {
    for (const name of NAMES) {
      log(name).requests.length = 0;
      log(name).abandoned.length = 0;
    }
    const driver = new StaticDriver(new Map(NAMES.map((n) => [n, upstreams.get(n)!.url])));
    // A long upstream timeout: anything abandoned sooner was abandoned because the client left.
    lb = await startLb({ N: '3', HASH_FUNCTION: 'given', UPSTREAM_TIMEOUT_MS: '60000' }, driver);
    url = lb.url;
  });
  afterEach(() => lb.stop());

  it('carries a 1 MiB request body intact, with and without Content-Length, to the owner', async () => {
    const body = randomBytes(1 << 20);
    const { id } = idOwnedBy('Server-2');
    const sized = await raw(url, 'POST', '/echo', { 'x-request-id': id, 'content-length': String(body.length) }, body);
    const chunked = await raw(url, 'PUT', '/echo', { 'x-request-id': id }, [
      body.subarray(0, 1000),
      body.subarray(1000),
    ]);
    for (const [answer, method] of [
      [sized, 'POST'],
      [chunked, 'PUT'],
    ] as const) {
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body.toString()), {
        replica: 'Server-2',
        method,
        length: body.length,
        sha256: sha256(body),
      });
      assert.equal(answer.headers['x-served-by'], 'Server-2');
    }
  });

  it('relays a small sized answer of every byte value, arriving in pieces, byte for byte', async () => {
    const answer = await raw(url, 'GET', '/octets?n=1000');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], '1000');
    assert.deepEqual(
      [...answer.body],
      Array.from({ length: 1000 }, (_, at) => at % 256),
    );
  });

  for (const [label, query] of [
    ['small, sized', 'n=1000&length=1'],
    ['1 MiB, sized', `n=${(1 << 20) + 5}&length=1`],
    ['1 MiB, chunked', `n=${(1 << 20) + 5}`],
  ] as const) {
    it(`relays a ${label} answer byte for byte`, async () => {
      const n = Number(new URLSearchParams(query).get('n'));
      const answer = await raw(url, 'GET', `/bytes?${query}`);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'application/octet-stream');
      assert.equal(answer.body.length, n);
      assert.ok(answer.body.equals(expectedBytes(n)));
      if (query.includes('length')) assert.equal(answer.headers['content-length'], String(n));
    });
  }

  it('holds the replica back while a client reads slowly, then delivers a 64 MiB answer intact', {
    timeout: 30_000,
  }, async () => {
    const n = 64 << 20;
    for (const sized of [false, true]) {
      const path = `/bytes?n=${n}${sized ? '&length=1' : ''}`;
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = request(`${url}${path}`, { agent: false }, (res) => {
          res.pause(); // read nothing for a while: the kernel buffers fill, then the LB's, then the replica waits
          setTimeout(() => {
            const [replica] = requestsTo(path);
            const sent = log(replica!).sent.get(path) ?? 0;
            if (sent >= n) return reject(new Error(`the replica sent all ${n} bytes to a client that read none`));
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.resume();
          }, 1000);
        });
        req.on('error', reject).end();
      });
      assert.equal(body.length, n, sized ? 'sized' : 'chunked');
      assert.equal(sha256(body), sha256(expectedBytes(n)), sized ? 'sized' : 'chunked');
    }
  });

  it('holds a client back while its replica reads slowly, then delivers a 64 MiB request body intact', {
    timeout: 30_000,
  }, async () => {
    const n = 64 << 20;
    const block = Buffer.alloc(65536);
    let produced = 0;
    let producedBeforeReplicaRead = -1;
    setTimeout(() => (producedBeforeReplicaRead = produced), 900);
    const source = new Readable({
      read() {
        if (produced >= n) return void this.push(null);
        block.fill((produced / 65536) & 255);
        produced += block.length;
        this.push(Buffer.from(block));
      },
    });
    const answer = await new Promise<RawAnswer>((resolve, reject) => {
      const req = request(
        `${url}/echo?delay=1000`,
        { method: 'POST', agent: false, headers: { 'content-length': String(n) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.on('error', reject);
      source.pipe(req);
    });
    assert.equal(answer.status, 200);
    assert.ok(
      producedBeforeReplicaRead < n / 2,
      `the client could write ${producedBeforeReplicaRead} of ${n} bytes before the replica read any`,
    );
    const expected = createHash('sha256');
    for (let at = 0; at < n; at += 65536) expected.update(Buffer.alloc(65536, (at / 65536) & 255));
    const echoed = JSON.parse(answer.body.toString());
    assert.equal(echoed.length, n);
    assert.equal(echoed.sha256, expected.digest('hex'));
  });

  it('answers HEAD with the headers only', async () => {
    const answer = await raw(url, 'HEAD', '/bytes?n=5000&length=1');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], '5000');
    assert.equal(answer.body.length, 0);
  });

  it('drops hop-by-hop headers both ways, appends X-Forwarded-For, keeps repeated headers, sets X-Served-By itself', async () => {
    const { id } = idOwnedBy('Server-3');
    const answer = await raw(url, 'GET', '/headers', {
      'x-request-id': `00${id}`,
      connection: 'close, x-client-private',
      'x-client-private': 'secret',
      'keep-alive': 'timeout=99',
      te: 'trailers',
      'x-forwarded-for': '203.0.113.7',
      'x-kept': 'yes',
    });
    const seen = log('Server-3').requests.find((r) => r.url === '/headers')!;
    assert.equal(seen.headers['x-client-private'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.notEqual(seen.headers.connection, 'close, x-client-private');
    assert.equal(seen.headers['x-kept'], 'yes');
    assert.equal(seen.headers['x-request-id'], id);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');

    assert.equal(answer.status, 201);
    assert.equal(answer.body.toString(), 'made');
    assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(answer.headers['x-private'], undefined);
    assert.notEqual(answer.headers['keep-alive'], 'timeout=5');
    assert.equal(answer.headers['x-served-by'], 'Server-3');
    assert.equal(answer.headers['x-request-id'], id);
  });

  it('turns a replica 404 into the contract 400 for any method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const answer = await raw(url, method, '/nowhere/at/all?q=1', { 'content-length': '2' }, Buffer.from('{}'));
      assert.equal(answer.status, 400);
      assert.deepEqual(
        JSON.parse(answer.body.toString()),
        failureBody("<Error> '/nowhere/at/all' endpoint does not exist in server replicas"),
      );
    }
  });

  it('sends a GET on to the next replica clockwise when the owner drops the connection', async () => {
    const { id, next } = idOwnedBy('Server-1');
    const answer = await raw(url, 'GET', '/reset?on=Server-1', { 'x-request-id': id });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body.toString()), { replica: next });
    assert.equal(answer.headers['x-served-by'], next);
    assert.deepEqual(requestsTo('/reset').sort(), ['Server-1', next].sort());
  });

  it('does not send a POST twice: the owner dropping it is a 502 naming the replica', async () => {
    const { id } = idOwnedBy('Server-1');
    const answer = await raw(
      url,
      'POST',
      '/reset?on=Server-1',
      { 'x-request-id': id, 'content-length': '5' },
      Buffer.from('hello'),
    );
    assert.equal(answer.status, 502);
    const body = JSON.parse(answer.body.toString());
    assert.equal(body.status, 'failure');
    assert.match(body.message, /^<Error> Replica Server-1 failed: \S+$/);
    assert.deepEqual(requestsTo('/reset'), ['Server-1']);
  });

  it('answers 503 when every replica drops a GET, after trying each once', async () => {
    const answer = await raw(url, 'GET', '/reset', { 'x-request-id': '7' });
    assert.equal(answer.status, 503);
    assert.deepEqual(JSON.parse(answer.body.toString()), failureBody('<Error> No server replica is available'));
    assert.deepEqual(requestsTo('/reset').sort(), NAMES);
  });

  it('a replica breaking off a small answer is a 502; a large one is cut off for the client too', async () => {
    const small = await raw(url, 'GET', '/broken?n=10&of=100');
    assert.equal(small.status, 502);
    assert.match(JSON.parse(small.body.toString()).message, /^<Error> Replica Server-\d broke off its answer: \S+$/);
    await assert.rejects(raw(url, 'GET', `/broken?n=65536&of=${1 << 20}`), /aborted|ECONNRESET|socket hang up/);
  });

  it('stops waiting on the replica when the client leaves: hung answer and streaming answer', async () => {
    const hung = request(`${url}/hang`, { agent: false });
    hung.on('error', () => undefined).end();
    await waitFor('the replica to see /hang', () => requestsTo('/hang').length === 1, 5000);
    hung.destroy();
    const [owner] = requestsTo('/hang');
    await waitFor('the LB to abandon /hang', () => log(owner!).abandoned.includes('/hang'), 5000);

    const huge = `/bytes?n=${1 << 30}`;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${url}${huge}`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e))).end();
    });
    const [streamer] = requestsTo('/bytes');
    await waitFor('the LB to abandon the 1 GiB answer', () => log(streamer!).abandoned.includes(huge), 5000);
  });

  it('on shutdown finishes the answer in flight, and answers the next request on that connection with Connection: close', async () => {
    const client = new Client(url); // one keep-alive connection
    try {
      const first = client.request({ path: '/slow?ms=300', method: 'GET' });
      await waitFor('the replica to see /slow', () => requestsTo('/slow').length === 1, 5000);
      const stopped = lb.stop();
      // Queued behind the first: it reaches the LB on the same connection once shutdown has begun.
      const second = client.request({ path: '/echo', method: 'GET', headers: { 'x-request-id': '5' } });
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.statusCode, 200);
      assert.equal(await a.body.text(), `slow ${requestsTo('/slow')[0]}`);
      assert.equal(b.statusCode, 200);
      assert.equal(b.headers.connection, 'close');
      assert.equal(JSON.parse(await b.body.text()).method, 'GET');
      await stopped;
    } finally {
      await client.close();
    }
  });
});
