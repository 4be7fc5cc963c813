// The last build step: bakes what is being deployed, and where, into dist/build-info.json. toss
// gives build commands TOSS_APP, TOSS_ENV, TOSS_URL and TOSS_COMMIT; a local build has none.
import { mkdirSync, writeFileSync } from 'node:fs';

const info = {
  app: process.env.TOSS_APP ?? 'hello-ts',
  env: process.env.TOSS_ENV ?? 'local',
  url: process.env.TOSS_URL ?? 'http://127.0.0.1',
  commit: process.env.TOSS_COMMIT ?? 'none (a local build)',
  builtAt: new Date().toISOString(),
  builtWith: `Node ${process.version} on ${process.platform} ${process.arch}`,
};

mkdirSync(new URL('../dist/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('../dist/build-info.json', import.meta.url),
  `${JSON.stringify(info, null, 2)}\n`,
);
console.log(`wrote dist/build-info.json: ${info.env} at ${info.commit}`);
