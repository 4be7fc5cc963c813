// The example service: a plain-text page showing what the build baked in, and /up for the health
// check. It runs from dist/ with plain node: the server needs neither npm nor tsc.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { filesize } from 'filesize';

/** What scripts/build-info.mjs wrote at build time. */
interface BuildInfo {
  app: string;
  env: string;
  url: string;
  commit: string;
  builtAt: string;
  builtWith: string;
}

const buildInfo = JSON.parse(
  readFileSync(new URL('./build-info.json', import.meta.url), 'utf8'),
) as BuildInfo;
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

function page(): string {
  return [
    `Hello from ${buildInfo.app}!`,
    '',
    `environment: ${buildInfo.env} (${buildInfo.url})`,
    `commit:      ${buildInfo.commit}`,
    `built:       ${buildInfo.builtAt} with ${buildInfo.builtWith}`,
    `running:     Node ${process.version} on ${process.platform} ${process.arch}`,
    // The one runtime dependency, shipped in node_modules by the build.
    `memory:      ${filesize(process.memoryUsage().rss, { standard: 'jedec' })} in use`,
    '',
  ].join('\n');
}

const server = createServer((request, response) => {
  response.setHeader('content-type', 'text/plain; charset=utf-8');
  response.end(request.url === '/up' ? 'ok\n' : page());
});

server.listen(port, host, () => {
  console.log(`${buildInfo.app} listening on ${host}:${port} (${buildInfo.env})`);
});

// systemd stops the old release with SIGTERM once the new one is healthy: requests under way
// are answered, idle keep-alive connections closed, then the process exits 0.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    console.log(`${buildInfo.app} stopping on ${signal}`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
