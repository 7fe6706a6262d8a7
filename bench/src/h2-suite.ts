import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnLb } from '../../kit/src/lb.js';
import { freePort } from '../../kit/src/net.js';
import { type H2Ports, makeTlsPair, startHaproxyH2, startNginxH2 } from './h2-proxies.js';
import { type H2Load, h2loadRun } from './h2load.js';
import { childrenOf, median, withCpu } from './measure.js';
import { ensureInstalled, type ProxyProcess, supervise } from './proxies.js';

/** One row of the HTTP/2 suite: a proxy and a kind of load. */
export interface H2Row {
  target: string;
  /** Streams (requests) per second; handshake rows: TLS connections per second. */
  rps: number;
  mean_ms: number;
  errors: number;
  /** utime + stime of the proxy's process(es) per request (or per handshake). */
  cpu_us_per_req: number | null;
}

export interface H2SuiteOptions {
  readonly dir: string;
  readonly rounds: number;
  readonly duration: number;
  readonly log: (line: string) => void;
  /** What to stop at the end, in reverse order. */
  readonly stops: (() => Promise<void>)[];
}

/** Many streams on few connections: 8 connections x 32 streams. */
const CLIENTS = 8;
const STREAMS = 32;
/** Handshake rows: connections of one request each, this many per run. */
const HANDSHAKES = 500;
/** One routing key for every proxy, so each sends every request to the same replica. */
const KEY = 'x-request-id: 42';
/** lb.v1.Echo/Who {key: "bench"}: gRPC's 5-byte prefix (no compression, length 7), then the message. */
const WHO_REQUEST = Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from('bench')]);

interface Kind {
  readonly name: string;
  load(port: number, seconds: number): H2Load;
}

/**
 * The HTTP/2 rows of `npm run bench`: h2c streams and h2 over TLS to HTTP/1.1 replicas, gRPC unary
 * calls to h2c replicas, and TLS handshakes, for the LB, nginx and HAProxy side by side (h2load).
 */
export async function runH2Suite(options: H2SuiteOptions): Promise<H2Row[]> {
  const { dir, log, stops } = options;
  if (!ensureInstalled('h2load', 'nghttp2-client', log)) {
    log('h2load not available (apt-get install nghttp2-client): the HTTP/2 rows are skipped');
    return [];
  }
  const tls = await makeTlsPair(dir);
  const body = join(dir, 'who.bin');
  await writeFile(body, WHO_REQUEST);
  const lbs = await startLbs(tls.cert, tls.key, stops);
  const proxies: Record<string, { ports: H2Ports; pids: () => number[] }> = { lb: lbs };
  const upstreams = { http1: lbs.http1Replicas, grpc: lbs.grpcReplicas };
  const proxied = (proxy: ProxyProcess, ports: H2Ports) => ({
    ports,
    pids: () => [proxy.pid, ...childrenOf(proxy.pid)],
  });
  if (ensureInstalled('nginx', 'nginx-light', log)) {
    const ports = await freePorts();
    const nginx = await startNginxH2(dir, ports, upstreams, tls);
    stops.push(nginx.stop);
    proxies.nginx = proxied(nginx, ports);
  }
  if (ensureInstalled('haproxy', 'haproxy', log)) {
    const ports = await freePorts();
    const haproxy = await startHaproxyH2(dir, ports, upstreams, tls);
    stops.push(haproxy.stop);
    proxies.haproxy = proxied(haproxy, ports);
  }
  const floorPort = await freePort();
  const floor = spawn(process.execPath, ['--import', 'tsx', 'bench/src/node-h2-floor.ts', String(floorPort)], {
    stdio: 'ignore',
  });
  stops.push(supervise(floor));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // nginx, HAProxy and the floor bind their ports
  const kinds: Kind[] = [
    { name: 'h2c', load: (port, seconds) => streams(`http://127.0.0.1:${port}/home`, seconds) },
    { name: 'h2-tls', load: (port, seconds) => streams(`https://127.0.0.1:${port}/home`, seconds) },
    {
      name: 'grpc',
      load: (port, seconds) => ({
        ...streams(`http://127.0.0.1:${port}/lb.v1.Echo/Who`, seconds),
        headers: [KEY, 'content-type: application/grpc', 'te: trailers'],
        body,
      }),
    },
    {
      name: 'tls-handshake',
      load: (port) => ({
        url: `https://127.0.0.1:${port}/home`,
        clients: HANDSHAKES,
        streams: 1,
        requests: HANDSHAKES,
        headers: [KEY],
      }),
    },
  ];
  const portOf = (ports: H2Ports, kind: string) =>
    kind === 'grpc' ? ports.grpc : kind === 'h2c' ? ports.h2c : ports.tls;
  const targets = kinds.flatMap((kind) =>
    Object.entries(proxies).map(([proxy, { ports, pids }]) => ({
      name: `${proxy} ${kind.name}`,
      run: (seconds: number) => kind.load(portOf(ports, kind.name), seconds),
      pids,
    })),
  );
  // node:http2 answering each stream itself: the least a Node HTTP/2 front can cost.
  targets.push({
    name: 'node-h2-floor h2c',
    run: (seconds) => streams(`http://127.0.0.1:${floorPort}/home`, seconds),
    pids: () => [floor.pid!],
  });
  log(
    `h2load: warm-up 2 s per target; then ${options.rounds} rounds x ${options.duration} s, ${CLIENTS} connections x ${STREAMS} streams`,
  );
  for (const target of targets) await h2loadRun(target.run(2));
  const samples = new Map<string, H2Row[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const { result, cpuUs } = await withCpu(target.pids, () => h2loadRun(target.run(options.duration)));
      const cpu = result.requests === 0 ? null : cpuUs / result.requests;
      samples.get(target.name)!.push({ target: target.name, ...result, cpu_us_per_req: cpu });
      log(
        `round ${round + 1} ${target.name.padEnd(22)} ${result.rps.toFixed(0).padStart(7)} /s  mean ${result.mean_ms.toFixed(2)} ms  ` +
          `cpu ${cpu === null ? '-' : `${cpu.toFixed(1)} us`}  errors ${result.errors}`,
      );
    }
  }
  return targets.map(({ name }) => medianRow(name, samples.get(name)!));
}

const streams = (url: string, seconds: number): H2Load => ({
  url,
  clients: CLIENTS,
  streams: STREAMS,
  seconds,
  headers: [KEY],
});

async function freePorts(): Promise<H2Ports> {
  return { h2c: await freePort(), tls: await freePort(), grpc: await freePort() };
}

/** The LB three times: HTTP/1 replicas (h2c clients), the same over TLS, and gRPC (h2c) replicas. */
async function startLbs(cert: string, key: string, stops: (() => Promise<void>)[]) {
  const start = async (env: Record<string, string>) => {
    const lb = await spawnLb({ N: '3', HASH_FUNCTION: 'sha256', ...env });
    stops.push(async () => void (await lb.stop()));
    return lb;
  };
  const [plain, secure, grpc] = [
    await start({}),
    await start({ TLS_CERT: cert, TLS_KEY: key }),
    await start({ REPLICA_PROTOCOL: 'h2c' }),
  ];
  const replicaPorts = async (lb: typeof plain) => (await lb.members()).map((m) => Number(new URL(m.url).port));
  const portOf = (lb: typeof plain) => Number(new URL(lb.url).port);
  return {
    ports: { h2c: portOf(plain), tls: portOf(secure), grpc: portOf(grpc) },
    // Each kind of load goes to one instance: the three together are the LB's cost (their replicas are not counted).
    pids: () => [plain.pid, secure.pid, grpc.pid],
    http1Replicas: await replicaPorts(plain),
    grpcReplicas: await replicaPorts(grpc),
  };
}

function medianRow(target: string, rows: H2Row[]): H2Row {
  const cpu = rows.map((r) => r.cpu_us_per_req).filter((c): c is number => c !== null);
  return {
    target,
    rps: median(rows.map((r) => r.rps)),
    mean_ms: median(rows.map((r) => r.mean_ms)),
    errors: rows.reduce((sum, r) => sum + r.errors, 0),
    cpu_us_per_req: cpu.length ? median(cpu) : null,
  };
}

/** The rows as a table, each beside nginx's row of the same kind. */
export function printH2Rows(rows: readonly H2Row[]): void {
  console.log(
    '\n| target | per s | mean ms | CPU us each | errors | per s vs nginx | CPU vs nginx |\n| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const row of rows) {
    const kind = row.target.split(' ')[1];
    const nginx = rows.find((r) => r.target === `nginx ${kind}`);
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? (a / b).toFixed(2) : '-');
    console.log(
      `| ${row.target} | ${row.rps.toFixed(0)} | ${row.mean_ms.toFixed(2)} | ${row.cpu_us_per_req?.toFixed(1) ?? '-'} | ${row.errors} | ${ratio(row.rps, nginx?.rps)} | ${ratio(row.cpu_us_per_req, nginx?.cpu_us_per_req)} |`,
    );
  }
}
