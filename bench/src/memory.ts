// Memory per idle connection: the LB, nginx and HAProxy in one run, before the same 3 replicas.
// Each gets 8,000 keep-alive connections that made one request and then sit idle; the growth of
// its processes' RSS over them, per connection. Then the LB alone with 2,000 idle WebSocket tunnels.
// Each RSS is the lowest over a settle window (V8 gives its young generation's growth back late:
// see growthPerItem); the growth at once, that heap included, is printed beside it.
// npm run bench:memory [-- --connections 8000 --tunnels 2000 --settle-ms 40000]
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { WebSocket } from 'ws';
import { growthPerItem, idleConnections, idleTunnels } from '../../kit/src/idle.js';
import { spawnLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import { childrenOf } from './measure.js';
import { ensureInstalled, startHaproxy, startNginx } from './proxies.js';

const { values } = parseArgs({
  options: { connections: { type: 'string' }, tunnels: { type: 'string' }, 'settle-ms': { type: 'string' } },
});
const CONNECTIONS = Number(values.connections ?? 8000);
const TUNNELS = Number(values.tunnels ?? 2000);
const log = (line: string) => console.error(line);

const SETTLE_MS = Number(values['settle-ms'] ?? 40_000);

/** RSS growth of `pids()` per connection while `count` idle connections are open. */
async function perConnection(name: string, port: number, pids: () => number[], count: number) {
  const sockets: Socket[] = [];
  await idleConnections(port, 200, sockets); // warm: pools, JIT, buffers
  const open = (n: number) => idleConnections(port, n, sockets);
  const growth = await growthPerItem(pids, open, count, SETTLE_MS);
  for (const socket of sockets) socket.destroy();
  log(
    `${name}: RSS ${(growth.before / 2 ** 20).toFixed(1)} -> ${(growth.after / 2 ** 20).toFixed(1)} MiB, ${growth.kib.toFixed(2)} KiB per idle connection (${growth.earlyKib.toFixed(2)} at once)`,
  );
  return growth;
}

async function perTunnel(port: number, pid: number, count: number) {
  const tunnels: WebSocket[] = [];
  await idleTunnels(port, 100, tunnels, count);
  const open = (n: number) => idleTunnels(port, n, tunnels);
  const growth = await growthPerItem(() => [pid], open, count, SETTLE_MS);
  for (const ws of tunnels) ws.terminate();
  log(`lb tunnels: ${growth.kib.toFixed(2)} KiB per idle tunnel (${growth.earlyKib.toFixed(2)} at once)`);
  return growth;
}

const dir = await mkdtemp(join(tmpdir(), 'lb-bench-memory-'));
const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256', HASH_KEY: 'query:room,request-id' });
const stops: (() => Promise<unknown>)[] = [() => lb.stop()];
try {
  const replicaPorts = (await lb.members()).map((m) => Number(new URL(m.url).port));
  const rows: { target: string; kib: number; earlyKib: number }[] = [];
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
  const tunnel = await perTunnel(Number(new URL(lb.url).port), lb.pid, TUNNELS);
  const nginx = rows.find((r) => r.target === 'nginx');
  console.log(
    `\n| target | KiB per idle keep-alive connection (${CONNECTIONS}), settled | vs nginx | at once |\n| --- | --- | --- | --- |`,
  );
  for (const r of rows)
    console.log(
      `| ${r.target} | ${r.kib.toFixed(2)} | ${nginx ? (r.kib / nginx.kib).toFixed(2) : '-'} | ${r.earlyKib.toFixed(2)} |`,
    );
  console.log(
    `| lb, idle WebSocket tunnels (${TUNNELS}) | ${tunnel.kib.toFixed(2)} | - | ${tunnel.earlyKib.toFixed(2)} |`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
