import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callLb } from '../../client/src/api.js';
import { type RequestResult, runLoad } from '../../kit/src/load.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_SLOTS, defaultVirtualServers } from '../../lb/src/config.js';
import {
  HASH_FUNCTIONS,
  MaglevTable,
  Ring,
  type RoutingMember,
  routingIdOf,
  sha256,
  sharesOf,
  slotHistogram,
} from '../../lb/src/routing/index.js';
import { barChart, lineChart, timelineChart, writeChart } from './charts.js';
import { type DriverKind, startTarget, type Target } from './targets.js';

export interface AnalysisOptions {
  readonly driver: DriverKind;
  readonly requests: number;
  readonly concurrency: number;
  readonly outDir: string;
  readonly log: (line: string) => void;
}

const HASHES = Object.keys(HASH_FUNCTIONS);
/** The analysis models the LB as it runs by default. */
const SLOTS = DEFAULT_SLOTS;
const K = defaultVirtualServers(SLOTS);
const N_RANGE = [2, 3, 4, 5, 6];
/** The LB draws request ids uniformly from this range when the client sends none. */
const ID_RANGE = [100000, 999999] as const;
const names = (n: number) => Array.from({ length: n }, (_, k) => `Server-${k + 1}`);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Each replica's exact share of the id range under the SPEC ring (the default SLOTS and K). */
export function modelShares(hash: string, n: number): Record<string, number> {
  const fn = HASH_FUNCTIONS[hash]!;
  const ring = Ring.of(
    { slots: SLOTS, virtualServers: K, hash: fn },
    names(n).map((name, k) => ({ index: k + 1, name })),
  );
  return Object.fromEntries(sharesOf(ring, slotHistogram(fn, SLOTS, ...ID_RANGE)));
}

async function withTarget<T>(
  options: AnalysisOptions,
  hash: string,
  n: number,
  body: (t: Target) => Promise<T>,
  extra: Record<string, string> = {},
): Promise<T> {
  const target = await startTarget(options.driver, hash, n, extra);
  try {
    return await body(target);
  } finally {
    await target.stop();
  }
}

/** A-1: 10,000 requests at N = 3, per hash function, beside the model's shares. */
async function a1(options: AnalysisOptions) {
  const out: Record<
    string,
    { counts: Record<string, number>; model: Record<string, number>; failed: number; seconds: number }
  > = {};
  for (const hash of HASHES) {
    const run = await withTarget(options, hash, 3, (t) =>
      runLoad({ url: t.url, requests: options.requests, concurrency: options.concurrency }, names(3)),
    );
    const model = modelShares(hash, 3);
    out[hash] = { counts: run.counts, model, failed: run.failed, seconds: run.seconds };
    options.log(
      `A-1 ${hash.padEnd(8)} ` +
        names(3)
          .map((s) => `${s} ${pct(run.counts[s]! / options.requests)} (model ${pct(model[s]!)})`)
          .join(', ') +
        `, failed ${run.failed}`,
    );
    const rows = names(3).map((replica) => ({
      replica,
      requests: run.counts[replica]!,
      expected: Math.round(model[replica]! * options.requests),
    }));
    await writeChart(
      options.outDir,
      `a1-${hash}`,
      barChart(
        `A-1: ${options.requests.toLocaleString('en')} requests over 3 replicas, ${hash} hash (red: ring model)`,
        rows,
      ),
    );
  }
  return out;
}

interface ScalePoint {
  n: number;
  counts: Record<string, number>;
  mean: number;
  sd: number;
  max: number;
  modelMaxShare: number;
  failed: number;
}

/** Grows the target from N_RANGE[0] through /add, sending the load at each N. */
async function growAndMeasure(
  options: AnalysisOptions,
  t: Target,
  modelMaxShare: (n: number) => number,
  line: (p: ScalePoint) => string,
): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const n of N_RANGE) {
    if (n > N_RANGE[0]!) {
      const added = await callLb(t.url, 'POST', '/add', { n: 1 });
      if (added.status !== 200) throw new Error(`/add failed: ${JSON.stringify(added.body)}`);
    }
    const run = await runLoad({ url: t.url, requests: options.requests, concurrency: options.concurrency }, names(n));
    const max = Math.max(...Object.values(run.counts));
    const point = {
      n,
      counts: run.counts,
      mean: run.mean,
      sd: run.sd,
      max,
      modelMaxShare: modelMaxShare(n),
      failed: run.failed,
    };
    points.push(point);
    options.log(line(point));
  }
  return points;
}

/** A-2: N = 2..6 (grown with /add), 10,000 requests each, per hash function. */
async function a2(options: AnalysisOptions) {
  const out: Record<string, ScalePoint[]> = {};
  for (const hash of HASHES) {
    out[hash] = await withTarget(options, hash, N_RANGE[0]!, async (t) => {
      const points = await growAndMeasure(
        options,
        t,
        (n) => Math.max(...Object.values(modelShares(hash, n))),
        (p) =>
          `A-2 ${hash.padEnd(8)} N=${p.n}: mean ${p.mean.toFixed(0)}, SD ${p.sd.toFixed(0)}, max ${p.max} (model max ${pct(p.modelMaxShare)}), failed ${p.failed}`,
      );
      // Back down through /rm, so both admin calls are exercised by the analysis.
      const removed = await callLb(t.url, 'DELETE', '/rm', { n: N_RANGE.length - 1 });
      if (removed.status !== 200) throw new Error(`/rm failed: ${JSON.stringify(removed.body)}`);
      return points;
    });
    const rows = out[hash]!.flatMap((p) => [
      { x: p.n, value: p.mean, series: 'average load per replica' },
      { x: p.n, value: p.sd, series: 'standard deviation' },
      { x: p.n, value: p.max, series: 'busiest replica' },
      { x: p.n, value: options.requests / p.n, series: `ideal (${options.requests.toLocaleString('en')} / N)` },
    ]);
    await writeChart(
      options.outDir,
      `a2-${hash}`,
      lineChart(`A-2: load per replica as N grows, ${hash} hash`, rows, {
        x: 'Replicas (N)',
        y: 'Requests (of 10,000)',
        series: 'Measure',
      }),
    );
  }
  return out;
}

/** A-3: every endpoint once (logged), then a replica killed under load, as a timeline. */
async function a3(options: AnalysisOptions) {
  const hash = 'sha256';
  return withTarget(options, hash, 3, async (t) => {
    const exchanges: { request: string; status: number; response: unknown }[] = [];
    for (const [method, path, body] of [
      ['GET', '/rep'],
      ['GET', '/home'],
      ['GET', '/heartbeat'],
      ['POST', '/add', { n: 2, hostnames: ['S5'] }],
      ['POST', '/add', { n: 1, hostnames: ['S6', 'S7'] }],
      ['DELETE', '/rm', { n: 2, hostnames: ['S5', 'Server-4'] }],
      ['DELETE', '/rm', { n: 1, hostnames: ['nobody'] }],
      ['GET', '/other'],
      ['GET', '/rep'],
    ] as [string, string, unknown?][]) {
      const reply = await callLb(t.url, method, path, body);
      exchanges.push({
        request: `${method} ${path}${body ? ` ${JSON.stringify(body)}` : ''}`,
        status: reply.status,
        response: reply.body,
      });
    }
    const bucketMs = 100;
    const results: RequestResult[] = [];
    const victim = 'Server-2';
    const killAtMs = 1500;
    let killedAt = 0;
    const timer = setTimeout(() => {
      killedAt = performance.now();
      t.kill(victim);
    }, killAtMs);
    const started = performance.now();
    // Bounded pace so the timeline spans the kill and the respawn.
    const windowMs = killAtMs + 4000;
    const run = await runLoad(
      {
        url: t.url,
        requests: 200_000,
        concurrency: 4,
        stopWhen: (ms) => ms > windowMs,
        onResult: (r) => results.push(r),
      },
      names(3),
    );
    clearTimeout(timer);
    const killT = (killedAt - started) / 1000;
    const back = endOfOutage(results, victim, killedAt - started);
    const buckets = new Map<string, number>();
    for (const r of results) {
      const key = `${Math.floor(r.at / bucketMs)}|${r.server ?? 'failed'}`;
      buckets.set(key, (buckets.get(key) ?? 0) + 1);
    }
    const rows = [...buckets].map(([key, requests]) => {
      const [b, replica] = key.split('|');
      return { t: (Number(b) * bucketMs) / 1000, replica: replica!, requests };
    });
    const events = [
      { t: killT, label: `SIGKILL ${victim}` },
      ...(back ? [{ t: back.at / 1000, label: `${victim} back` }] : []),
    ];
    await writeChart(
      options.outDir,
      'a3-failover',
      timelineChart(`A-3: ${victim} killed under load (${hash}, N = 3)`, rows, events, bucketMs),
    );
    const recoverySeconds = back ? back.at / 1000 - killT : undefined;
    options.log(
      `A-3 killed ${victim} at ${killT.toFixed(2)} s; back after ${recoverySeconds?.toFixed(2) ?? 'never'} s; ` +
        `${run.requests} requests, ${run.failed} failed`,
    );
    return {
      hash,
      exchanges,
      killedAtSeconds: killT,
      recoverySeconds,
      requests: run.requests,
      failed: run.failed,
      counts: run.counts,
    };
  });
}

/**
 * The victim's first answer after its outage: answers sent before the kill lands can
 * still arrive just after it, so the outage is the first gap of 200 ms or more in its
 * answers from shortly before the kill on.
 */
export function endOfOutage(
  results: readonly RequestResult[],
  victim: string,
  killMs: number,
): RequestResult | undefined {
  const answers = results.filter((r) => r.server === victim && r.at >= killMs - 500).sort((a, b) => a.at - b.at);
  for (let k = 1; k < answers.length; k++) {
    if (answers[k]!.at - answers[k - 1]!.at >= 200) return answers[k];
  }
  return undefined;
}

/** An exact model of a routing table over the id range: ids per bucket, and each bucket's owner. */
interface Model {
  readonly histogram: Uint32Array;
  /** Owner of each bucket with Server-1..N (less `without`); the table is built once per call. */
  owners(n: number, without?: string): (bucket: number) => string | undefined;
}

const MAGLEV_SIZE = DEFAULT_MAGLEV_TABLE_SIZE;
const members = (n: number, without?: string) =>
  names(n)
    .map((name, k) => ({ index: k + 1, name }))
    .filter((m) => m.name !== without);

function ringModel(hash: string): Model {
  const fn = HASH_FUNCTIONS[hash]!;
  return {
    histogram: slotHistogram(fn, SLOTS, ...ID_RANGE),
    owners(n, without) {
      const ring = Ring.of({ slots: SLOTS, virtualServers: K, hash: fn }, members(n, without));
      return (slot) => ring.ownerOfSlot(slot)?.name;
    },
  };
}

function maglevModel(): Model {
  const histogram = new Uint32Array(MAGLEV_SIZE);
  for (let id = ID_RANGE[0]; id <= ID_RANGE[1]; id++) histogram[sha256.requestSlot(id, MAGLEV_SIZE)]!++;
  return {
    histogram,
    owners(n, without) {
      const table = MaglevTable.of(MAGLEV_SIZE, members(n, without));
      return (entry) => table.ownerOfEntry(entry)?.name;
    },
  };
}

/** Share of all ids whose replica differs between two memberships. */
function movedShare(
  model: Model,
  before: (b: number) => string | undefined,
  after: (b: number) => string | undefined,
): number {
  let moved = 0;
  let total = 0;
  model.histogram.forEach((count, bucket) => {
    total += count;
    if (count > 0 && before(bucket) !== after(bucket)) moved += count;
  });
  return moved / total;
}

/** A-5: the three rings and Maglev: balance at 10,000 requests, and key movement on add/remove. */
async function a5(options: AnalysisOptions, rings: Record<string, ScalePoint[]>) {
  const maglev = await withTarget(
    options,
    'sha256',
    N_RANGE[0]!,
    (t) =>
      growAndMeasure(
        options,
        t,
        (n) => 1 / n,
        (p) =>
          `A-5 maglev   N=${p.n}: SD ${p.sd.toFixed(0)}, busiest / mean ${(p.max / p.mean).toFixed(3)}, failed ${p.failed}`,
      ),
    { ROUTING: 'maglev' },
  );
  const models: Record<string, Model> = {
    ...Object.fromEntries(HASHES.map((h) => [h, ringModel(h)])),
    maglev: maglevModel(),
  };
  const disruption: Record<string, { n: number; add: number; remove: number }[]> = {};
  for (const [name, model] of Object.entries(models)) {
    disruption[name] = N_RANGE.map((n) => {
      const now = model.owners(n);
      const add = movedShare(model, now, model.owners(n + 1));
      // Removal: each replica in turn, averaged.
      const remove = names(n).reduce((sum, gone) => sum + movedShare(model, now, model.owners(n, gone)), 0) / n;
      return { n, add, remove };
    });
    options.log(
      `A-5 ${name.padEnd(8)} moved on add: ${disruption[name]!.map((d) => pct(d.add)).join(' ')} (minimal ${N_RANGE.map((n) => pct(1 / (n + 1))).join(' ')})`,
    );
  }
  const balance = { ...rings, maglev };
  await balanceChart(
    options,
    'a5-max-over-mean',
    'A-5: busiest replica / average, 10,000 requests (1 = even)',
    balance,
    'Routing',
  );
  const addRows = Object.entries(disruption).flatMap(([series, ds]) =>
    ds.map((d) => ({ x: d.n, value: d.add * 100, series })),
  );
  addRows.push(...N_RANGE.map((n) => ({ x: n, value: 100 / (n + 1), series: 'minimal 1/(N+1)' })));
  await writeChart(
    options.outDir,
    'a5-disruption',
    lineChart('A-5: request ids that change replica when one is added to N', addRows, {
      x: 'Replicas before the add (N)',
      y: 'Ids moved (%)',
      series: 'Routing',
    }),
  );
  return { maglev, disruption };
}

/** Busiest replica over the average, against N, one line per series. */
function balanceChart(
  options: AnalysisOptions,
  name: string,
  title: string,
  scale: Record<string, ScalePoint[]>,
  series: string,
) {
  const rows = a4Rows(scale, (p) => p.max / p.mean);
  return writeChart(
    options.outDir,
    name,
    lineChart(title, rows, { x: 'Replicas (N)', y: 'Busiest replica / average', series }),
  );
}

function a4Rows(scale: Record<string, ScalePoint[]>, pick: (p: ScalePoint) => number) {
  return Object.entries(scale).flatMap(([hash, points]) =>
    points.map((p) => ({ x: p.n, value: pick(p), series: hash })),
  );
}

interface KeyedPoint {
  n: number;
  counts: Record<string, number>;
  /** Exactly how many of the keys the ring model sends to each replica. */
  model: Record<string, number>;
  failed: number;
}

/** How many of `keys` each member owns on the SPEC ring (sha256, default SLOTS and K), by the key rule. */
function modelCounts(keys: readonly string[], members: readonly RoutingMember[]): Record<string, number> {
  const ring = Ring.of({ slots: SLOTS, virtualServers: K, hash: sha256 }, members);
  const counts: Record<string, number> = Object.fromEntries(members.map((m) => [m.name, 0]));
  for (const key of keys) counts[ring.lookup(routingIdOf(key))!.name]!++;
  return counts;
}

/**
 * A-6: string keys (HASH_KEY=header:x-key): 10,000 distinct keys user-0..user-9999 at N = 2..6, then
 * N = 3 plus a replica of weight 2, each run beside the model's exact count for those keys.
 */
async function a6(options: AnalysisOptions) {
  const keys = Array.from({ length: options.requests }, (_, k) => `user-${k}`);
  const request = (k: number) => ({ path: '/home', headers: { 'x-key': keys[k]! } });
  const measure = async (t: Target, members: RoutingMember[]): Promise<KeyedPoint> => {
    const known = members.map((m) => m.name);
    const run = await runLoad({ url: t.url, requests: keys.length, concurrency: options.concurrency, request }, known);
    return { n: members.length, counts: run.counts, model: modelCounts(keys, members), failed: run.failed };
  };
  const members = (n: number): RoutingMember[] => names(n).map((name, k) => ({ index: k + 1, name }));
  const result = await withTarget(
    options,
    'sha256',
    N_RANGE[0]!,
    async (t) => {
      const scale: KeyedPoint[] = [];
      for (const n of N_RANGE) {
        if (n > N_RANGE[0]!) {
          const added = await callLb(t.url, 'POST', '/add', { n: 1 });
          if (added.status !== 200) throw new Error(`/add failed: ${JSON.stringify(added.body)}`);
        }
        const point = await measure(t, members(n));
        scale.push(point);
        const exact = names(n).every((s) => point.counts[s] === point.model[s]);
        options.log(
          `A-6 keys N=${n}: ${names(n)
            .map((s) => `${s} ${point.counts[s]} (model ${point.model[s]})`)
            .join(', ')}, failed ${point.failed}, ${exact ? 'exactly the model' : 'NOT the model'}`,
        );
      }
      const extra = names(N_RANGE.at(-1)!).slice(3);
      const removed = await callLb(t.url, 'DELETE', '/rm', { n: extra.length, hostnames: extra });
      if (removed.status !== 200) throw new Error(`/rm failed: ${JSON.stringify(removed.body)}`);
      const added = await callLb(t.url, 'POST', '/add', { n: 1, hostnames: ['Big'], weight: 2 });
      if (added.status !== 200) throw new Error(`/add failed: ${JSON.stringify(added.body)}`);
      const weighted = await measure(t, [...members(3), { index: 4, name: 'Big', weight: 2 }]);
      options.log(
        `A-6 weight  N=4 (Big weighs 2): ${Object.keys(weighted.model)
          .map((s) => `${s} ${weighted.counts[s]} (model ${weighted.model[s]})`)
          .join(', ')}, failed ${weighted.failed}`,
      );
      return { scale, weighted };
    },
    { HASH_KEY: 'header:x-key' },
  );
  const bars = (p: KeyedPoint, label: (name: string) => string) =>
    Object.keys(p.model).map((name) => ({
      replica: label(name),
      requests: p.counts[name] ?? 0,
      expected: p.model[name]!,
    }));
  await writeChart(
    options.outDir,
    'a6-string-keys',
    barChart(
      `A-6: ${keys.length.toLocaleString('en')} string keys (user-n, header x-key) at N = 2..6; label N:replica (red: model)`,
      result.scale.flatMap((p) => bars(p, (name) => `${p.n}:${name.replace('Server-', '')}`)),
    ),
  );
  await writeChart(
    options.outDir,
    'a6-weighted',
    barChart(
      `A-6: ${keys.length.toLocaleString('en')} string keys, Server-1..3 and Big of weight 2 (red: model)`,
      bars(result.weighted, (name) => name),
    ),
  );
  return result;
}

export async function runAnalysis(options: AnalysisOptions) {
  await mkdir(options.outDir, { recursive: true });
  const started = Date.now();
  const A1 = await a1(options);
  const A2 = await a2(options);
  const A3 = await a3(options);
  const A5 = await a5(options, A2);
  const A6 = await a6(options);
  await writeChart(
    options.outDir,
    'a4-sd',
    lineChart(
      'A-4: standard deviation of per-replica load',
      a4Rows(A2, (p) => p.sd),
      { x: 'Replicas (N)', y: 'SD of requests per replica', series: 'Hash function' },
    ),
  );
  await balanceChart(
    options,
    'a4-max-over-mean',
    'A-4: busiest replica relative to the average (1 = even)',
    A2,
    'Hash function',
  );
  const results = {
    generatedAt: new Date().toISOString(),
    driver: options.driver,
    requests: options.requests,
    concurrency: options.concurrency,
    ring: { slots: SLOTS, virtualServers: K, idRange: ID_RANGE },
    seconds: (Date.now() - started) / 1000,
    A1,
    A2,
    A3,
    A5,
    A6,
  };
  await writeFile(join(options.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(options.outDir, 'REPORT.md'), report(results));
  return results;
}

function report(r: {
  A1: Awaited<ReturnType<typeof a1>>;
  A2: Record<string, ScalePoint[]>;
  A3: Awaited<ReturnType<typeof a3>>;
  A5: Awaited<ReturnType<typeof a5>>;
  A6: Awaited<ReturnType<typeof a6>>;
  driver: string;
  requests: number;
  generatedAt: string;
}): string {
  const balance: Record<string, ScalePoint[]> = { ...r.A2, maglev: r.A5.maglev };
  const lines = [
    '# Load-balancer analysis',
    '',
    `Generated by \`npm run tester -- analysis --driver ${r.driver}\` on ${r.generatedAt}: ${r.requests.toLocaleString('en')} requests per run,`,
    `request ids drawn by the LB uniformly from 100000..999999, ring of ${SLOTS} slots with ${K} virtual servers per replica.`,
    '',
    '## A-1: 10,000 requests over N = 3',
    '',
    '| hash | Server-1 | Server-2 | Server-3 | failed |',
    '| --- | --- | --- | --- | --- |',
    ...Object.entries(r.A1).map(
      ([hash, a]) =>
        `| ${hash} | ${names(3)
          .map((s) => `${a.counts[s]} (model ${pct(a.model[s]!)})`)
          .join(' | ')} | ${a.failed} |`,
    ),
    '',
    ...HASHES.map((h) => `![A-1 ${h}](a1-${h}.png)`),
    '',
    '## A-2: N = 2..6',
    '',
    '| hash | N | mean | SD | busiest | busiest / mean | model busiest share |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...Object.entries(r.A2).flatMap(([hash, points]) =>
      points.map(
        (p) =>
          `| ${hash} | ${p.n} | ${p.mean.toFixed(0)} | ${p.sd.toFixed(0)} | ${p.max} | ${(p.max / p.mean).toFixed(2)} | ${pct(p.modelMaxShare)} |`,
      ),
    ),
    '',
    ...HASHES.map((h) => `![A-2 ${h}](a2-${h}.png)`),
    '',
    '## A-3: every endpoint, then a replica killed under load',
    '',
    `Killed Server-2 at ${r.A3.killedAtSeconds.toFixed(2)} s; it served again ${r.A3.recoverySeconds?.toFixed(2) ?? 'never'} s later. ` +
      `${r.A3.requests} requests, ${r.A3.failed} failed.`,
    '',
    '![A-3 failover](a3-failover.png)',
    '',
    '| request | status | response |',
    '| --- | --- | --- |',
    ...r.A3.exchanges.map((e) => `| \`${e.request}\` | ${e.status} | \`${JSON.stringify(e.response)}\` |`),
    '',
    '## A-4: hash functions compared',
    '',
    '![A-4 SD](a4-sd.png)',
    '',
    '![A-4 max over mean](a4-max-over-mean.png)',
    '',
    '## A-5: the rings against Maglev',
    '',
    'Busiest replica / average and SD at 10,000 requests (measured); ids that change replica when one is added',
    'or removed (exact, over all 900,000 ids; removal averaged over which replica leaves).',
    '',
    '| routing | N | busiest / mean | SD | moved on add (minimal) | moved on remove (minimal) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...Object.entries(balance).flatMap(([name, points]) =>
      points.map((p, k) => {
        const d = r.A5.disruption[name]![k]!;
        return `| ${name} | ${p.n} | ${(p.max / p.mean).toFixed(3)} | ${p.sd.toFixed(0)} | ${pct(d.add)} (${pct(1 / (p.n + 1))}) | ${pct(d.remove)} (${pct(1 / p.n)}) |`;
      }),
    ),
    '',
    '![A-5 balance](a5-max-over-mean.png)',
    '',
    '![A-5 disruption](a5-disruption.png)',
    '',
    '## A-6: string keys and weights',
    '',
    '`HASH_KEY=header:x-key`, 10,000 distinct keys `user-0` .. `user-9999`, each sent once in `X-Key`. A key is',
    'the first 6 bytes of its SHA-256; the model is the exact count of these keys each replica owns on the ring,',
    'so every count must equal it.',
    '',
    '| N | measured (model) | failed |',
    '| --- | --- | --- |',
    ...[...r.A6.scale, r.A6.weighted].map(
      (p) =>
        `| ${p.n}${p.model.Big === undefined ? '' : ' (Big: weight 2)'} | ${Object.keys(p.model)
          .map((s) => `${s} ${p.counts[s] ?? 0} (${p.model[s]})`)
          .join(', ')} | ${p.failed} |`,
    ),
    '',
    '![A-6 string keys](a6-string-keys.png)',
    '',
    '![A-6 weighted](a6-weighted.png)',
    '',
  ];
  return lines.join('\n');
}
