import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import pLimit from 'p-limit';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';
import type { HandoffNotice } from '../../src/membership/handoff.js';

const KEYS = Array.from({ length: 10_000 }, (_, k) => `item-${k}`);
/**
 * The demo store's keys route by their path segment (`/kv/<key>`). Its values live in its process:
 * heartbeats get a second (not the tests' 200 ms), so that a replica busy handing keys over on a
 * loaded machine is not declared dead and respawned empty, which would lose keys no hand-off can keep.
 */
const STORE = {
  HASH_KEY: 'segment:2',
  UPSTREAM_404: 'pass',
  N: '3',
  HEARTBEAT_INTERVAL_MS: '500',
  HEARTBEAT_TIMEOUT_MS: '1000',
};

async function writeAll(lb: RunningLb): Promise<void> {
  const limit = pLimit(64);
  await Promise.all(
    KEYS.map((key) =>
      limit(async () => {
        const res = await fetch(`${lb.url}/kv/${key}`, { method: 'PUT', body: `value of ${key}` });
        assert.equal(res.status, 200, await res.text());
      }),
    ),
  );
}

/** How many keys read back their value through the LB. */
async function readable(lb: RunningLb): Promise<number> {
  const limit = pLimit(64);
  const found = await Promise.all(
    KEYS.map((key) =>
      limit(async () => {
        const res = await fetch(`${lb.url}/kv/${key}`);
        const body = (await res.json()) as { message: { value?: string } };
        return res.status === 200 && body.message.value === `value of ${key}`;
      }),
    ),
  );
  return found.filter(Boolean).length;
}

/** `/add` 2, `/rm` 1, `/add` 1; the share of the key space each change moved, from the feed's metric. */
async function changes(lb: RunningLb): Promise<number[]> {
  const moved: number[] = [];
  for (const [method, path, body] of [
    ['POST', '/add', { n: 2 }],
    ['DELETE', '/rm', { n: 1 }],
    ['POST', '/add', { n: 1 }],
  ] as const) {
    const answer = await lb.call(method, path, body);
    assert.equal(answer.status, 200, answer.text);
    moved.push(Number(/^lb_keyspace_moved_ratio (\S+)$/m.exec((await lb.call('GET', '/metrics')).text)![1]));
  }
  return moved;
}

describe('key hand-off: the demo store keeps every key through add, rm and add', () => {
  it('with HANDOFF_TIMEOUT_MS set every key reads back; with hand-off off, about the moved share is lost', {
    timeout: 120_000,
  }, async () => {
    const off = await startLb(STORE);
    let lostWithout: number;
    let moved: number[];
    try {
      await writeAll(off);
      moved = await changes(off);
      lostWithout = KEYS.length - (await readable(off));
    } finally {
      await off.stop();
    }
    const on = await startLb({ ...STORE, HANDOFF_PATH: '/lb/handoff', HANDOFF_TIMEOUT_MS: '10000' });
    try {
      await writeAll(on);
      await changes(on);
      const kept = await readable(on);
      const metrics = (await on.call('GET', '/metrics')).text;
      console.log(
        `# 10,000 keys, /add 2, /rm 1, /add 1 (moved ${moved.map((m) => m.toFixed(3)).join(', ')}): hand-off off lost ${lostWithout}, on lost ${KEYS.length - kept}`,
      );
      assert.equal(kept, KEYS.length, 'with hand-off, every key reads back its value');
      assert.match(metrics, /^lb_handoff_notifications_total\{phase="prepare",outcome="ok"\} \d+$/m);
      assert.match(metrics, /^lb_handoff_prepare_seconds_count 3$/m);
      const waits = on.lb.events.recent().filter((event) => event.type === 'handoff');
      assert.equal(waits.length, 3, 'the dashboard lists each wait');
      assert.match(waits[0]!.detail!, /^\d+ of \d+ replicas confirmed prepare in \d+ ms$/);
    } finally {
      await on.stop();
    }
    // Without hand-off a key is lost when a change moved it and it did not come back: at least the
    // last change's share, at most the sum of the shares.
    const [first, second, third] = moved;
    assert.ok(lostWithout >= third! * KEYS.length * 0.8, `${lostWithout} lost, the last change moved ${third}`);
    assert.ok(lostWithout <= (first! + second! + third!) * KEYS.length * 1.1, `${lostWithout} lost`);
  });

  it('a replica that does not answer prepare: routing switches at HANDOFF_TIMEOUT_MS regardless, counted', {
    timeout: 60_000,
  }, async () => {
    // Replicas whose hand-off path never answers (an HTTP server that holds every request).
    const held: IncomingMessage[] = [];
    const silent = createServer((request) => held.push(request));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const lb = await startLb({ N: '2', HANDOFF_PATH: `/proxy-to-silent`, HANDOFF_TIMEOUT_MS: '700' });
    try {
      // The replicas are this project's servers: their /proxy-to-silent is a 404 (failed), not silent.
      const started = Date.now();
      const added = await lb.call('POST', '/add', { n: 1 });
      assert.equal(added.status, 200);
      assert.ok(Date.now() - started < 10_000);
      const metrics = (await lb.call('GET', '/metrics')).text;
      assert.match(metrics, /^lb_handoff_notifications_total\{phase="prepare",outcome="failed"\} [1-9]\d*$/m);
      const { HandoffNotifier } = await import('../../src/membership/handoff.js');
      const { Ring, sha256 } = await import('../../src/routing/index.js');
      const notifier = new HandoffNotifier({
        path: () => '/hold',
        timeoutMs: () => 500,
        hashFunction: 'sha256',
        log: (await import('pino')).pino({ level: 'silent' }),
      });
      const outcomes: string[] = [];
      notifier.on('notified', (_phase, outcome) => outcomes.push(outcome));
      const ring = (n: number) =>
        Ring.of(
          { slots: 512, virtualServers: 9, hash: sha256 },
          Array.from({ length: n }, (_, k) => ({ name: `S${k + 1}`, index: k + 1, url: `http://127.0.0.1:${port}` })),
        );
      const t0 = Date.now();
      await notifier.prepare(ring(2), ring(3), 2);
      const waited = Date.now() - t0;
      assert.ok(waited >= 450 && waited < 3000, `waited ${waited} ms`);
      assert.deepEqual(outcomes, ['timeout'], 'one URL (all three share it): timed out');
      assert.ok(held.length >= 1);
      const notice = JSON.parse(await bodyOf(held[0]!)) as HandoffNotice;
      assert.equal(notice.phase, 'prepare');
      assert.deepEqual(notice.keyspace, { kind: 'ring', positions: 512, hashFunction: 'sha256' });
    } finally {
      for (const request of held) request.socket.destroy();
      silent.close();
      await lb.stop();
    }
  });
});

function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => resolve(text));
  });
}
