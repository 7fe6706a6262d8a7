import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { request } from 'undici';
import { type KeyedRequest, keyedRequest, runLoad } from '../../kit/src/load.js';
import { runAnalysis } from './analysis.js';

const USAGE = `usage:
  npm run tester -- run [--requests 10000] [--concurrency 200] [--path /home] [--json FILE]
                        [--keys 'user-{n}' [--key-source header:x-key|cookie:NAME|query:NAME] [--distinct D]]
  npm run tester -- analysis [--driver process|docker] [--requests 10000] [--out plots]
The LB address comes from LB_URL (default http://127.0.0.1:5000).`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1) throw new Error(`--${name} must be a positive integer, got '${raw}'`);
  return value;
}

/**
 * `--keys 'user-{n}'`: request k carries the key with {n} = k mod --distinct (default: every request
 * its own key), where --key-source says (the LB's HASH_KEY must read it there).
 */
function keyedRequests(
  values: { keys?: string; 'key-source'?: string; distinct?: string; path?: string },
  requests: number,
): ((k: number) => KeyedRequest) | undefined {
  if (values.keys === undefined) {
    if (values['key-source'] !== undefined || values.distinct !== undefined) {
      throw new Error('--key-source and --distinct need --keys TEMPLATE');
    }
    return undefined;
  }
  const template = values.keys;
  if (!template.includes('{n}')) throw new Error(`--keys needs {n} in its template, got '${template}'`);
  const distinct = positive('distinct', values.distinct, requests);
  const keyed = keyedRequest(values['key-source'] ?? 'header:x-key', values.path ?? '/home');
  return (k) => keyed(template.replaceAll('{n}', String(k % distinct)));
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      path: { type: 'string' },
      json: { type: 'string' },
      keys: { type: 'string' },
      'key-source': { type: 'string' },
      distinct: { type: 'string' },
    },
  });
  const url = (process.env.LB_URL ?? 'http://127.0.0.1:5000').replace(/\/+$/, '');
  const requests = positive('requests', values.requests, 10_000);
  const concurrency = positive('concurrency', values.concurrency, 200);
  const request = keyedRequests(values, requests);
  await assertReachable(url);
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: ' {bar} {percentage}% | {value}/{total} requests | {eta}s left' }, Presets.shades_classic)
    : undefined;
  bar?.start(requests, 0);
  let done = 0;
  const summary = await runLoad({
    url,
    requests,
    concurrency,
    path: values.path ?? '/home',
    request,
    onResult: () => {
      if (bar && ++done % 100 === 0) bar.update(done);
    },
  });
  bar?.update(requests);
  bar?.stop();
  console.log(
    `${summary.requests} requests to ${url} in ${summary.seconds.toFixed(2)} s (${summary.rps.toFixed(0)} req/s)`,
  );
  for (const [name, count] of Object.entries(summary.counts).sort()) {
    console.log(`  ${name.padEnd(12)} ${String(count).padStart(6)}  ${((count / requests) * 100).toFixed(1)}%`);
  }
  console.log(`  failed       ${String(summary.failed).padStart(6)}`);
  console.log(`  mean ${summary.mean.toFixed(1)}, SD ${summary.sd.toFixed(1)} requests per replica`);
  if (values.json) await writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.failed === requests ? 1 : 0;
}

/** An LB that cannot be reached is said as such, before any load (not as 10,000 failed requests). */
async function assertReachable(url: string): Promise<void> {
  try {
    const { body } = await request(`${url}/rep`, { headersTimeout: 5000, bodyTimeout: 5000 });
    await body.dump();
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new Unreachable(
      `cannot reach the load balancer at ${url} (${code}): start it (npm start, make up) or set LB_URL`,
    );
  }
}

class Unreachable extends Error {}

async function analysis(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      driver: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const driver = values.driver ?? 'process';
  if (driver !== 'process' && driver !== 'docker')
    throw new Error(`--driver must be process or docker, got '${driver}'`);
  const results = await runAnalysis({
    driver,
    requests: positive('requests', values.requests, 10_000),
    concurrency: positive('concurrency', values.concurrency, 100),
    outDir: values.out ?? 'plots',
    log: (line) => console.log(line),
  });
  console.log(
    `analysis done in ${results.seconds.toFixed(0)} s: charts, results.json and REPORT.md in ${values.out ?? 'plots'}/`,
  );
  return 0;
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'run') process.exit(await run(rest));
  if (command === 'analysis') process.exit(await analysis(rest));
  const asked = command === undefined || command === 'help' || command === '--help';
  if (!asked) console.error(`tester: unknown command '${command}' (use run or analysis)`);
  console.error(USAGE);
  process.exit(asked ? 0 : 2);
} catch (error) {
  console.error(`tester: ${(error as Error).message}`);
  process.exit(error instanceof Unreachable ? 1 : 2);
}
