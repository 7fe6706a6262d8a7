import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { isAlive, type RunningLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { Ring, routingIdOf, sha256 } from '../../src/routing/index.js';

/**
 * A replica that reads a whole upload, then says who got how much; it exits at once on SIGTERM
 * (what finishes a request in flight is the LB's drain, not the replica's own grace).
 */
const SLOW_REPLICA = `
const http = require('node:http');
const [port, name] = process.argv.slice(2);
http.createServer((req, res) => {
  if (req.url === '/heartbeat') return res.end();
  let bytes = 0;
  req.on('data', (d) => (bytes += d.length));
  req.on('end', () => res.end(name + ' got ' + bytes + ' bytes'));
}).listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const keyOn = (lb: RunningLb, replica: string) => {
  const ring = Ring.of({ slots: 512, virtualServers: 9, hash: sha256 }, lb.lb.manager.router.members);
  for (let k = 0; ; k++) if (ring.lookup(routingIdOf(`key-${k}`))!.name === replica) return `key-${k}`;
};

describe('drain (DRAIN_TIMEOUT_MS): /rm lets what a replica is serving finish before it is stopped', () => {
  let dir = '';
  let lb: RunningLb;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-drain-'));
    await writeFile(join(dir, 'slow.cjs'), SLOW_REPLICA);
    lb = await startLb({
      N: '3',
      HASH_KEY: 'header:x-key',
      REPLICA_COMMAND: `node ${join(dir, 'slow.cjs')} {port} {name}`,
      UPSTREAM_404: 'pass',
      DRAIN_TIMEOUT_MS: '10000',
      STOP_TIMEOUT_MS: '100',
    });
  });
  after(async () => {
    await lb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('an upload streaming for 3 s to Server-2 is answered by Server-2 although /rm Server-2 came in the middle', async () => {
    const pid = lb.pid('Server-2');
    const port = Number(new URL(lb.url).port);
    const upload = new Promise<{ status: number; by: string | undefined; body: string; at: number }>(
      (resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/upload',
            headers: { 'x-key': keyOn(lb, 'Server-2'), 'content-length': '10000' },
          },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () =>
              resolve({ status: res.statusCode!, by: res.headers['x-served-by'] as string, body, at: Date.now() }),
            );
          },
        );
        req.on('error', reject);
        let sent = 0;
        const tick = setInterval(() => {
          req.write(Buffer.alloc(1000, 97));
          if (++sent === 10) {
            clearInterval(tick);
            req.end();
          }
        }, 300);
      },
    );
    await new Promise((r) => setTimeout(r, 1000));
    const removal = lb.call('DELETE', '/rm', { n: 1, hostnames: ['Server-2'] }).then((a) => ({ ...a, at: Date.now() }));
    await waitFor(
      'Server-2 out of /rep',
      async () => {
        const rep = (await lb.call('GET', '/rep')).json.message.replicas as string[];
        return rep.includes('Server-2') ? undefined : true;
      },
      2000,
    );
    const state = (await lb.call('GET', '/dashboard/state')).json as { replicas: { name: string; state: string }[] };
    assert.equal(state.replicas.find((r) => r.name === 'Server-2')?.state, 'draining');
    const answered = await upload;
    assert.deepEqual([answered.status, answered.by, answered.body], [200, 'Server-2', 'Server-2 got 10000 bytes']);
    const removed = await removal;
    assert.deepEqual(removed.json, { message: { N: 2, replicas: ['Server-1', 'Server-3'] }, status: 'successful' });
    assert.ok(removed.at >= answered.at, '/rm answers once the drain is over');
    await waitFor('Server-2 gone', () => (isAlive(pid) ? undefined : true), 3000);
  });
});

describe("drain and tunnels: /rm re-homes the removed replica's tunnels", () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ N: '3', HASH_KEY: 'query:room', REHOME_GRACE_MS: '200' });
  });
  after(() => lb.stop());

  it('its tunnels close within REHOME_GRACE_MS; its process is gone once /rm answered', async () => {
    const room = keyOn(lb, 'Server-3');
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/ws?room=${room}`);
    const first = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    assert.equal(first, '{"server":"Server-3"}');
    const closed = new Promise<number>((resolve) => ws.on('close', () => resolve(Date.now())));
    const pid = lb.pid('Server-3');
    const before = Date.now();
    const removed = await lb.call('DELETE', '/rm', { n: 1, hostnames: ['Server-3'] });
    assert.equal(removed.status, 200);
    assert.ok((await closed) - before < 1500, 'closed within the grace (and the replica stopping)');
    await waitFor('Server-3 gone', () => (isAlive(pid) ? undefined : true), 3000);
  });
});
