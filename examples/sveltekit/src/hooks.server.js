import { appendFileSync, existsSync, mkdirSync } from 'node:fs';

// Runs once when the server starts: an app that cannot write its working files fails here,
// before it takes traffic, instead of on the first request that needs them.
export function init() {
  if (!existsSync('tmp')) mkdirSync('tmp');
  appendFileSync('tmp/boot.log', `${new Date().toISOString()} pid ${process.pid}\n`);
}
