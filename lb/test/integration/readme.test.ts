import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type RunningLb, startLb } from '../../../kit/src/lb.js';

const run = promisify(execFile);

interface Example {
  readonly command: string;
  readonly output: string;
}

/** The `$ command` / output pairs of the README's "Using it" block, in order. */
function readmeExamples(): Example[] {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.split(/\n(?=\$ )/).map((chunk) => {
    const [first, ...rest] = chunk.trimEnd().split('\n');
    return { command: first!.slice(2), output: rest.join('\n') };
  });
}

/** Date is the only line that differs from run to run. */
const withoutDate = (text: string) => text.replace(/^Date: .*$/m, 'Date: <now>');

describe('README examples print what the README says', () => {
  let lb: RunningLb;
  before(async () => {
    lb = await startLb(); // the defaults: sha256, N = 3
  });
  after(() => lb.stop());

  it('every command of "Using it", run in order against a fresh LB', async () => {
    const examples = readmeExamples();
    assert.ok(examples.length >= 7, `found ${examples.length} examples`);
    const address = lb.url.replace('http://', '');
    for (const { command, output } of examples) {
      // Not execFileSync: the LB answers from this process's event loop.
      const { stdout: actual } = await run('sh', ['-c', command.replaceAll('localhost:5000', address)], {
        encoding: 'utf8',
      });
      assert.equal(withoutDate(actual.replaceAll('\r\n', '\n').trimEnd()), withoutDate(output), command);
    }
  });
});
