// Same-run A/B of two LB bundles (e.g. the commit before a change and after it): both run at
// once, each with its own 3 process replicas, and wrk rounds alternate between them.
// npm run bench:ab -- dist/lb-before.js dist/lb.js [--rounds 9] [--duration 3] [--connections 64]
// The same bundle under two settings: bench:ab -- dist/lb.js dist/lb.js --b-env ACCESS_LOG=/tmp/a.log
// (--a-env / --b-env: K=V pairs separated by commas, added to each side's environment).
import { parseArgs } from 'node:util';
import { spawnLb } from '../../kit/src/lb.js';
import { median, type Sample, withCpu, wrkRun } from './measure.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    'a-env': { type: 'string' },
    'b-env': { type: 'string' },
  },
});
if (positionals.length !== 2) throw new Error('usage: bench:ab -- <bundle A> <bundle B> [--rounds N]');
const rounds = Number(values.rounds ?? 9);
const duration = Number(values.duration ?? 3);
const connections = Number(values.connections ?? 64);

interface Round extends Sample {
  cpuUsPerRequest: number;
}

/** `K=V,K2=V2` as an environment. */
const envOf = (text: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (text ?? '')
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
const envs = [envOf(values['a-env']), envOf(values['b-env'])];

const sides = await Promise.all(
  positionals.map(async (bundle, k) => ({
    bundle: Object.keys(envs[k]!).length > 0 ? `${bundle} ${values[k === 0 ? 'a-env' : 'b-env']}` : bundle,
    lb: await spawnLb({ N: '3', LOG_LEVEL: 'info', HASH_FUNCTION: 'sha256', ...envs[k] }, 20_000, bundle),
    rounds: [] as Round[],
  })),
);
try {
  // Warm both up (JIT, pools) before anything counts.
  for (const side of sides) await wrkRun(Number(new URL(side.lb.url).port), 2, connections);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const port = Number(new URL(side.lb.url).port);
      const { result, cpuUs } = await withCpu(
        () => [side.lb.pid],
        () => wrkRun(port, duration, connections),
      );
      side.rounds.push({ ...result, cpuUsPerRequest: cpuUs / Math.max(1, result.requests) });
    }
  }
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  const ratios = a.rounds.map((ra, k) => b.rounds[k]!.cpuUsPerRequest / ra.cpuUsPerRequest);
  const rows = sides.map((side) => ({
    bundle: side.bundle,
    rps: Math.round(median(side.rounds.map((x) => x.rps))),
    p50_ms: median(side.rounds.map((x) => x.p50_ms)),
    p99_ms: median(side.rounds.map((x) => x.p99_ms)),
    cpu_us_per_request: Number(median(side.rounds.map((x) => x.cpuUsPerRequest)).toFixed(2)),
    errors: side.rounds.reduce((sum, x) => sum + x.errors, 0),
  }));
  console.table(rows);
  console.log(
    `B/A CPU per request, median of ${rounds} paired rounds: ${median(ratios).toFixed(3)} (rounds: ${ratios.map((x) => x.toFixed(3)).join(' ')})`,
  );
} finally {
  await Promise.all(sides.map((side) => side.lb.stop()));
}
