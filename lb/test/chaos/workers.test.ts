import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { send, spawnLb, startLb, waitFor } from '../../../kit/src/lb.js';
import { runLoad } from '../../../kit/src/load.js';
import { restartDelay } from '../../src/cluster/supervisor.js';
import { parseConfig } from '../../src/config.js';
import { createDataPlaneInstance } from '../../src/lb.js';

const childPids = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const isWorker = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('LB_ROLE=data-plane');
  } catch {
    return false;
  }
};
/** The primary's data-plane worker processes (its other children are process-driver replicas). */
const workersOf = (primary: number) => childPids(primary).filter(isWorker).sort();
/** Sum of a counter's series in Prometheus text. */
const total = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);

describe('LB_WORKERS: supervised data-plane workers', () => {
  it('a SIGKILLed worker is replaced and counted; with both killed the port serves again; /metrics and the dashboard count every worker', {
    timeout: 60_000,
  }, async () => {
    const lb = await spawnLb({ LB_WORKERS: '2', N: '3', HASH_FUNCTION: 'given' });
    try {
      await waitFor('the primary to listen', () => /"role":"all","workers":2/.test(lb.output()) || undefined, 10_000);
      const first = await waitFor(
        'two workers',
        () => (workersOf(lb.pid).length === 2 ? workersOf(lb.pid) : undefined),
        10_000,
      );

      // Every forwarded request is counted once, whichever worker took it.
      const load = await runLoad({ url: lb.url, path: '/home', requests: 400, concurrency: 8 });
      assert.equal(load.failed, 0);
      const metrics = await waitFor(
        'metrics of both workers',
        async () => {
          const text = (await send(lb.url, 'GET', '/metrics')).text;
          return total(text, 'lb_requests_total') === 400 ? text : undefined;
        },
        5000,
      );
      assert.equal(total(metrics, 'lb_request_duration_seconds_count'), 400);
      assert.match(metrics, /^lb_replicas_in_ring 3$/m, 'a gauge is not summed over workers');
      assert.match(metrics, /^lb_replicas\{state="healthy"\} 3$/m);
      assert.match(metrics, /^lb_worker_restarts_total 0$/m);
      assert.match(metrics, /^lb_controller_process_cpu_seconds_total /m);
      const state = await waitFor(
        'the dashboard to show the traffic',
        async () => {
          const snapshot = (await send(lb.url, 'GET', '/dashboard/state')).json;
          const perReplica = snapshot.replicas.some((r: { rps: number }) => r.rps > 0);
          return perReplica && snapshot.totals.history.some((h: { rps: number }) => h.rps > 0) ? snapshot : undefined;
        },
        5000,
      );
      assert.ok(
        state.replicas.some((r: { p50: number | null }) => r.p50 !== null),
        'latencies come from the workers',
      );

      // One worker killed under load: it is replaced; requests keep being served.
      const during = runLoad({ url: lb.url, path: '/home', requests: 3000, concurrency: 8 });
      await new Promise((r) => setTimeout(r, 100));
      process.kill(first[0]!, 'SIGKILL');
      const afterKill = await during;
      const replaced = await waitFor(
        'a replacement worker',
        () => {
          const now = workersOf(lb.pid);
          return now.length === 2 && !now.includes(first[0]!) ? now : undefined;
        },
        10_000,
      );
      assert.ok(
        afterKill.failed <= 8,
        `${afterKill.failed} of 3000 failed (at most the requests in flight on the killed worker)`,
      );

      // Both killed: nothing listens for a moment, then both are back.
      for (const pid of replaced) process.kill(pid, 'SIGKILL');
      await waitFor(
        'two new workers',
        () => {
          const now = workersOf(lb.pid);
          return now.length === 2 && now.every((pid) => !replaced.includes(pid)) ? now : undefined;
        },
        10_000,
      );
      // A connection a killed worker had been handed is lost with it: each probe has its own deadline.
      const back = await waitFor(
        'the port to serve again',
        async () => {
          const answer = await fetch(`${lb.url}/home`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
          return answer?.status === 200 ? answer : undefined;
        },
        10_000,
      );
      assert.equal((await back.json()).status, 'successful');
      assert.match((await send(lb.url, 'GET', '/metrics')).text, /^lb_worker_restarts_total 3$/m);
      assert.match(lb.output(), /data-plane worker died; starting another/);
    } finally {
      assert.equal(await lb.stop(), 0);
    }
  });

  it('connections opened just after a worker is SIGKILLed are all answered (none is handed to the dead worker)', {
    timeout: 60_000,
  }, async () => {
    const lb = await spawnLb({ LB_WORKERS: '2', N: '3' });
    try {
      const port = Number(new URL(lb.url).port);
      // spawnLb returns at the first "listening" line, which may be a worker's: the LB has started
      // once the primary says so (a worker killed before that fails the start, as it should).
      await waitFor('the primary to listen', () => /"role":"all","workers":2/.test(lb.output()) || undefined, 10_000);
      const replacementsListening = () => lb.output().split('replacement data-plane worker listening').length - 1;
      for (let round = 0; round < 3; round++) {
        // Both workers listen (the one killed last round has been replaced): one of them is killed now.
        const workers = await waitFor(
          'two listening workers',
          () => (workersOf(lb.pid).length === 2 && replacementsListening() === round ? workersOf(lb.pid) : undefined),
          10_000,
        );
        process.kill(workers[round % 2]!, 'SIGKILL');
        // One request per connection, opened at once: with round-robin hand-off, about half went to the dead worker.
        const answers = await Promise.all(Array.from({ length: 20 }, (_, k) => oneShot(port, 100_000 + k, 8000)));
        assert.deepEqual(
          answers.filter((line) => line !== 'HTTP/1.1 200 OK'),
          [],
          `round ${round}: every connection answered 200`,
        );
      }
    } finally {
      assert.equal(await lb.stop(), 0);
    }
  });

  it('workers that cannot be kept up: the LB stops its replicas and exits 1 (so Docker restarts it)', {
    timeout: 60_000,
  }, async () => {
    const lb = await spawnLb({ LB_WORKERS: '2', N: '1' });
    // Workers log "listening" too: wait for the primary's line (a worker dying during start-up fails the start instead).
    await waitFor('the primary to listen', () => /"role":"all","workers":2/.test(lb.output()) || undefined, 10_000);
    const killed = new Set<number>();
    const exited = lb.stop('SIGCONT'); // resolves on exit; SIGCONT changes nothing
    let code: number | null | undefined;
    void exited.then((c) => (code = c));
    await waitFor(
      'the LB to give up',
      () => {
        for (const pid of workersOf(lb.pid)) {
          if (!killed.has(pid)) {
            killed.add(pid);
            process.kill(pid, 'SIGKILL');
          }
        }
        return code !== undefined || undefined;
      },
      30_000,
    );
    assert.equal(code, 1);
    // 'exit' can come before the last of its output is read.
    await waitFor(
      'the reason in its log',
      () => /data-plane workers cannot be kept up/.test(lb.output()) || undefined,
      2000,
    );
  });

  it('restart delays double from 100 ms and stop at 5 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(restartDelay), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });
});

describe('a separate data-plane instance serves its own /metrics', () => {
  it('counts what it forwarded, with an instance label; the controller counts only its own traffic', async () => {
    const controller = await startLb({ HASH_FUNCTION: 'given', N: '2' });
    const config = parseConfig(
      { PORT: '0', LB_ROLE: 'data-plane', CONTROLLER_URL: controller.url, HASH_FUNCTION: 'given' },
      { driver: 'process' },
    );
    const plane = createDataPlaneInstance(config, { log: pino({ level: 'silent' }) });
    const url = await plane.start();
    try {
      for (let k = 0; k < 25; k++)
        assert.equal((await send(url, 'GET', '/home', undefined, { 'x-request-id': String(k) })).status, 200);
      const own = (await send(url, 'GET', '/metrics')).text;
      const port = new URL(url).port;
      assert.equal(total(own, 'lb_requests_total'), 25);
      assert.match(
        own,
        new RegExp(`^lb_requests_total\\{replica="Server-\\d",code="200",instance="[^"]+:${port}"\\} \\d+$`, 'm'),
      );
      assert.doesNotMatch(own, /^lb_replicas\{/m, 'controller metrics are the controller’s');
      assert.equal(total((await send(controller.url, 'GET', '/metrics')).text, 'lb_requests_total'), 0);
    } finally {
      await plane.stop();
      await controller.stop();
    }
  });
});

/** One GET on a connection of its own; its status line, or what happened instead within `timeoutMs`. */
function oneShot(port: number, id: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.on('connect', () =>
      socket.write(`GET /home HTTP/1.1\r\nHost: lb\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk) => (got += chunk.toString('latin1')));
    socket.on('error', (error) => (got ||= `error ${error.message}`));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got.split('\r\n', 1)[0] || 'closed without an answer');
    });
  });
}
