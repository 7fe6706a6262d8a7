import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function figures(root: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts/docs-figures.mjs'), '--check', '--root', root], {
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('docs/', () => {
  it('shows the figures plots/results.json and plots/bench.json hold (scripts/docs-figures.mjs)', () => {
    const check = figures(ROOT);
    assert.equal(check.status, 0, check.output);
  });

  it('finds a page whose figures differ from the files (the check is not blind)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-'));
    try {
      for (const path of ['docs', 'plots/results.json', 'plots/bench.json', 'README.md']) {
        cpSync(join(ROOT, path), join(dir, path), { recursive: true });
      }
      const results = JSON.parse(readFileSync(join(dir, 'plots/results.json'), 'utf8'));
      results.A3.failed = 7;
      writeFileSync(join(dir, 'plots/results.json'), JSON.stringify(results));
      const check = figures(dir);
      assert.equal(check.status, 1);
      assert.match(check.output, /docs\/analysis\.md: its figures differ/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/api.md states every error text the contract fixes, with its status', async () => {
    const api = read('docs/api.md');
    const { LbError } = await import('../../src/contract/errors.js');
    for (const code of [
      'HOSTNAMES_OVER_ADDED',
      'HOSTNAMES_OVER_REMOVABLE',
      'NO_REPLICA',
      'UNAUTHORIZED',
      'INTERNAL',
    ] as const) {
      const error = new LbError(code);
      assert.ok(api.includes(`<Error> ${error.detail}`), `${code}: '${error.detail}' is not in docs/api.md`);
      assert.match(api, new RegExp(`\\| ${error.status} \\|[^\\n]*${escapeRegExp(error.detail)}`), `${code}'s status`);
    }
  });

  it('docs/api.md names every metric the LB exports', () => {
    const api = read('docs/api.md');
    const names = new Set<string>();
    for (const file of ['lb/src/metrics.ts', 'lb/src/answer-metrics.ts']) {
      for (const [, name] of read(file).matchAll(/name: '(lb_[a-z_]+)'/g)) names.add(name!);
    }
    assert.ok(names.size > 15, `only ${names.size} metrics found`);
    assert.deepEqual(
      [...names].filter((name) => !api.includes(`\`${name}`)),
      [],
    );
  });

  it('docs/configuration.md names every variable the LB reads: each setting, and those read beside them', async () => {
    const doc = read('docs/configuration.md');
    const { SETTING_NAMES, SETTINGS } = await import('../../src/settings/schema.js');
    const variables = new Set(SETTING_NAMES.map((name) => SETTINGS[name].env));
    for (const file of ['lb/src/config.ts', 'lb/src/main.ts', 'lb/src/settings/resolve.ts']) {
      for (const [, name] of read(file).matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)) variables.add(name!);
    }
    variables.delete('PATH'); // the system's, where REPLICA_COMMAND's program is looked up
    assert.ok(variables.has('LB_CONFIG') && variables.size > 40, `only ${variables.size} variables found`);
    assert.deepEqual(
      [...variables].filter((name) => !doc.includes(`\`${name}\``)),
      [],
    );
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
