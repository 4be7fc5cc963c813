#!/usr/bin/env node
// Bundles the action (dist/index.js, its cache worker dist/cache-worker/index.js) and the CLI
// (dist/cli/index.js, with the chunks its commands load when they run) with ncc, in parallel.
import { spawn } from 'node:child_process';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { transform } from 'esbuild';

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

// The CLI's entry holds commander and each command's options and help; an action's import() of
// the code that does its work becomes chunks next to it (<id>.index.js, ids from the modules'
// paths: the same on every checkout). ncc minifies the entry alone, so the chunks are minified
// here: whitespace, comments and syntax, names kept (as ncc keeps function and class names).
// Measured on `toss deploy`'s start, unminified chunks cost ~20 ms of CPU more than these.
// esbuild: a devDependency at the version tsx and vitest bring (one copy); legal comments stay.
for (const name of await readdir('dist/cli')) {
  if (!/^\d+\.index\.js$/.test(name)) continue;
  const file = `dist/cli/${name}`;
  const { code } = await transform(await readFile(file, 'utf8'), {
    format: 'esm',
    target: 'es2022',
    minifyWhitespace: true,
    minifySyntax: true,
  });
  await writeFile(file, code);
}
