import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import { waitForHeartbeat } from '../../lb/src/replicas/probe.js';
import { valueBarChart, writeChart } from '../../tester/src/charts.js';
import { printH2Rows, runH2Suite } from './h2-suite.js';
import {
  autocannonRun,
  childrenOf,
  commandOf,
  measuringOrder,
  median,
  type Sample,
  withCpu,
  wrkRun,
} from './measure.js';
import { ensureInstalled, type ProxyProcess, startHaproxy, startNginx, startNodeScript } from './proxies.js';

interface Row {
  target: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** utime + stime of the proxy's process(es) over a round, per request; null for direct. */
  cpu_us_per_req: number | null;
}

/** A target: its port, and the processes whose CPU is its cost (none for direct). */
interface Target {
  readonly port: number;
  readonly pids: () => number[];
  /** The load sends a random `sid` cookie too (the key of HASH_KEY=cookie:sid). */
  readonly cookie?: boolean;
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
    client: { type: 'string' },
    suite: { type: 'string' },
  },
});
/** `h1` (wrk over HTTP/1.1), `h2` (h2load: h2c, h2 over TLS, gRPC, TLS handshakes) or `all` (both, the default). */
const suite = values.suite ?? 'all';
if (!['all', 'h1', 'h2'].includes(suite)) throw new Error(`--suite must be all, h1 or h2 (got ${suite})`);
const client = values.client ?? 'wrk';
if (client !== 'wrk' && client !== 'autocannon') throw new Error(`--client must be wrk or autocannon (got ${client})`);
const duration = Number(values.duration ?? (values.quick ? 3 : 5));
const connections = Number(values.connections ?? 64);
/** Medians of at least 5 rounds: fewer, and one slow round moves a ratio. */
const rounds = Number(values.rounds ?? (values.quick ? 3 : 7));

/** Every target serves /heartbeat (the proxies forward it), so a 200 there means it is up. */
const waitForPort = (port: number) => waitForHeartbeat(`http://127.0.0.1:${port}`, 10_000);

/** The LB as its own process (process driver, 3 replicas), and the replicas' ports. */
async function startLb(
  env: Record<string, string> = {},
): Promise<{ port: number; pid: number; replicaPorts: number[]; stop: () => Promise<void> }> {
  const lb = await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256', ...env });
  const replicaPorts = (await lb.members()).map((m) => Number(new URL(m.url).port));
  return { port: Number(new URL(lb.url).port), pid: lb.pid, replicaPorts, stop: async () => void (await lb.stop()) };
}

const measure = (target: Target, seconds: number): Promise<Sample> =>
  client === 'wrk'
    ? wrkRun(target.port, seconds, connections, target.cookie)
    : autocannonRun(target.port, seconds, connections, target.cookie);

/** An OTLP/HTTP receiver that takes every export and counts its spans (the tracing rows' collector). */
async function otlpReceiver(): Promise<{ url: string; spans: () => number; stop: () => Promise<void> }> {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      spans += (
        Buffer.concat(chunks)
          .toString()
          .match(/"spanId"/g) ?? []
      ).length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

function machineOf() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

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
    if (suite === 'h2') {
      const h2Rows = await runH2Suite({ dir, rounds, duration, log, stops });
      printH2Rows(h2Rows);
      if (values.json)
        await writeFile(
          values.json,
          `${JSON.stringify({ h2Rows, machine: machineOf(), rounds, duration, generatedAt: new Date().toISOString() }, null, 2)}\n`,
        );
      return;
    }
    const lb = await startLb();
    stops.push(lb.stop);
    const targets: Record<string, Target> = {
      direct: { port: lb.replicaPorts[0]!, pids: () => [] },
      lb: { port: lb.port, pids: () => [lb.pid] }, // not its children: they are the replicas
    };
    const proxied = (proxy: ProxyProcess): Target => ({
      port: proxy.port,
      pids: () => [proxy.pid, ...childrenOf(proxy.pid)],
    });
    // Routing by a string cookie key (SHA-256 of it per request) instead of X-Request-Id: the same load plus the cookie.
    const cookieLb = await startLb({ HASH_KEY: 'cookie:sid' });
    stops.push(cookieLb.stop);
    targets['lb-cookie'] = { port: cookieLb.port, pids: () => [cookieLb.pid], cookie: true };
    // What seeing costs: the access log (to a file, as ACCESS_LOG=stdout redirected to one would be),
    // and OpenTelemetry spans at 100% and 1% sampling, exported to a receiver here.
    const receiver = await otlpReceiver();
    stops.push(receiver.stop);
    const observed: Record<string, Record<string, string>> = {
      'lb-log': { ACCESS_LOG: join(dir, 'access.log') },
      'lb-trace100': { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: 'always_on' },
      'lb-trace1': {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.01',
      },
    };
    for (const [name, env] of Object.entries(observed)) {
      const variant = await startLb(env);
      stops.push(variant.stop);
      targets[name] = { port: variant.port, pids: () => [variant.pid] };
    }
    // The LB with LB_WORKERS=2: its controller and two data-plane workers (its own replicas are not counted).
    const workers = await startLb({ LB_WORKERS: '2' });
    stops.push(workers.stop);
    const lbProcesses = (pid: number) => [pid, ...childrenOf(pid).filter((child) => /lb\.js/.test(commandOf(child)))];
    targets['lb-2w'] = { port: workers.port, pids: () => lbProcesses(workers.pid) };
    for (const name of ['node-bare', 'node-floor'] as const) {
      const reference = await startNodeScript(name, await freePort(), lb.replicaPorts);
      stops.push(reference.stop);
      targets[name] = proxied(reference);
    }
    if (ensureInstalled('nginx', 'nginx-light', log)) {
      const nginx = await startNginx(dir, await freePort(), lb.replicaPorts);
      stops.push(nginx.stop);
      targets.nginx = proxied(nginx); // master and its worker
    } else log('nginx not available: skipped');
    if (ensureInstalled('haproxy', 'haproxy', log)) {
      const haproxy = await startHaproxy(dir, await freePort(), lb.replicaPorts);
      stops.push(haproxy.stop);
      targets.haproxy = proxied(haproxy);
    } else log('haproxy not available: skipped');
    if (client === 'wrk' && !ensureInstalled('wrk', 'wrk', log))
      throw new Error('wrk is not installed (apt-get install wrk), or use --client autocannon');
    const wanted = values.targets ? values.targets.split(',') : Object.keys(targets);
    const listed = Object.keys(targets).filter((t) => wanted.includes(t));
    const names = measuringOrder(listed);
    for (const name of names) await waitForPort(targets[name]!.port);

    log(`${client}: warm-up 2 s per target; then ${rounds} rounds x ${duration} s, ${connections} connections`);
    for (const name of names) await measure(targets[name]!, 2);
    const samples: Record<string, Row[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so drift (thermal, caches, background work) cancels out.
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const target = targets[name]!;
        const { result, cpuUs } = await withCpu(target.pids, () => measure(target, duration));
        const cpu = target.pids().length === 0 || result.requests === 0 ? null : cpuUs / result.requests;
        samples[name]!.push({ target: name, ...result, cpu_us_per_req: cpu });
        log(
          `round ${round + 1} ${name.padEnd(9)} ${result.rps.toFixed(0).padStart(7)} req/s  p50 ${result.p50_ms.toFixed(2)} ms  p99 ${result.p99_ms.toFixed(2)} ms  ` +
            `cpu ${cpu === null ? '-' : `${cpu.toFixed(1)} us/req`}  errors ${result.errors}`,
        );
      }
    }
    // Rows in the order listed (the replicas alone first), whatever the order of measuring.
    const rows: Row[] = listed.map((target) => {
      const cpu = samples[target]!.map((r) => r.cpu_us_per_req).filter((c): c is number => c !== null);
      return {
        target,
        rps: median(samples[target]!.map((r) => r.rps)),
        p50_ms: median(samples[target]!.map((r) => r.p50_ms)),
        p99_ms: median(samples[target]!.map((r) => r.p99_ms)),
        errors: samples[target]!.reduce((a, r) => a + r.errors, 0),
        cpu_us_per_req: cpu.length ? median(cpu) : null,
      };
    });
    const nginx = rows.find((r) => r.target === 'nginx');
    console.log(
      `\n| target | req/s | p50 ms | p99 ms | CPU us/req | errors | req/s vs nginx | CPU vs nginx |\n| --- | --- | --- | --- | --- | --- | --- | --- |`,
    );
    for (const r of rows) {
      const rpsRatio = nginx ? (r.rps / nginx.rps).toFixed(2) : '-';
      const cpuRatio =
        nginx?.cpu_us_per_req && r.cpu_us_per_req !== null ? (r.cpu_us_per_req / nginx.cpu_us_per_req).toFixed(2) : '-';
      const cpu = r.cpu_us_per_req === null ? '-' : r.cpu_us_per_req.toFixed(1);
      console.log(
        `| ${r.target} | ${r.rps.toFixed(0)} | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${cpu} | ${r.errors} | ${rpsRatio} | ${cpuRatio} |`,
      );
    }
    // Each ratio two ways: of the two medians, and the median of each round's own ratio (the two ran
    // back to back in every round, so the machine's drift between rounds cancels).
    const cpuOf = (t: string) => rows.find((r) => r.target === t)?.cpu_us_per_req;
    const compare = (a: string, b: string) => {
      const [ca, cb] = [cpuOf(a), cpuOf(b)];
      if (!ca || !cb) return;
      const [ra, rb] = [samples[a]!, samples[b]!];
      const paired = ra.flatMap((r, k) => {
        const x = r.cpu_us_per_req;
        const y = rb[k]?.cpu_us_per_req;
        return x && y ? [x / y] : [];
      });
      console.log(
        `${a} / ${b} CPU per request: ${(ca / cb).toFixed(3)} (medians), ${median(paired).toFixed(3)} (median of ${paired.length} rounds' ratios)`,
      );
    };
    for (const variant of ['lb-cookie', 'lb-log', 'lb-trace100', 'lb-trace1']) compare(variant, 'lb');
    // The LB's own work against the least its parts cost (raw sockets and llhttp relaying unchanged).
    compare('lb', 'node-floor');
    if (receiver.spans() > 0) log(`the OTLP receiver got ${receiver.spans()} spans`);
    const h2Rows = suite === 'all' ? await runH2Suite({ dir, rounds, duration, log, stops }) : [];
    if (h2Rows.length > 0) printH2Rows(h2Rows);
    const machine = machineOf();
    const report = {
      /** The command's own arguments, for the page that shows these figures. */
      args: process.argv.slice(2).join(' '),
      client,
      rows,
      h2Rows,
      machine,
      connections,
      duration,
      rounds,
      generatedAt: new Date().toISOString(),
    };
    if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    await mkdir('plots', { recursive: true });
    const chart = client === 'wrk' ? 'bench' : `bench-${client}`;
    await writeChart(
      'plots',
      chart,
      valueBarChart(
        `Throughput (${client}), ${connections} connections, median of ${rounds} x ${duration} s`,
        rows.map((r) => ({ label: r.target, value: r.rps })),
        { x: 'Target (same 3 replicas)', y: 'Requests per second' },
      ),
    );
    log(`chart: plots/${chart}.png, plots/${chart}.svg`);
  } finally {
    await cleanup();
  }
}

await main();
