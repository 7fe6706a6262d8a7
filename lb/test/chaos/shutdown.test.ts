import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { isAlive, send, spawnLb, waitFor } from '../../../kit/src/lb.js';
import { hashFunctionByName, Ring } from '../../src/routing/index.js';

const childPids = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const serverIdOf = (pid: number) => /SERVER_ID=([^\0]+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];

describe('graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish (here by failing over off a hung replica), then stops every replica', async () => {
    const lb = await spawnLb({ N: '3', HASH_FUNCTION: 'given', UPSTREAM_TIMEOUT_MS: '1000', STOP_TIMEOUT_MS: '1000' });
    const url = lb.url;
    const replicas = childPids(lb.pid);
    const server1 = replicas.find((pid) => serverIdOf(pid) === 'Server-1')!;
    const ring = Ring.of(
      { slots: 512, virtualServers: 9, hash: hashFunctionByName('given') },
      [1, 2, 3].map((i) => ({ index: i, name: `Server-${i}` })),
    );
    const id = [...Array(1000).keys()].map((k) => k + 100000).find((k) => ring.lookup(k)!.name === 'Server-1')!;

    process.kill(server1, 'SIGSTOP'); // accepts connections, never answers
    const inFlight = send(url, 'GET', '/home', undefined, { 'x-request-id': String(id) });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const exited = lb.stop('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.notEqual(answer.headers.get('x-served-by'), 'Server-1');
    assert.equal(await exited, 0);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `shutdown took ${took} ms`);
    await waitFor('replicas gone', () => replicas.every((pid) => !isAlive(pid)) || undefined, 3000);
  });
});

/**
 * One keep-alive client on a raw socket sending GETs back to back: each request waits for its
 * answer, and the client stops at an answer that says `Connection: close`. A request written
 * on the open connection that gets no answer (the LB closed or reset it) is lost.
 */
function backToBackClient(
  port: number,
  id: number,
): Promise<{ answered: number; lost: number; closedByAnswer: boolean; statuses: Set<number> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const result = { answered: 0, lost: 0, closedByAnswer: false, statuses: new Set<number>() };
    let buffer = Buffer.alloc(0);
    let waiting = false;
    const sendOne = () => {
      waiting = true;
      socket.write(`GET /home HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${id}\r\n\r\n`);
    };
    socket.on('connect', sendOne);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.subarray(end + 4 + length);
        waiting = false;
        result.answered++;
        result.statuses.add(Number(head.slice(9, 12)));
        if (/\r\nconnection: *close/i.test(head)) {
          result.closedByAnswer = true;
          return void socket.end();
        }
        sendOne();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (waiting) result.lost++;
      resolve(result);
    });
  });
}

describe('graceful shutdown under keep-alive load', () => {
  it('SIGTERM with 50 clients sending back to back: no request on an open connection goes unanswered; each connection ends with Connection: close', async () => {
    const lb = await spawnLb({ N: '3', STOP_TIMEOUT_MS: '1000' });
    const port = Number(new URL(lb.url).port);
    const clients = Array.from({ length: 50 }, (_, k) => backToBackClient(port, 1000 + k));
    await new Promise((r) => setTimeout(r, 700));
    const exited = lb.stop('SIGTERM');
    const results = await Promise.all(clients);
    assert.equal(await exited, 0);
    const lost = results.reduce((sum, r) => sum + r.lost, 0);
    const answered = results.reduce((sum, r) => sum + r.answered, 0);
    console.log(`# SIGTERM under 50 back-to-back keep-alive clients: ${answered} answered, ${lost} lost`);
    assert.equal(lost, 0, `${lost} requests sent on open connections got no answer`);
    assert.deepEqual(new Set(results.flatMap((r) => [...r.statuses])), new Set([200]));
    assert.equal(
      results.filter((r) => r.closedByAnswer).length,
      50,
      'every connection was closed by an answer that said so',
    );
  });
});
