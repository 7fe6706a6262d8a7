import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Client } from 'undici';
import { WebSocket } from 'ws';
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

describe('replica WebSocket endpoint (GET /ws)', () => {
  const app = buildServer({ id: 'Server-9' });
  let url = '';
  after(() => app.close());

  const open = async (path = '/ws') => {
    if (!url) {
      await app.listen({ port: 0, host: '127.0.0.1' });
      url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    }
    const ws = new WebSocket(`${url}${path}`);
    const messages: { data: Buffer; binary: boolean }[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer, binary) => {
      messages.push({ data, binary });
      waiters.shift()?.();
    });
    const next = async () => {
      if (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
      return messages.shift()!;
    };
    await once(ws, 'open');
    return { ws, next };
  };

  it('names its replica on open, then echoes text and binary messages (1 MiB too)', async () => {
    const { ws, next } = await open('/ws?room=42');
    assert.equal((await next()).data.toString(), '{"server":"Server-9"}');
    ws.send('hello');
    const text = await next();
    assert.deepEqual([text.data.toString(), text.binary], ['hello', false]);
    const big = Buffer.alloc(1024 * 1024, 7);
    ws.send(big);
    const echoed = await next();
    assert.equal(echoed.binary, true);
    assert.ok(echoed.data.equals(big));
    ws.close();
    await once(ws, 'close');
  });

  it('an upgrade of another path is a 404; a plain GET /ws a 426', async () => {
    await assert.rejects(open('/other'), /Unexpected server response: 404/);
    const res = await app.inject({ method: 'GET', url: '/ws' });
    assert.equal(res.statusCode, 426);
  });

  it('close() ends open sockets with 1001 (going away)', async () => {
    const replica = buildServer({ id: 'Closing-9' });
    await replica.listen({ port: 0, host: '127.0.0.1' });
    const ws = new WebSocket(`ws://127.0.0.1:${(replica.server.address() as AddressInfo).port}/ws`);
    await once(ws, 'message');
    const closed = once(ws, 'close');
    await replica.close();
    const [code] = await closed;
    assert.equal(code, 1001);
  });
});
