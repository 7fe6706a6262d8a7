// Bundles each service into one ESM file under dist/ so images need no npm inside (what it loads
// only on demand, the LB's tracing SDK, in dist/<service>-chunks/). The LB's
// bundle carries the dashboard (lb/src/dashboard/browser: page, script built from TypeScript,
// stylesheet) inline; dist/dashboard/ holds the same files for the LB run from source (tsx).
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

// ESM bundles of CommonJS dependencies need `require`, `__filename` and `__dirname`.
const banner = {
  js: [
    "import { createRequire as __lbCreateRequire } from 'node:module';",
    "import { fileURLToPath as __lbFileURLToPath } from 'node:url';",
    "import { dirname as __lbDirname } from 'node:path';",
    'const require = __lbCreateRequire(import.meta.url);',
    'const __filename = __lbFileURLToPath(import.meta.url);',
    'const __dirname = __lbDirname(__filename);',
  ].join('\n'),
};

const entries = {
  server: 'server/src/main.ts',
  lb: 'lb/src/main.ts',
};

const BROWSER = 'lb/src/dashboard/browser';

/** The dashboard's files, as served: the script is one classic script for today's browsers. */
async function dashboardAssets() {
  const script = await build({
    entryPoints: [`${BROWSER}/app.ts`],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    write: false,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const assets = {
    html: await readFile(`${BROWSER}/index.html`, 'utf8'),
    js: script.outputFiles[0].text,
    css: await readFile(`${BROWSER}/app.css`, 'utf8'),
  };
  await mkdir('dist/dashboard', { recursive: true });
  await Promise.all([
    writeFile('dist/dashboard/index.html', assets.html),
    writeFile('dist/dashboard/app.js', assets.js),
    writeFile('dist/dashboard/app.css', assets.css),
  ]);
  return assets;
}

/** Replaces lb/src/dashboard/assets.ts (which reads dist/dashboard/) with the files inline. */
const inlineDashboard = (assets) => ({
  name: 'inline-dashboard',
  setup(esbuild) {
    esbuild.onLoad({ filter: /[\\/]dashboard[\\/]assets\.ts$/ }, () => ({
      contents: `export async function loadDashboardAssets() { return ${JSON.stringify(assets)}; }`,
      loader: 'js',
    }));
  },
});

const only = process.argv.slice(2);
const wanted = Object.entries(entries).filter(([name]) => only.length === 0 || only.includes(name));
const assets = wanted.some(([name]) => name === 'lb') ? await dashboardAssets() : undefined;
// Chunk names carry their content's hash: without this, every build's old chunks would stay (and go into images).
await Promise.all(wanted.map(([name]) => rm(`dist/${name}-chunks`, { recursive: true, force: true })));
await Promise.all(
  wanted.map(([name, entry]) =>
    build({
      entryPoints: { [name]: entry },
      outdir: 'dist',
      // Code imported only when needed (the LB's tracing SDK) goes into chunks of its own, loaded then.
      splitting: true,
      chunkNames: `${name}-chunks/[name]-[hash]`,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      banner,
      // ssh2 (dockerode's SSH transport) has optional native parts; we only use the socket.
      external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
      plugins: name === 'lb' ? [inlineDashboard(assets)] : [],
      logLevel: 'warning',
      legalComments: 'none',
    }),
  ),
);
// The replica's gRPC mode loads its .proto files at run time: they go beside its bundle (and into its image).
if (wanted.some(([name]) => name === 'server')) {
  await Promise.all(['echo.proto', 'health.proto'].map((file) => copyFile(`server/${file}`, `dist/${file}`)));
}
