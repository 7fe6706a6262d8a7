import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { growthPerItem, idleConnections, idleTunnels } from '../../../kit/src/idle.js';
import { type SpawnedLb, spawnLb } from '../../../kit/src/lb.js';

/**
 * Loose bounds on the marginal growth (the second batch over the first, see growthPerItem): they
 * catch a connection or a tunnel that keeps what it should not (a parser's buffers, an answer, a
 * closure chain), not the goal of issue 24 (4 KiB), which the bench measures (`npm run
 * bench:memory`, where the figures are).
 */
const MAX_KIB_PER_CONNECTION = 24;
const MAX_KIB_PER_TUNNEL = 48;
const SETTLE_MS = 1500;

describe('memory per idle connection and tunnel (RSS growth of the LB process, loosely bounded)', () => {
  let lb: SpawnedLb;
  before(async () => {
    lb = await spawnLb({ N: '3', HASH_KEY: 'query:room,request-id' });
  });
  after(() => lb.stop());

  it('2 x 4,000 idle keep-alive connections, then 2 x 1,000 idle tunnels', { timeout: 120_000 }, async () => {
    const port = Number(new URL(lb.url).port);
    const sockets: Socket[] = [];
    const tunnels: WebSocket[] = [];
    try {
      await idleConnections(port, 200, sockets);
      await idleTunnels(port, 100, tunnels, 1_000_000);
      const pids = () => [lb.pid];
      const connections = (n: number) => idleConnections(port, n, sockets);
      const perConnection = (await growthPerItem(pids, connections, 4000, SETTLE_MS)).marginalKib;
      const perTunnel = (await growthPerItem(pids, (n) => idleTunnels(port, n, tunnels), 1000, SETTLE_MS)).marginalKib;
      console.log(
        `# memory: ${perConnection.toFixed(2)} KiB per idle connection, ${perTunnel.toFixed(2)} KiB per idle tunnel`,
      );
      assert.ok(perConnection < MAX_KIB_PER_CONNECTION, `${perConnection.toFixed(2)} KiB per idle connection`);
      assert.ok(perTunnel < MAX_KIB_PER_TUNNEL, `${perTunnel.toFixed(2)} KiB per idle tunnel`);
    } finally {
      for (const socket of sockets) socket.destroy();
      for (const ws of tunnels) ws.terminate();
    }
  });
});
