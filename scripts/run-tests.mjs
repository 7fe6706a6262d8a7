// Runs node's test runner (with tsx) over the *.test.ts files of the given folders.
// Node 20's runner takes no globs, and a shell glob that matches nothing is an error.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [flags, folders] = process.argv
  .slice(2)
  .reduce(([f, d], arg) => (arg.startsWith('--') ? [[...f, arg], d] : [f, [...d, arg]]), [[], []]);
const files = folders.flatMap((dir) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.endsWith('.test.ts'))
        .sort()
        .map((name) => join(dir, name))
    : [],
);
if (files.length === 0) {
  console.error(`no test files in ${folders.join(', ')}`);
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...flags, ...files], {
  stdio: 'inherit',
  // Every connection's phase moves are checked: an illegal one throws where it happens (phase.ts).
  env: { ...process.env, LB_ASSERT: '1' },
});
process.exit(run.status ?? 1);
