import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { valueBarChart, writeChart } from '../../tester/src/charts.js';
import { ensureInstalled, startHaproxy, startNginx, type Proxy } from './proxies.js';
import { freePort } from '../../kit/src/net.js';
import { spawnLb } from '../../kit/src/lb.js';
import { waitForHeartbeat } from '../../lb/src/replicas/probe.js';

interface Row {
  target: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

const log = (line: string) => console.error(line);
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    duration: { type: 'string' },
    json: { type: 'string' },
    targets: { type: 'string' },
  },
});
const duration = Number(values.duration ?? (values.quick ? 3 : 10));
const connections = Number(values.connections ?? 64);
const rounds = Number(values.rounds ?? 3);

/** Every target serves /heartbeat (the proxies forward it), so a 200 there means it is up. */
const waitForPort = (port: number) => waitForHeartbeat(`http://127.0.0.1:${port}`, 10_000);

/** The LB as its own process (process driver, 3 replicas), and the replicas' ports. */
async function startLb(): Promise<{ port: number; replicaPorts: number[]; stop: () => Promise<void> }> {
  const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256' });
  const replicaPorts = (await lb.members()).map((m) => Number(new URL(m.url).port));
  return { port: Number(new URL(lb.url).port), replicaPorts, stop: async () => void (await lb.stop()) };
}

/** One autocannon run; every request gets a random id, as clients of a hashing LB would send. */
async function measure(port: number, seconds: number): Promise<Row & { non2xx: number }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/home`,
    connections,
    duration: seconds,
    requests: [
      {
        setupRequest: (req: any) => ({ ...req, headers: { ...req.headers, 'x-request-id': String(100000 + Math.floor(Math.random() * 900000)) } }),
      },
    ],
  });
  return {
    target: '',
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    non2xx: result.non2xx,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'lb-bench-'));
  const stops: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const lb = await startLb();
    stops.push(lb.stop);
    const targets: Record<string, number> = { direct: lb.replicaPorts[0]!, lb: lb.port };
    if (ensureInstalled('nginx', 'nginx-light', log)) {
      const nginx: Proxy = await startNginx(dir, await freePort(), lb.replicaPorts);
      stops.push(nginx.stop);
      targets.nginx = nginx.port;
    } else log('nginx not available: skipped');
    if (ensureInstalled('haproxy', 'haproxy', log)) {
      const haproxy = await startHaproxy(dir, await freePort(), lb.replicaPorts);
      stops.push(haproxy.stop);
      targets.haproxy = haproxy.port;
    } else log('haproxy not available: skipped');
    const wanted = values.targets ? values.targets.split(',') : Object.keys(targets);
    const names = Object.keys(targets).filter((t) => wanted.includes(t));
    for (const name of names) await waitForPort(targets[name]!);

    log(`warm-up: 2 s per target; then ${rounds} rounds x ${duration} s, ${connections} connections`);
    for (const name of names) await measure(targets[name]!, 2);
    const samples: Record<string, Row[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so drift (thermal, caches, background work) cancels out.
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const row = await measure(targets[name]!, duration);
        samples[name]!.push(row);
        log(`round ${round + 1} ${name.padEnd(8)} ${row.rps.toFixed(0).padStart(7)} req/s  p50 ${row.p50_ms} ms  p99 ${row.p99_ms} ms  errors ${row.errors}`);
      }
    }
    const rows: Row[] = names.map((target) => ({
      target,
      rps: median(samples[target]!.map((r) => r.rps)),
      p50_ms: median(samples[target]!.map((r) => r.p50_ms)),
      p99_ms: median(samples[target]!.map((r) => r.p99_ms)),
      errors: samples[target]!.reduce((a, r) => a + r.errors, 0),
    }));
    const nginxRps = rows.find((r) => r.target === 'nginx')?.rps;
    console.log(`\n| target | req/s | p50 ms | p99 ms | errors | vs nginx |\n| --- | --- | --- | --- | --- | --- |`);
    for (const r of rows) {
      const ratio = nginxRps ? (r.rps / nginxRps).toFixed(2) : '-';
      console.log(`| ${r.target} | ${r.rps.toFixed(0)} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${ratio} |`);
    }
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
    const report = { rows, machine, connections, duration, rounds, generatedAt: new Date().toISOString() };
    if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    await mkdir('plots', { recursive: true });
    await writeChart(
      'plots',
      'bench',
      valueBarChart(
        `Throughput, ${connections} connections, median of ${rounds} x ${duration} s`,
        rows.map((r) => ({ label: r.target, value: r.rps })),
        { x: 'Target (same 3 replicas)', y: 'Requests per second' },
      ),
    );
    log('chart: plots/bench.png, plots/bench.svg');
  } finally {
    await cleanup();
  }
}

await main();
