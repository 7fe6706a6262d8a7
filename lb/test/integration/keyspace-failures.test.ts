import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subscribeChanges } from '../../../kit/src/feed.js';
import { startLb, waitFor } from '../../../kit/src/lb.js';

describe('the change feed through a flatline and its respawn', () => {
  it('a killed replica: its keys move to the next replicas (flatline), then back (respawn), both events', {
    timeout: 30_000,
  }, async () => {
    const lb = await startLb({
      N: '3',
      HEARTBEAT_INTERVAL_MS: '100',
      HEARTBEAT_TIMEOUT_MS: '100',
      MAX_FAIL_COUNT: '2',
    });
    const feed = await subscribeChanges(lb.url);
    try {
      await waitFor('the table', () => feed.events[0], 2000);
      const before = feed.events[0]!.data.shares;
      process.kill(lb.pid('Server-2'), 'SIGKILL');
      await waitFor('flatline and respawn', () => (feed.events.length >= 3 ? true : undefined), 20_000);
      const [flatline, respawn] = [feed.events[1]!.data, feed.events[2]!.data];
      assert.deepEqual([flatline.reason, respawn.reason], ['flatline', 'respawn']);
      // Every position Server-2 owned moved away from it (and, the SPEC ring placing virtual servers
      // by probing past taken slots, a few of another's may move with them).
      const positions = (ranges: { from: number; to: number }[]) =>
        ranges
          .flatMap((r) => {
            const span = r.from <= r.to ? r.to - r.from + 1 : 512 - r.from + r.to + 1; // a range may wrap
            return Array.from({ length: span }, (_, k) => (r.from + k) % 512);
          })
          .sort((a, b) => a - b);
      const owned = feed.events[0]!.data.owners.filter((o: { replica: string }) => o.replica === 'Server-2');
      const movedFrom2 = flatline.moved.filter((r: { was: string }) => r.was === 'Server-2');
      assert.ok(owned.length > 0);
      assert.deepEqual(positions(movedFrom2), positions(owned), "exactly Server-2's positions moved from it");
      assert.ok(flatline.movedRatio >= before['Server-2']);
      assert.equal(flatline.shares['Server-2'], undefined, 'out of the table');
      // The respawn moves exactly those ranges back.
      assert.deepEqual(
        respawn.moved,
        flatline.moved.map((r: { from: number; to: number; was: string; now: string }) => ({
          ...r,
          was: r.now,
          now: r.was,
        })),
      );
      assert.equal(respawn.movedRatio, flatline.movedRatio);
      assert.deepEqual(respawn.shares, before);
    } finally {
      feed.close();
      await lb.stop();
    }
  });
});
