// The example app: serves the built page, answers /up for health checks, keeps a boot log.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
const body = readFileSync(new URL('./build/body.txt', import.meta.url), 'utf8');

// data/ is a persistentDir: what one release writes there, the next one reads.
mkdirSync('data', { recursive: true });
appendFileSync(
  'data/boots.log',
  `${new Date().toISOString()} ${process.env.TOSS_RELEASE_DIR ?? ''}\n`,
);

createServer((request, response) => {
  if (request.url === '/up') {
    response.end('ok\n');
  } else if (request.url === '/boots') {
    response.end(readFileSync('data/boots.log'));
  } else {
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end(body);
  }
}).listen(port, host, () => {
  console.log(`hello listening on ${host}:${port} (${process.env.TOSS_ENV ?? 'local'})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    console.log(`hello stopping on ${signal}`);
    process.exit(0);
  });
}
