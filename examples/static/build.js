// The site's build: copies site/ to dist/ and stamps the page with what toss gives a build
// (TOSS_ENV, TOSS_COMMIT). dist/ is what Caddy serves.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
cpSync('site', 'dist', { recursive: true });
const commit = (process.env.TOSS_COMMIT ?? 'local').slice(0, 7);
const page = readFileSync('dist/index.html', 'utf8')
  .replace('%BUILT%', `from ${commit}`)
  .replace('%ENV%', process.env.TOSS_ENV ?? 'local');
writeFileSync('dist/index.html', page);
console.log(`built dist/ (${commit})`);
