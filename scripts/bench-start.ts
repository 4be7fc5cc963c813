/**
 * The bench's "action start": from spawning the action bundle under Node 24 (as the runner does)
 * to the first byte it sends towards the server's SSH port, for a push that deploys production.
 * A plain TCP listener stands in for sshd and records when the first byte arrives (the client's
 * version line), then hangs up. Measured without `build`, and with a `build` (`true`) and a
 * `cache` that the fake cache service answers with a miss: the cache client's load is then on the
 * way to the server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAction } from '../test/e2e/support/runner.js';
import { startFakeCache } from '../test/support/fake-cache/server.js';
import { startFakeGitHub } from '../test/support/fake-github/server.js';
import { branchPush, branchPushExample } from '../test/support/webhook-events.js';

export interface StartBench {
  plain: number[];
  cached: number[];
}

/** A listener that resolves each connection's first byte time (performance.now()) in order. */
function firstByteListener(): Promise<{
  server: Server;
  port: number;
  next: () => Promise<number>;
}> {
  const waiting: Array<(t: number) => void> = [];
  const server = createServer((socket) => {
    socket.once('data', () => {
      const at = performance.now();
      socket.destroy();
      waiting.shift()?.(at);
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        server,
        port,
        next: () => new Promise<number>((r) => waiting.push(r)),
      });
    });
  });
}

export async function benchActionStart(
  runs: number,
  key: string,
  options: { bundle?: string; withoutBuild?: boolean } = {},
): Promise<StartBench> {
  const { bundle } = options;
  const [listener, github, cache] = await Promise.all([
    firstByteListener(),
    startFakeGitHub(),
    startFakeCache({ defaultRef: 'refs/heads/master' }),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'toss-bench-start-'));
  const base = { app: 'start', server: 'root@127.0.0.1', startCommand: 'node server.js', deployScript: ['true'] };
  try {
    const once = async (config: Record<string, unknown>, env: Record<string, string>) => {
      writeFileSync(join(dir, 'toss.json'), JSON.stringify({ ...base, ...config }));
      const arrived = listener.next();
      const started = performance.now();
      const run = runAction({
        ...(bundle ? { bundle } : {}),
        eventName: 'push',
        payload: branchPush(branchPushExample(), 'master'),
        ref: 'refs/heads/master',
        workspace: dir,
        apiUrl: github.url,
        repository: github.repository,
        env,
        inputs: {
          'ssh-key': key,
          'known-hosts': '',
          server: `root@127.0.0.1:${listener.port}`,
          'github-token': '',
        },
      });
      const at = await Promise.race([
        arrived,
        run.then((r) => {
          throw new Error(`the action ended before reaching the server:\n${r.stdout}\n${r.stderr}`);
        }),
      ]);
      await run;
      return at - started;
    };
    const result: StartBench = { plain: [], cached: [] };
    await once({}, {});
    for (let i = 0; i < runs; i++) {
      result.plain.push(await once({}, {}));
      if (options.withoutBuild) continue;
      result.cached.push(
        await once({ build: ['true'], cache: ['~/.npm'] }, cache.env('refs/heads/master')),
      );
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    listener.server.close();
    await Promise.all([cache.close(), github.close()]);
  }
}

export function reportActionStart(bench: StartBench, median: (xs: number[]) => number): void {
  const ms = (xs: number[]) =>
    `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(' ')})`;
  console.log(
    '\naction start (spawn of the bundle under Node 24 → first byte to the SSH port), median:',
  );
  console.log(`  without build:                    ${ms(bench.plain)}`);
  console.log(`  with build and cache (cache miss): ${ms(bench.cached)}`);
  const worst = Math.max(median(bench.plain), median(bench.cached));
  console.log(`  target < 300 ms: ${worst < 300 ? 'met' : 'MISSED'}`);
}
