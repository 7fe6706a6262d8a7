import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
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
