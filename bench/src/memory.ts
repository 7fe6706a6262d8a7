// Memory per idle connection: the LB, nginx and HAProxy in one run, before the same 3 replicas.
// Each gets two batches of 4,500 keep-alive connections that made one request and then sit idle;
// the growth of its processes' RSS, per connection. Then the LB alone with 2 x 2,000 idle WebSocket
// tunnels. Three figures each (see growthPerItem): marginal (the second batch over the first, read
// at once: what one more connection keeps), settled (after V8 gave back its young generation's
// growth, when its memory reducer ran within the window), and the first batch at once.
// npm run bench:memory [-- --connections 4500 --tunnels 2000 --settle-ms 30000]
// (2 x 4,500: HAProxy takes two descriptors a connection, and the hard limit here is 20,000.)
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { WebSocket } from 'ws';
import { type Growth, growthPerItem, idleConnections, idleTunnels } from '../../kit/src/idle.js';
import { spawnLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import { childrenOf } from './measure.js';
import { ensureInstalled, startHaproxy, startNginx } from './proxies.js';

const { values } = parseArgs({
  options: { connections: { type: 'string' }, tunnels: { type: 'string' }, 'settle-ms': { type: 'string' } },
});
const CONNECTIONS = Number(values.connections ?? 4500);
const TUNNELS = Number(values.tunnels ?? 2000);
const log = (line: string) => console.error(line);

const SETTLE_MS = Number(values['settle-ms'] ?? 30_000);

const described = (g: Growth) =>
  `RSS ${(g.before / 2 ** 20).toFixed(1)} -> ${(g.after / 2 ** 20).toFixed(1)} MiB; KiB each: marginal ${g.marginalKib.toFixed(2)}, settled ${g.kib.toFixed(2)}, first batch at once ${g.earlyKib.toFixed(2)}`;

/** RSS growth of `pids()` per connection while `count` idle connections are open. */
async function perConnection(name: string, port: number, pids: () => number[], count: number) {
  const sockets: Socket[] = [];
  await idleConnections(port, 200, sockets); // warm: pools, JIT, buffers
  const open = (n: number) => idleConnections(port, n, sockets);
  const growth = await growthPerItem(pids, open, count, SETTLE_MS);
  for (const socket of sockets) socket.destroy();
  log(`${name}: ${described(growth)}`);
  return growth;
}

/** Tunnels in an LB of their own: the first one's heap is still settling after its 8,000 connections closed. */
async function perTunnel(count: number) {
  const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256', HASH_KEY: 'query:room,request-id' });
  try {
    return await tunnelGrowth(Number(new URL(lb.url).port), lb.pid, count);
  } finally {
    await lb.stop();
  }
}

async function tunnelGrowth(port: number, pid: number, count: number) {
  const tunnels: WebSocket[] = [];
  await idleTunnels(port, 100, tunnels, count);
  const open = (n: number) => idleTunnels(port, n, tunnels);
  const growth = await growthPerItem(() => [pid], open, count, SETTLE_MS);
  for (const ws of tunnels) ws.terminate();
  log(`lb tunnels: ${described(growth)}`);
  return growth;
}

const dir = await mkdtemp(join(tmpdir(), 'lb-bench-memory-'));
const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256', HASH_KEY: 'query:room,request-id' });
const stops: (() => Promise<unknown>)[] = [() => lb.stop()];
try {
  const replicaPorts = (await lb.members()).map((m) => Number(new URL(m.url).port));
  const rows: ({ target: string } & Growth)[] = [];
  rows.push({
    target: 'lb',
    ...(await perConnection('lb', Number(new URL(lb.url).port), () => [lb.pid], CONNECTIONS)),
  });
  if (ensureInstalled('nginx', 'nginx-light', log)) {
    const nginx = await startNginx(dir, await freePort(), replicaPorts);
    stops.push(nginx.stop);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    rows.push({
      target: 'nginx',
      ...(await perConnection('nginx', nginx.port, () => [nginx.pid, ...childrenOf(nginx.pid)], CONNECTIONS)),
    });
  }
  if (ensureInstalled('haproxy', 'haproxy', log)) {
    const haproxy = await startHaproxy(dir, await freePort(), replicaPorts);
    stops.push(haproxy.stop);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    rows.push({
      target: 'haproxy',
      ...(await perConnection('haproxy', haproxy.port, () => [haproxy.pid], CONNECTIONS)),
    });
  }
  const tunnel = await perTunnel(TUNNELS);
  const nginx = rows.find((r) => r.target === 'nginx');
  console.log(
    `\n| KiB per idle item (2 x ${CONNECTIONS} connections, 2 x ${TUNNELS} tunnels) | marginal | vs nginx | settled | first batch at once |\n| --- | --- | --- | --- | --- |`,
  );
  const row = (name: string, g: Growth) =>
    `| ${name} | ${g.marginalKib.toFixed(2)} | ${nginx ? (g.marginalKib / nginx.marginalKib).toFixed(2) : '-'} | ${g.kib.toFixed(2)} | ${g.earlyKib.toFixed(2)} |`;
  for (const r of rows) console.log(row(r.target, r));
  console.log(row('lb, idle WebSocket tunnel', tunnel));
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
