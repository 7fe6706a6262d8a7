import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The shape of lb/src, checked: what a reader relies on when finding their way in it. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'lb/src');
const BIOME = join(ROOT, 'node_modules/.bin/biome');
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/**
 * The layers of lb/src, lowest first: a module imports only from its own layer or below. Each
 * entry is a folder or a top-level file: `proxy/http1` (the HTTP/1 wire) sits on what every protocol
 * shares (`proxy/`), `proxy/http2` on HTTP/1 (it relays to HTTP/1 replicas), `proxy/front` (the listener that picks the protocol) on both, and the adapters
 * of the data plane's observers (access log, tracing) on `proxy/`.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['routing', 'contract', 'clock.ts'],
  ['membership'],
  ['replicas'],
  // The settings' declarations: what every part below the composition reads its settings as.
  ['settings'],
  ['health'],
  ['answer-metrics.ts', 'metrics.ts', 'config.ts', 'logging.ts', 'shutdown.ts'],
  ['proxy'],
  ['proxy/http1'],
  ['proxy/http2'],
  ['proxy/front'],
  ['access-log', 'tracing'],
  ['observers.ts', 'dashboard'],
  ['http'],
  ['cluster'],
  ['composition'],
  ['lb.ts', 'command.ts', 'main.ts'],
];

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'browser' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

interface Import {
  readonly target: string;
  readonly typeOnly: boolean;
}

const IMPORT = /^(?:import|export)\s+(type\s+)?([^'";]*?)\s*from\s+'(\.[^']+)'/gm;

/** The module's relative imports and re-exports; type-only when the statement or every name it brings is a type. */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(IMPORT)].map(([, typeKeyword, names = '', specifier = '']) => {
    const target = relative(SRC, resolve(SRC, dirname(file), specifier.replace(/\.js$/, '.ts')));
    const bound = names
      .replace(/[{}]/g, '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const typeOnly =
      typeKeyword !== undefined || (names.startsWith('{') && bound.every((name) => name.startsWith('type ')));
    return { target, typeOnly };
  });
}

/** Biome's lint of `paths` from `cwd` with its biome.json, the function-length rule only. */
function biomeLint(cwd: string, paths: string[]): { status: number | null; output: string } {
  const run = spawnSync(BIOME, ['lint', '--only=complexity/noExcessiveLinesPerFunction', ...paths], {
    cwd,
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The layer of a module: the longest LAYERS entry that names it or a folder holding it. */
function layerOf(file: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((entries, layer) => {
    for (const entry of entries) {
      if ((file === entry || file.startsWith(`${entry}/`)) && entry.length > bestLength) {
        best = layer;
        bestLength = entry.length;
      }
    }
  });
  return best;
}

function backArrows(graph: ReadonlyMap<string, readonly Import[]>): string[] {
  const back: string[] = [];
  for (const [file, imports] of graph) {
    for (const { target } of imports) {
      if (layerOf(target) <= layerOf(file)) continue;
      back.push(`${file} -> ${target}`);
    }
  }
  return back;
}

function cyclesOf(graph: ReadonlyMap<string, readonly Import[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const { target } of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...path.slice(path.indexOf(target)), target].join(' -> '));
      else if (!state.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

/**
 * The graph of folders: a folder imports another when one of its files imports one of the other's.
 * A file at the top of lb/src (config.ts, metrics.ts, main.ts, ...) is a module of its own.
 */
function folderGraph(graph: ReadonlyMap<string, readonly Import[]>): Map<string, Import[]> {
  const folders = new Map<string, Import[]>();
  for (const [file, imports] of graph) {
    const from = folderOf(file);
    const edges = folders.get(from) ?? [];
    folders.set(from, edges);
    for (const { target, typeOnly } of imports) {
      const to = folderOf(target);
      if (to !== from && !edges.some((edge) => edge.target === to)) edges.push({ target: to, typeOnly });
    }
  }
  return folders;
}

function folderOf(file: string): string {
  const folder = dirname(file);
  return folder === '.' ? file : folder;
}

const FILES = sources();
const GRAPH = new Map(FILES.map((file) => [file, importsOf(file)]));

describe('the shape of lb/src', () => {
  it('places every module in a layer', () => {
    assert.deepEqual(
      FILES.filter((file) => layerOf(file) === -1),
      [],
    );
  });

  it('has no back arrow: each module imports from its own layer or below', () => {
    assert.deepEqual(backArrows(GRAPH), []);
  });

  it('has no import cycle, type-only imports included', () => {
    assert.deepEqual(cyclesOf(GRAPH), []);
  });

  it('has no cycle between folders either (a folder read as one module)', () => {
    assert.deepEqual(cyclesOf(folderGraph(GRAPH)), []);
  });

  it(`keeps every file within ${MAX_FILE_LINES} lines`, () => {
    const long = FILES.map((file) => [file, readFileSync(join(SRC, file), 'utf8').split('\n').length] as const).filter(
      ([, lines]) => lines > MAX_FILE_LINES,
    );
    assert.deepEqual(long, []);
  });

  it(`keeps every function within ${MAX_FUNCTION_LINES} lines (Biome's rule, set for lb/src in biome.json)`, () => {
    const biome = biomeLint(ROOT, ['lb/src']);
    assert.equal(biome.status, 0, biome.output);
  });

  it('has a function-length rule that bites: the same configuration refuses an 81-line function', () => {
    const dir = mkdtempSync(join(tmpdir(), 'structure-'));
    try {
      const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
      config.$schema = undefined;
      config.vcs = { enabled: false };
      writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
      mkdirSync(join(dir, 'lb/src'), { recursive: true });
      const body = Array.from({ length: MAX_FUNCTION_LINES - 1 }, (_, k) => `  total += ${k};`).join('\n');
      const fn = (name: string, lines: string) =>
        `export function ${name}(): number {\n  let total = 0;\n${lines}\n  return total;\n}\n`;
      writeFileSync(join(dir, 'lb/src/short.ts'), fn('short', body.split('\n').slice(2).join('\n')));
      assert.equal(biomeLint(dir, ['lb/src/short.ts']).status, 0);
      writeFileSync(join(dir, 'lb/src/long.ts'), fn('long', body));
      const long = biomeLint(dir, ['lb/src/long.ts']);
      assert.notEqual(long.status, 0);
      assert.match(long.output, /too many lines/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds a back arrow and a cycle where there are some (the checks are not blind)', () => {
    const graph = new Map<string, Import[]>([
      ['routing/ring.ts', [{ target: 'proxy/forwarder.ts', typeOnly: true }]],
      ['proxy/forwarder.ts', [{ target: 'routing/ring.ts', typeOnly: false }]],
      ['proxy/exchange.ts', [{ target: 'proxy/http1/relay.ts', typeOnly: false }]],
      ['proxy/relay-strategy.ts', [{ target: 'proxy/http1/pool.ts', typeOnly: true }]],
    ]);
    assert.deepEqual(backArrows(graph), [
      'routing/ring.ts -> proxy/forwarder.ts',
      'proxy/exchange.ts -> proxy/http1/relay.ts',
      'proxy/relay-strategy.ts -> proxy/http1/pool.ts',
    ]);
    assert.deepEqual(cyclesOf(folderGraph(graph)), ['routing -> proxy -> routing']);
    assert.deepEqual(cyclesOf(graph), ['routing/ring.ts -> proxy/forwarder.ts -> routing/ring.ts']);
    assert.ok(FILES.length > 80, `only ${FILES.length} files found`);
    assert.ok(GRAPH.get('proxy/http1/relay.ts')!.some(({ target }) => target === 'proxy/relay-strategy.ts'));
  });
});
