import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startLb } from '../../../kit/src/lb.js';

const run = promisify(execFile);

interface Example {
  readonly command: string;
  readonly output: string;
}

/** The `$ command` / output pairs of the first `sh` block under `heading`, in order. */
function readmeExamples(heading: string): Example[] {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.split(/\n(?=\$ )/).map((chunk) => {
    const [first, ...rest] = chunk.trimEnd().split('\n');
    return { command: first!.slice(2), output: rest.join('\n') };
  });
}

/** Date is the only line that differs from run to run. */
const withoutDate = (text: string) => text.replace(/^Date: .*$/m, 'Date: <now>');

/** Runs a section's commands in order against a fresh LB started with `env`. */
async function checkSection(heading: string, env: Record<string, string>, least: number): Promise<void> {
  const examples = readmeExamples(heading);
  assert.ok(examples.length >= least, `found ${examples.length} examples under ${heading}`);
  const lb = await startLb(env);
  try {
    const address = lb.url.replace('http://', '');
    for (const { command, output } of examples) {
      // Not execFileSync: the LB answers from this process's event loop.
      const { stdout: actual } = await run('sh', ['-c', command.replaceAll('localhost:5000', address)], {
        encoding: 'utf8',
      });
      assert.equal(withoutDate(actual.replaceAll('\r\n', '\n').trimEnd()), withoutDate(output), command);
    }
  } finally {
    await lb.stop();
  }
}

describe('README examples print what the README says', () => {
  let site = '';
  before(async () => {
    site = await mkdtemp(join(tmpdir(), 'lb-readme-'));
    await mkdir(join(site, 'site'));
    await writeFile(join(site, 'site', 'hello.txt'), 'hello\n');
  });
  after(() => rm(site, { recursive: true, force: true }));

  it('every command of "Using it", run in order against a fresh LB (the defaults: sha256, N = 3)', () =>
    checkSection('## Using it', {}, 7));

  it('every command of "Routing keys", against an LB with the HASH_KEY it names', () =>
    checkSection('## Routing keys', { HASH_KEY: 'cookie:sid,header:x-tenant,request-id' }, 6));

  it('every command of "Your own service", against python http.server replicas as it shows', () =>
    checkSection(
      '## Your own service',
      {
        REPLICA_COMMAND: `python3 -m http.server {port} --bind 127.0.0.1 --directory ${join(site, 'site')}`,
        HEALTH_PATH: '/',
        UPSTREAM_404: 'pass',
      },
      2,
    ));
});
