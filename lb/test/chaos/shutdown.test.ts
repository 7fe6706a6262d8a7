import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { idleTunnels } from '../../../kit/src/idle.js';
import { isAlive, send, spawnLb, waitFor } from '../../../kit/src/lb.js';
import { wrk } from '../../../kit/src/wrk.js';
import { hashFunctionByName, Ring } from '../../src/routing/index.js';
import { SHUTDOWN_MARGIN_MS } from '../../src/shutdown.js';

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

describe('graceful shutdown with open tunnels', () => {
  it('SIGTERM with 200 open WebSocket tunnels and wrk running: exits within DRAIN_TIMEOUT_MS plus the margin, every tunnel sees a close (no reset), no request is lost', {
    timeout: 60_000,
  }, async () => {
    const drainMs = 4000;
    const lb = await spawnLb({ N: '3', STOP_TIMEOUT_MS: '1000', DRAIN_TIMEOUT_MS: String(drainMs) });
    const port = Number(new URL(lb.url).port);
    const tunnels: WebSocket[] = [];
    await idleTunnels(port, 200, tunnels);
    const closed: number[] = [];
    const reset: string[] = [];
    for (const ws of tunnels) {
      ws.on('error', (error) => reset.push(error.message));
      ws.on('close', () => closed.push(Date.now()));
    }
    const load = wrk(port, 4, 8);
    // Beside wrk, clients that count exactly: a request written on an open connection must be answered.
    const counted = Array.from({ length: 20 }, (_, k) => backToBackClient(port, 2000 + k));
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const code = await lb.stop('SIGTERM');
    const took = Date.now() - t0;
    const summary = await load;
    const exact = await Promise.all(counted);
    console.log(`# SIGTERM with 200 tunnels under wrk: exit ${code} in ${took} ms; wrk ${JSON.stringify(summary)}`);
    assert.equal(code, 0);
    assert.ok(took < drainMs + SHUTDOWN_MARGIN_MS, `the LB took ${took} ms to exit`);
    assert.equal(closed.length, 200, `${closed.length} of 200 tunnels saw a close`);
    assert.ok(Math.max(...closed) - t0 <= took, 'every tunnel was closed before the LB exited');
    assert.deepEqual(reset, [], 'tunnels were closed, not reset');
    assert.ok(summary.requests > 100, 'wrk ran');
    assert.equal(summary.non2xx, 0);
    // wrk's write errors are its reconnects once the port is closed (refused); a request cut off
    // on an open connection would be a read error (the connection ended before the answer).
    assert.equal(summary.read + summary.timeout, 0, 'a request sent on an open connection was lost');
    assert.equal(
      exact.reduce((sum, r) => sum + r.lost, 0),
      0,
      'a request sent on an open connection got no answer',
    );
    assert.deepEqual(new Set(exact.flatMap((r) => [...r.statuses])), new Set([200]));
  });

  it('TUNNEL_IDLE_TIMEOUT_MS: a tunnel with no byte either way is closed after it; one in use is kept', {
    timeout: 20_000,
  }, async () => {
    const lb = await spawnLb({ N: '1', TUNNEL_IDLE_TIMEOUT_MS: '600' });
    try {
      const port = Number(new URL(lb.url).port);
      const [idle, busy] = [new WebSocket(`ws://127.0.0.1:${port}/ws`), new WebSocket(`ws://127.0.0.1:${port}/ws`)];
      await Promise.all([idle, busy].map((ws) => once(ws, 'message')));
      const idleClosed = once(idle, 'close').then(() => Date.now());
      const opened = Date.now();
      // The busy one talks every 200 ms, one way only: a byte either way keeps a tunnel.
      const ticker = setInterval(() => busy.send('tick'), 200);
      const at = await idleClosed;
      await new Promise((r) => setTimeout(r, 800));
      clearInterval(ticker);
      assert.ok(at - opened >= 500, `closed after ${at - opened} ms`);
      assert.equal(busy.readyState, WebSocket.OPEN, 'a tunnel in use is not closed');
      const metrics = await (await fetch(`${lb.url}/metrics`)).text();
      assert.match(metrics, /^lb_tunnels_closed_total\{reason="idle"\} 1$/m);
      busy.close();
    } finally {
      await lb.stop();
    }
  });
});

describe('graceful shutdown whatever the access log does', () => {
  it('ACCESS_LOG on a FIFO whose reader never reads: forwarding goes on, and SIGTERM exits within the bound', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-fifo-'));
    const fifo = join(dir, 'access.fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader that holds the FIFO open and never reads: the pipe fills (64 KiB), then every write would wait.
    const reader = spawn('sh', ['-c', `exec sleep 300 < '${fifo}'`], { stdio: 'ignore' });
    try {
      const lb = await spawnLb({ N: '2', ACCESS_LOG: fifo, DRAIN_TIMEOUT_MS: '2000' });
      const port = Number(new URL(lb.url).port);
      for (let batch = 0; batch < 10; batch++) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, k) => send(lb.url, 'GET', `/home?pad=${'x'.repeat(200)}&k=${batch}-${k}`)),
        );
        assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]), 'forwarding goes on');
      }
      assert.ok(port > 0);
      const t0 = Date.now();
      const code = await lb.stop('SIGTERM');
      const took = Date.now() - t0;
      console.log(`# SIGTERM with a stalled FIFO access log: exit ${code} in ${took} ms`);
      assert.equal(code, 0);
      assert.ok(took < 2000 + SHUTDOWN_MARGIN_MS, `the LB took ${took} ms to exit`);
    } finally {
      reader.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
