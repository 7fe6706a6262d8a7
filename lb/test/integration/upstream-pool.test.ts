import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { failureBody, type RunningLb, send, startLb, waitFor } from '../../../kit/src/lb.js';
import { given, Ring } from '../../src/routing/index.js';
import { members } from '../helpers/ring.js';
import { StaticDriver, startUpstream } from '../helpers/upstream.js';

const NAMES = ['Server-1', 'Server-2', 'Server-3'];
const ring = Ring.of({ slots: 512, virtualServers: 9, hash: given }, members(3));
const idOwnedBy = (name: string) => {
  for (let id = 0; ; id++) if (ring.lookup(id)!.name === name) return String(id);
};

/**
 * A request whose body the replica does not wait for (it answers 404 at once), from a
 * client that reads the answer and hangs up with most of its body unsent.
 */
function earlyAnswerThenHangUp(port: number, id: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('data', (answer) => {
      socket.destroy();
      resolve(answer.toString('latin1').split('\r\n', 1)[0]!);
    });
    socket.write(
      `POST /early HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nContent-Length: 3000000\r\n\r\n${'a'.repeat(1000)}`,
    );
  });
}

describe('upstream connections: never leaked, never waited for past the deadline', () => {
  const upstreams = new Map<string, Awaited<ReturnType<typeof startUpstream>>>();
  const driver = () => new StaticDriver(new Map(NAMES.map((n) => [n, upstreams.get(n)!.url])));

  before(async () => {
    for (const name of NAMES) upstreams.set(name, await startUpstream(name));
  });
  after(async () => {
    for (const u of upstreams.values()) await u.close();
  });

  it('a replica that answers before the body is whole, to a client that then leaves: its connection is closed, not kept', async () => {
    // The default pool (256 a replica): more hang-ups than that used to leave every connection stuck.
    const lb = await startLb({ N: '3', HASH_FUNCTION: 'given', UPSTREAM_TIMEOUT_MS: '5000' }, driver());
    try {
      const port = Number(new URL(lb.url).port);
      const id = idOwnedBy('Server-2');
      const server2 = upstreams.get('Server-2')!;
      for (let wave = 0; wave < 6; wave++) {
        const lines = await Promise.all(Array.from({ length: 50 }, () => earlyAnswerThenHangUp(port, id)));
        assert.deepEqual(new Set(lines), new Set(['HTTP/1.1 400 Bad Request']));
      }
      // The replica sees its connections closed by the LB (it would keep them for its own keep-alive timeout).
      await waitFor(
        'the LB to close its connections to Server-2',
        async () => (await server2.connections()) <= 1 || undefined,
        3000,
      );
      const answer = await send(lb.url, 'GET', '/echo', undefined, { 'x-request-id': id });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('x-served-by'), 'Server-2');
    } finally {
      await lb.stop();
    }
  });

  it('an answer that comes before the body is whole closes the client connection (its rest is never read), 404 or 200', async () => {
    const lb = await startLb({ N: '3', HASH_FUNCTION: 'given' }, driver());
    try {
      const port = Number(new URL(lb.url).port);
      const partial = (path: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          let got = '';
          socket.on('data', (c) => (got += c.toString('latin1')));
          socket.on('close', () => resolve(got));
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: 7\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(10)}`,
          );
        });
      const early404 = await partial('/early');
      assert.match(early404, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(early404, /\r\nConnection: close\r\n/i);
      assert.deepEqual(
        JSON.parse(early404.slice(early404.indexOf('\r\n\r\n') + 4)),
        failureBody("<Error> '/early' endpoint does not exist in server replicas"),
      );
      const early200 = await partial('/status?code=200');
      assert.match(early200, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(early200, /\r\nConnection: close\r\n/i);
      assert.match(early200, /\r\n\r\n8\r\nServer-\d\r\n0\r\n\r\n$/);
    } finally {
      await lb.stop();
    }
  });

  /**
   * An LB with 2 connections a replica and UPSTREAM_TIMEOUT_MS=1000, both of Server-3's busy with
   * long answers (a byte every 50 ms for `dripMs`: neither times out), and the key that goes there.
   */
  async function bothConnectionsBusy(dripMs: number) {
    const lb: RunningLb = await startLb(
      { N: '3', HASH_FUNCTION: 'given', UPSTREAM_MAX_CONNECTIONS: '2', UPSTREAM_TIMEOUT_MS: '1000' },
      driver(),
    );
    const id = idOwnedBy('Server-3');
    const server3 = upstreams.get('Server-3')!;
    const drips = () => server3.log.requests.filter((r) => r.url.startsWith('/drip')).length;
    const before = drips();
    const busy = [1, 2].map((k) => send(lb.url, 'GET', `/drip?ms=${dripMs}&k=${k}`, undefined, { 'x-request-id': id }));
    await waitFor('both drips at the replica', () => drips() === before + 2 || undefined, 3000);
    return { lb, id, server3, busy };
  }

  it('waiting for a connection ends at the request deadline: a 503 naming the replica and the limit, counted; the pool then serves again', async () => {
    const { lb, id, server3, busy } = await bothConnectionsBusy(2500);
    try {
      const seen = () => server3.log.requests.filter((r) => r.url.startsWith('/drip')).length;
      const before = seen() - 2;
      const waiting = await send(lb.url, 'GET', '/drip?ms=10&k=3', undefined, { 'x-request-id': id });
      assert.equal(waiting.status, 503);
      assert.deepEqual(
        waiting.json,
        failureBody(
          '<Error> Replica Server-3 has no free connection: all 2 (UPSTREAM_MAX_CONNECTIONS) stayed busy for 1000 ms (UPSTREAM_TIMEOUT_MS)',
        ),
      );
      assert.equal(waiting.headers.get('x-request-id'), id);
      assert.equal(waiting.headers.get('x-served-by'), null);
      assert.equal(
        seen(),
        before + 2,
        'the waiting request never reached a replica (no failover: it would move the key)',
      );
      for (const answer of await Promise.all(busy)) {
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.get('x-served-by'), 'Server-3');
      }
      const metrics = (await send(lb.url, 'GET', '/metrics')).text;
      assert.match(metrics, /^lb_upstream_pool_timeouts_total\{replica="Server-3"\} 1$/m);
      assert.equal((await send(lb.url, 'GET', '/echo', undefined, { 'x-request-id': id })).status, 200);
    } finally {
      await lb.stop();
    }
  });

  it('the wait for a connection counts against the deadline: a request handed one late times out at UPSTREAM_TIMEOUT_MS from its start, and is sent once', async () => {
    // Both connections busy for 600 ms; the POST waits for one, then the replica takes 700 ms to answer.
    const { lb, id, server3, busy } = await bothConnectionsBusy(600);
    try {
      const t0 = Date.now();
      const late = await send(lb.url, 'POST', '/slow?ms=700&late=1', undefined, { 'x-request-id': id });
      const took = Date.now() - t0;
      assert.equal(late.status, 502, `answered ${late.status} after ${took} ms: ${late.text}`);
      assert.deepEqual(late.json, failureBody('<Error> Replica Server-3 failed: HEADERS_TIMEOUT'));
      assert.ok(took < 1500, `the deadline was met ${took} ms after the start`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        server3.log.requests.filter((r) => r.url.includes('late=1')).length,
        1,
        'a POST that timed out is never sent again',
      );
      for (const answer of await Promise.all(busy)) assert.equal(answer.status, 200);
    } finally {
      await lb.stop();
    }
  });
});
