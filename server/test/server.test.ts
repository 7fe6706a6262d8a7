import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Client } from 'undici';
import { buildServer } from '../src/app.js';

describe('replica server', () => {
  const app = buildServer({ id: 'Server-7' });
  after(() => app.close());

  it('GET /home answers with its own name', async () => {
    const res = await app.inject({ method: 'GET', url: '/home' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    assert.equal(res.body, '{"message":"Hello from Server: Server-7","status":"successful"}');
  });

  it('GET /heartbeat is 200 with an empty body', async () => {
    const res = await app.inject({ method: 'GET', url: '/heartbeat' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
  });

  it('any other path is a 404', async () => {
    for (const url of ['/other', '/home/x', '/', '/heartbeat2']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().status, 'failure');
    }
  });

  it('only GET serves /home', async () => {
    const res = await app.inject({ method: 'POST', url: '/home' });
    assert.equal(res.statusCode, 404);
  });
});

describe('replica shutdown', () => {
  it('serves a request that arrives on an open connection once close() began, with Connection: close, not a 503', async () => {
    const replica = buildServer({ id: 'Closing-1' });
    let client: Client | undefined;
    let late: { status: number; connection: unknown; body: string } | undefined;
    // Between "routes closed" and "idle connections closed": where a request the LB sent just
    // before it took the replica out of the ring lands.
    replica.addHook('preClose', async () => {
      const res = await client!.request({ path: '/home', method: 'GET' });
      late = { status: res.statusCode, connection: res.headers.connection, body: await res.body.text() };
    });
    await replica.listen({ port: 0, host: '127.0.0.1' });
    const { port } = replica.server.address() as AddressInfo;
    client = new Client(`http://127.0.0.1:${port}`); // one keep-alive connection, as the LB keeps
    try {
      await (await client.request({ path: '/home', method: 'GET' })).body.text();
      await replica.close();
      assert.deepEqual(late, {
        status: 200,
        connection: 'close',
        body: '{"message":"Hello from Server: Closing-1","status":"successful"}',
      });
    } finally {
      await client.close();
    }
  });
});
