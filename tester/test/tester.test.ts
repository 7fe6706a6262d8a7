import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../kit/src/cli.js';
import { type RunningLb, startLb } from '../../kit/src/lb.js';
import { given, Ring, routingIdOf } from '../../lb/src/routing/index.js';
import { endOfOutage, modelShares } from '../src/analysis.js';
import { barChart, lineChart, timelineChart, writeChart } from '../src/charts.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const tester = (args: string[], lbUrl: string) => runCli('tester/src/main.ts', args, lbUrl);

describe('tester helpers', () => {
  it('finds the end of a replica outage, ignoring answers that were in flight at the kill', () => {
    const r = (at: number, server: string) => ({ at, server, status: 200 });
    const results = [
      r(900, 'S2'),
      r(1000, 'S1'),
      r(1010, 'S2'),
      r(1040, 'S2'),
      r(1100, 'S1'),
      r(1700, 'S2'),
      r(1710, 'S2'),
    ];
    assert.equal(endOfOutage(results, 'S2', 1000)?.at, 1700);
    assert.equal(endOfOutage(results.slice(0, 5), 'S2', 1000), undefined);
  });

  it('the model shares for given at N = 3 are 83.6% / 4.7% / 11.7%', () => {
    const shares = modelShares('given', 3);
    assert.deepEqual(
      Object.values(shares).map((s) => Number((s * 100).toFixed(1))),
      [83.6, 4.7, 11.7],
    );
  });
});

describe('tester run against a real LB', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb({ HASH_FUNCTION: 'given', N: '3', HASH_KEY: 'cookie:sid,query:room,request-id' });
  });
  after(() => lb.stop());

  it('sends the requests, counts per replica, and writes the JSON report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tester-'));
    const file = join(dir, 'run.json');
    const run = await tester(['run', '--requests', '2000', '--concurrency', '50', '--json', file], lb.url);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(report.requests, 2000);
    assert.equal(report.failed, 0);
    assert.deepEqual(Object.keys(report.counts).sort(), ['Server-1', 'Server-2', 'Server-3']);
    assert.equal(
      Object.values<number>(report.counts).reduce((a, b) => a + b, 0),
      2000,
    );
    assert.ok(report.seconds > 0);
    // given crowds Server-1 (83.6% of ids): 2,000 samples land well above 75%.
    assert.ok(report.counts['Server-1'] > 1500, JSON.stringify(report.counts));
    assert.match(run.stdout, /^2000 requests to http:\/\/127\.0\.0\.1:\d+ in [\d.]+ s/);
    assert.match(run.stdout, /^ +failed +0$/m);
  });

  it('--keys sends string keys where --key-source says; every request of a key reaches the model replica', async () => {
    const model = Ring.of({ slots: 512, virtualServers: 9, hash: given }, lb.lb.manager.router.members);
    for (const source of ['cookie:sid', 'query:room']) {
      const dir = await mkdtemp(join(tmpdir(), 'tester-'));
      const file = join(dir, 'run.json');
      const args = ['--requests', '600', '--concurrency', '20', '--keys', 'user-{n}', '--distinct', '12'];
      const run = await tester(['run', ...args, '--key-source', source, '--json', file], lb.url);
      assert.equal(run.code, 0, run.stderr);
      const expected: Record<string, number> = {};
      for (let n = 0; n < 12; n++) {
        const owner = model.lookup(routingIdOf(`user-${n}`))!.name;
        expected[owner] = (expected[owner] ?? 0) + 50;
      }
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')).counts, expected, source);
    }
    const bad = await tester(['run', '--keys', 'user'], lb.url);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--keys needs \{n\} in its template, got 'user'/);
  });

  it('refuses bad arguments with a clear message', async () => {
    const run = await tester(['run', '--requests', 'lots'], lb.url);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, "tester: --requests must be a positive integer, got 'lots'\n");
  });

  it('says the LB cannot be reached when it is down, and sends no load', async () => {
    const run = await tester(['run', '--requests', '20', '--concurrency', '5'], 'http://127.0.0.1:1');
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'tester: cannot reach the load balancer at http://127.0.0.1:1 (ECONNREFUSED): start it (npm start, make up) or set LB_URL\n',
    );
  });

  it('an unknown subcommand is named, with the usage', async () => {
    const run = await tester(['frob'], lb.url);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^tester: unknown command 'frob' \(use run or analysis\)\nusage:/);
  });
});

describe('charts', () => {
  it('writes valid SVG and PNG files with titles and axis labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'charts-'));
    const specs = {
      bar: barChart('Bar title here', [{ replica: 'Server-1', requests: 10, expected: 9 }]),
      line: lineChart('Line title here', [{ x: 2, value: 3, series: 'sha256' }], {
        x: 'Replicas (N)',
        y: 'SD of requests',
        series: 'Hash',
      }),
      timeline: timelineChart(
        'Timeline title here',
        [{ t: 0.1, replica: 'Server-1', requests: 5 }],
        [{ t: 0.1, label: 'SIGKILL Server-1' }],
        100,
      ),
    };
    for (const [name, spec] of Object.entries(specs)) {
      const paths = await writeChart(dir, name, spec);
      const svg = await readFile(paths.svg, 'utf8');
      assert.match(svg, /^<svg /);
      assert.ok(svg.includes(`${name[0]!.toUpperCase()}${name.slice(1)} title here`), `${name} title`);
      const png = await readFile(paths.png);
      assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
      assert.ok(png.length > 2000);
    }
    const line = await readFile(join(dir, 'line.svg'), 'utf8');
    assert.ok(line.includes('Replicas (N)') && line.includes('SD of requests'));
    assert.ok(line.includes('>Hash<'), 'the series legend is drawn');
    const timeline = await readFile(join(dir, 'timeline.svg'), 'utf8');
    assert.ok(timeline.includes('SIGKILL Server-1') && timeline.includes('Requests answered per 100 ms'));
  });
});
