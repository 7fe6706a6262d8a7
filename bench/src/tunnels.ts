// Tunnel throughput: 64 WebSocket echo tunnels through the LB, nginx and HAProxy in one run, to
// the same 3 replicas' /ws; each tunnel sends a 64 KiB binary message and waits for its echo, over
// and over. MB/s echoed (payload both ways) and each proxy's CPU per MB; rounds alternate.
// npm run bench:tunnels [-- --tunnels 64 --seconds 5 --rounds 3]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { spawnLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import { childrenOf, median, withCpu } from './measure.js';
import { ensureInstalled, startHaproxy, startNginx } from './proxies.js';

const { values } = parseArgs({
  options: { tunnels: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' } },
});
const TUNNELS = Number(values.tunnels ?? 64);
const SECONDS = Number(values.seconds ?? 5);
const ROUNDS = Number(values.rounds ?? 3);
const MESSAGE = Buffer.alloc(64 * 1024, 7);
const log = (line: string) => console.error(line);

/** Opens the tunnels, echoes for `seconds`, returns the payload bytes moved (sent + received). */
async function echoFor(port: number, seconds: number): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: TUNNELS }, async (_, k) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=t${k}`);
      await new Promise<void>((resolve, reject) => {
        ws.once('message', () => resolve()); // the replica's greeting
        ws.once('error', reject);
      });
      return ws;
    }),
  );
  let bytes = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.on('message', (data: Buffer) => {
            bytes += MESSAGE.length + data.length;
            if (Date.now() < until) ws.send(MESSAGE);
            else resolve();
          });
          ws.send(MESSAGE);
        }),
    ),
  );
  for (const ws of sockets) ws.terminate();
  return bytes;
}

const dir = await mkdtemp(join(tmpdir(), 'lb-bench-tunnels-'));
const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_KEY: 'query:room' });
const stops: (() => Promise<unknown>)[] = [() => lb.stop()];
try {
  const replicaPorts = (await lb.members()).map((m) => Number(new URL(m.url).port));
  const targets: { name: string; port: number; pids: () => number[] }[] = [
    { name: 'lb', port: Number(new URL(lb.url).port), pids: () => [lb.pid] },
  ];
  if (ensureInstalled('nginx', 'nginx-light', log)) {
    const nginx = await startNginx(dir, await freePort(), replicaPorts);
    stops.push(nginx.stop);
    targets.push({ name: 'nginx', port: nginx.port, pids: () => [nginx.pid, ...childrenOf(nginx.pid)] });
  }
  if (ensureInstalled('haproxy', 'haproxy', log)) {
    const haproxy = await startHaproxy(dir, await freePort(), replicaPorts);
    stops.push(haproxy.stop);
    targets.push({ name: 'haproxy', port: haproxy.port, pids: () => [haproxy.pid] });
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const t of targets) await echoFor(t.port, 1); // warm-up
  const samples = new Map(targets.map((t) => [t.name, [] as { mbps: number; cpuMsPerMb: number }[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
      const { result: bytes, cpuUs } = await withCpu(t.pids, () => echoFor(t.port, SECONDS));
      const mb = bytes / 2 ** 20;
      const sample = { mbps: mb / SECONDS, cpuMsPerMb: cpuUs / 1000 / mb };
      samples.get(t.name)!.push(sample);
      log(
        `round ${round + 1} ${t.name.padEnd(8)} ${sample.mbps.toFixed(0)} MB/s, ${sample.cpuMsPerMb.toFixed(2)} ms CPU per MB`,
      );
    }
  }
  const rows = targets.map((t) => ({
    name: t.name,
    mbps: median(samples.get(t.name)!.map((s) => s.mbps)),
    cpu: median(samples.get(t.name)!.map((s) => s.cpuMsPerMb)),
  }));
  const nginx = rows.find((r) => r.name === 'nginx');
  console.log(`\n| target | MB/s (${TUNNELS} tunnels) | CPU ms per MB | CPU vs nginx |\n| --- | --- | --- | --- |`);
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.mbps.toFixed(0)} | ${r.cpu.toFixed(2)} | ${nginx ? (r.cpu / nginx.cpu).toFixed(2) : '-'} |`,
    );
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
