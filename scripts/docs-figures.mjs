// The figures docs/ shows, written from the files the tester and the bench write
// (plots/results.json, plots/bench.json), between `<!-- figures:NAME -->` and `<!-- /figures -->`.
// `node scripts/docs-figures.mjs` rewrites them; `--check` fails (exit 1) where a page disagrees;
// `--root DIR` reads and writes another copy of the tree.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const rootAt = process.argv.indexOf('--root');
const root = rootAt === -1 ? join(dirname(fileURLToPath(import.meta.url)), '..') : process.argv[rootAt + 1];
const read = (path) => JSON.parse(readFileSync(join(root, path), 'utf8'));
const pct = (x, digits = 1) => (100 * x).toFixed(digits);
const thousands = (x) => Math.round(x).toLocaleString('en-US');
const date = (iso) => iso.slice(0, 10);

/** Each replica's share of a run, in name order, as percentages. */
function shares(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.keys(counts)
    .sort()
    .map((name) => pct(counts[name] / total));
}

function a1(results) {
  const part = (hash) => {
    const { counts, model } = results.A1[hash];
    const measured = shares(counts).join(' / ');
    const expected = Object.keys(model)
      .sort()
      .map((name) => pct(model[name]))
      .join(' / ');
    return `\`${hash}\` ${measured} (${expected})`;
  };
  return `Measured (model), in percent of ${thousands(results.requests)} requests on ${date(results.generatedAt)}: ${['given', 'modified', 'sha256'].map(part).join('; ')}.`;
}

function a2(results) {
  const last = (hash) => results.A2[hash].at(-1);
  const n = last('given').n;
  const sd = ['given', 'modified', 'sha256'].map((hash) => `\`${hash}\` ${thousands(last(hash).sd)}`).join(', ');
  const busiest = ['given', 'modified', 'sha256'].map((hash) => `${(last(hash).max / last(hash).mean).toFixed(1)}x`);
  return `SD at N = ${n}: ${sd}; the busiest replica at N = ${n} carries ${busiest.join(' / ')} the average.`;
}

function a3(results) {
  const { recoverySeconds, requests, failed } = results.A3;
  return `it serves again ${recoverySeconds.toFixed(2)} s after the kill. ${thousands(requests)} requests, ${failed} failed.`;
}

function a5(results) {
  const { maglev, disruption } = results.A5;
  const ns = maglev.map((row) => row.n);
  const row = (label, cells) => `| ${label} | ${cells.join(' | ')} |`;
  const moved = (hash) => disruption[hash].map((d) => `${pct(d.add)}%`);
  return [
    row('N', ns),
    row(
      '---',
      ns.map(() => '---'),
    ),
    row(
      'Maglev busiest / average (measured)',
      maglev.map((r) => (r.max / r.mean).toFixed(3)),
    ),
    row(
      'ids moved on add, Maglev (minimal 1/(N+1))',
      disruption.maglev.map((d) => `${pct(d.add)}% (${pct(1 / (d.n + 1))})`),
    ),
    row('ids moved on add, `sha256` ring', moved('sha256')),
  ].join('\n');
}

const LABELS = {
  direct: 'direct (one replica)',
  lb: '**lb**',
  'lb-2w': 'lb, `LB_WORKERS=2`',
  'lb-log': 'lb, `ACCESS_LOG` to a file',
  'lb-cookie': 'lb, `HASH_KEY=cookie:sid` (SHA-256 of a string key)',
  'lb-trace100': 'lb, traces exported, every request sampled',
  'lb-trace1': 'lb, traces exported, 1% sampled',
  'node-bare': 'node-bare (node:http + undici)',
  'node-floor': 'node-floor (raw sockets + llhttp, no work)',
  nginx: 'nginx',
  haproxy: 'haproxy',
};

function bench(results) {
  const nginx = results.rows.find((r) => r.target === 'nginx');
  const lines = [
    `Measured ${date(results.generatedAt)} (${results.machine.cpus} cores ${results.machine.cpu}, ${results.machine.memoryGiB} GiB, Node ${results.machine.node.slice(1)}; ${results.client}, ${results.connections} connections, ${results.rounds} rounds of ${results.duration} s, medians), \`npm run bench -- ${results.args ?? '--json plots/bench.json'}\`:`,
    '',
    '| target | req/s | p50 ms | p99 ms | CPU us/req | req/s vs nginx | CPU vs nginx |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results.rows) {
    const cpu = r.cpu_us_per_req === null ? '-' : r.cpu_us_per_req.toFixed(1);
    const cpuRatio = r.cpu_us_per_req === null ? '-' : (r.cpu_us_per_req / nginx.cpu_us_per_req).toFixed(2);
    const cells = [
      LABELS[r.target] ?? r.target,
      thousands(r.rps),
      r.p50_ms.toFixed(2),
      r.p99_ms.toFixed(2),
      cpu,
      (r.rps / nginx.rps).toFixed(2),
      cpuRatio,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const FIGURES = {
  a1: () => a1(read('plots/results.json')),
  a2: () => a2(read('plots/results.json')),
  a3: () => a3(read('plots/results.json')),
  a5: () => a5(read('plots/results.json')),
  bench: () => bench(read('plots/bench.json')),
};
const PAGES = ['docs/analysis.md', 'docs/performance.md', 'README.md'];
const REGION = /<!-- figures:([a-z0-9-]+) -->\n?([\s\S]*?)<!-- \/figures -->/g;

const check = process.argv.includes('--check');
let stale = 0;
for (const page of PAGES) {
  const path = join(root, page);
  const text = readFileSync(path, 'utf8');
  const written = text.replace(REGION, (_whole, name) => {
    const figure = FIGURES[name];
    if (!figure) throw new Error(`${page}: no figure called '${name}'`);
    const body = figure();
    return body.includes('\n')
      ? `<!-- figures:${name} -->\n${body}\n<!-- /figures -->`
      : `<!-- figures:${name} -->${body}<!-- /figures -->`;
  });
  if (written === text) continue;
  if (check) {
    stale++;
    console.error(`${page}: its figures differ from plots/ (run node scripts/docs-figures.mjs)`);
  } else writeFileSync(path, written);
}
process.exit(stale > 0 ? 1 : 0);
