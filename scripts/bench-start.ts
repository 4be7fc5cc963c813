/**
 * The bench's "action start": from the moment Node 24 begins loading the action bundle (a preload
 * script notes the time just before, so Node's own start-up is not counted; spawn to first byte is
 * shown too) to the first byte the action sends towards the server's SSH port, for a push that
 * deploys production.
 * A plain TCP listener stands in for sshd and records when the first byte arrives (the client's
 * version line), then hangs up. Measured without `build`, and with a `build` (`true`) and a
 * `cache` that the fake cache service answers with a miss: the cache client's load is then on the
 * way to the server.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAction } from '../test/e2e/support/runner.js';
import { startFakeCache } from '../test/support/fake-cache/server.js';
import { startFakeGitHub } from '../test/support/fake-github/server.js';
import { branchPush, branchPushExample } from '../test/support/webhook-events.js';

export interface StartBench {
  /** bundle load → first SSH byte, ms */
  plain: number[];
  cached: number[];
  /** the same runs from the spawn of the process */
  plainFromSpawn: number[];
  cachedFromSpawn: number[];
}

/** The wall-clock time in ms, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

/** A listener that resolves each connection's first byte time (performance.now()) in order. */
function firstByteListener(): Promise<{
  server: Server;
  port: number;
  next: () => Promise<number>;
}> {
  const waiting: Array<(t: number) => void> = [];
  const server = createServer((socket) => {
    socket.once('data', () => {
      const at = now();
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
  // Runs just before the bundle loads: when that was, in the same clock as the listener's.
  const mark = join(dir, 'mark.cjs');
  const marked = join(dir, 'marked');
  writeFileSync(
    mark,
    "if (require('node:worker_threads').isMainThread) require('node:fs').writeFileSync(process.env.TOSS_BENCH_MARK, String(performance.timeOrigin + performance.now()));\n",
  );
  const base = {
    app: 'start',
    server: 'root@127.0.0.1',
    startCommand: 'node server.js',
    deployScript: ['true'],
  };
  try {
    const once = async (config: Record<string, unknown>, cacheEnv: Record<string, string>) => {
      writeFileSync(join(dir, 'toss.json'), JSON.stringify({ ...base, ...config }));
      const env = { ...cacheEnv, NODE_OPTIONS: `--require ${mark}`, TOSS_BENCH_MARK: marked };
      const arrived = listener.next();
      const started = now();
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
      const loading = Number(readFileSync(marked, 'utf8'));
      return { fromLoad: at - loading, fromSpawn: at - started };
    };
    const result: StartBench = { plain: [], cached: [], plainFromSpawn: [], cachedFromSpawn: [] };
    await once({}, {});
    for (let i = 0; i < runs; i++) {
      const plain = await once({}, {});
      result.plain.push(plain.fromLoad);
      result.plainFromSpawn.push(plain.fromSpawn);
      if (options.withoutBuild) continue;
      const cached = await once(
        { build: ['true'], cache: ['~/.npm'] },
        cache.env('refs/heads/master'),
      );
      result.cached.push(cached.fromLoad);
      result.cachedFromSpawn.push(cached.fromSpawn);
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
    '\naction start under Node 24, bundle load → first byte to the SSH port (median, samples):',
  );
  console.log(`  without build:                     ${ms(bench.plain)}`);
  if (bench.cached.length > 0)
    console.log(`  with build and cache (cache miss): ${ms(bench.cached)}`);
  const spawned = [bench.plainFromSpawn, bench.cachedFromSpawn].filter((xs) => xs.length > 0);
  console.log(
    `  from the process spawn (Node's own start-up included): ${spawned.map((xs) => `${median(xs).toFixed(0)} ms`).join(' and ')}`,
  );
  const worst = Math.max(...[bench.plain, bench.cached].filter((xs) => xs.length).map(median));
  console.log(`  target < 300 ms: ${worst < 300 ? 'met' : 'MISSED'}`);
}
