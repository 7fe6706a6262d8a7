// Bundles each service into one ESM file under dist/ so images need no npm inside.
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

const only = process.argv.slice(2);
await Promise.all(
  Object.entries(entries)
    .filter(([name]) => only.length === 0 || only.includes(name))
    .map(([name, entry]) =>
      build({
        entryPoints: [entry],
        outfile: `dist/${name}.js`,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        banner,
        // ssh2 (dockerode's SSH transport) has optional native parts; we only use the socket.
        external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
        logLevel: 'warning',
        legalComments: 'none',
      }),
    ),
);
