#!/usr/bin/env node
// Bundles the action (dist/index.js, its cache worker dist/cache-worker/index.js) and the CLI
// (dist/cli/index.js) with ncc, in parallel.
import { spawn } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';

const ncc = 'node_modules/.bin/ncc';
// cpu-features is an optional native speed-up of ssh2; leaving it out keeps dist/ identical everywhere.
const common = [
  'build',
  '--quiet',
  '--transpile-only',
  '--external',
  'cpu-features',
  '--target',
  'es2022',
];

function bundle(entry, outDir, { minify = true } = {}) {
  return new Promise((resolve, reject) => {
    const args = [...common, ...(minify ? ['--minify'] : []), entry, '-o', outDir];
    const child = spawn(ncc, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ncc ${entry} exited ${code}`)),
    );
  });
}

await rm('dist', { recursive: true, force: true });
// The cache client runs in a worker thread of the action's, bundled on its own: the action's
// main bundle never holds (or loads) it. Only the CLI is minified, since its start is what a
// person waits for (about 40 ms less for `toss --version`): minifying the action and its cache
// worker (the Azure SDK) cost a third of the build's CPU time, for a few tens of milliseconds once
// per job on a CI runner.
await Promise.all([
  bundle('src/index.ts', 'dist', { minify: false }),
  bundle('src/action/cache-worker.ts', 'dist/cache-worker', { minify: false }),
  bundle('src/cli/index.ts', 'dist/cli'),
]);

const cli = 'dist/cli/index.js';
const text = await readFile(cli, 'utf8');
if (!text.startsWith('#!')) await writeFile(cli, `#!/usr/bin/env node\n${text}`);
await chmod(cli, 0o755);
