// An Express app as toss runs it: `node server.js` on $PORT and $HOST, one page, /up for the
// health check and /visits, a counter kept in a file of the working directory (the release).
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import express from 'express';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

// Like a pid file or a warmed cache: written at boot, so a release the app cannot write in
// fails its deploy's health check instead of its first visitor.
if (!existsSync('tmp')) mkdirSync('tmp');
appendFileSync('tmp/boot.log', `${new Date().toISOString()} pid ${process.pid}\n`);

const app = express();

app.get('/', (_request, response) => {
  response.type('html').send('<h1>Hello from Express</h1>\n<p><a href="/visits">visits</a></p>\n');
});

app.get('/up', (_request, response) => {
  response.type('text').send('ok\n');
});

app.get('/visits', async (_request, response, next) => {
  try {
    const visits = Number(await readFile('tmp/visits.txt', 'utf8').catch(() => '0')) + 1;
    // A new file renamed over the old one: a reader never sees it half written.
    await writeFile('tmp/visits.txt.new', `${visits}\n`);
    await rename('tmp/visits.txt.new', 'tmp/visits.txt');
    response.type('text').send(`visits: ${visits}\n`);
  } catch (error) {
    next(error);
  }
});

const server = app.listen(port, host, () => {
  console.log(`express listening on ${host}:${port} (${process.env.TOSS_ENV ?? 'local'})`);
});

// Finish the requests in flight, then exit: toss stops the old instance once it is idle.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
