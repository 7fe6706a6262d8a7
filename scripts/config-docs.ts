// Writes what the docs show of the settings from their declarations (lb/src/settings/): the
// configuration tables of docs/configuration.md and the README, and lb.example.yaml.
// `--check`: writes nothing, exits 1 naming each file that differs (a test runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exampleFile, README_SETTINGS, settingsTable } from '../lb/src/settings/docs.js';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootAt = args.indexOf('--root');
const root = resolve(rootAt === -1 ? '.' : args[rootAt + 1]!);

/** `text` with what lies between `<!-- settings:NAME -->` and `<!-- /settings:NAME -->` replaced. */
function between(text: string, name: string, inner: string, file: string): string {
  const open = `<!-- settings:${name} -->\n`;
  const close = `<!-- /settings:${name} -->`;
  const from = text.indexOf(open);
  const to = text.indexOf(close);
  if (from === -1 || to === -1) throw new Error(`${file}: no ${open.trim()} ... ${close} markers`);
  return text.slice(0, from + open.length) + inner + text.slice(to);
}

const targets: [string, (old: string) => string][] = [
  ['docs/configuration.md', (old) => between(old, 'table', settingsTable(), 'docs/configuration.md')],
  ['README.md', (old) => between(old, 'table', settingsTable(README_SETTINGS, 'docs/'), 'README.md')],
  ['lb.example.yaml', () => exampleFile()],
];

let stale = 0;
for (const [path, make] of targets) {
  const file = join(root, path);
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {}
  const next = make(old);
  if (next === old) continue;
  if (check) {
    console.error(`${path}: differs from the settings' declarations (npm run docs:config writes it)`);
    stale++;
  } else {
    writeFileSync(file, next);
    console.log(`${path}: written`);
  }
}
process.exit(stale > 0 ? 1 : 0);
