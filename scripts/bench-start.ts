/**
 * The bench's "action start": from the moment Node 24 begins loading the action bundle (a preload
 * script notes the time just before, so Node's own start-up is not counted; spawn to first byte is
 * shown too) to the first byte the action sends towards the server's SSH port, for a push that
 * deploys production.
 * A plain TCP listener stands in for sshd and records when the first byte arrives (the client's
 * version line), then hangs up. Measured without `build`, and with a `build` (`true`) and a
 * `cache` that the fake cache service answers with a miss: the cache client's load is then on the
 * way to the server.
 *
 * And the CLI's start (benchCliStart): `toss deploy production` from a git checkout whose toss.json
 * names the same kind of listener, spawn → first SSH byte and bundle load → first SSH byte, under
 * this machine's Node; and `toss --version` against `node -e 0`, the start-up a person waits for.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

export interface CliStartBench {
  /** the Node the CLI ran under (this machine's, as a person's terminal has it) */
  node: string;
  /** `toss deploy production`: spawn → first byte to the SSH port, ms */
  deployFromSpawn: number[];
  /** the same runs from the bundle's load (a preload notes it), ms */
  deployFromLoad: number[];
  /** spawn → exit, ms, taken in turns */
  bareNode: number[];
  version: number[];
  help: number[];
}

/** What `toss --version` may add to `node -e 0` (issue 18), ms. */
export const CLI_VERSION_TARGET_MS = 100;

/** Runs `argv` to its end and resolves spawn → exit in ms; rejects on a failure. */
function timedRun(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(performance.now() - started)
        : reject(new Error(`${argv.join(' ')} exited ${code}:\n${output}`)),
    );
  });
}

/**
 * The CLI's start, from a private copy of dist/cli (a rebuild during the run cannot pull it away):
 * `runs` deploys of production towards a listener that stands in for sshd (each ends with an SSH
 * error once it hangs up, after its first byte), then `runs` each of `node -e 0`, `toss --version`
 * and `toss --help`, in turns. `key` is a private key's text, as the action bench takes it; the
 * deploy never gets as far as using it. `options.cliDir` measures another bundle directory instead.
 */
export async function benchCliStart(
  runs: number,
  key: string,
  options: { cliDir?: string } = {},
): Promise<CliStartBench> {
  const ROOT = resolve(import.meta.dirname, '..');
  const dir = mkdtempSync(join(tmpdir(), 'toss-bench-cli-start-'));
  const listener = await firstByteListener();
  try {
    const cliDir = join(dir, 'cli');
    cpSync(options.cliDir ?? join(ROOT, 'dist/cli'), cliDir, { recursive: true });
    const cli = join(cliDir, 'index.js');
    // A home of its own: no ~/.ssh/config, agent or known_hosts of the person running the bench.
    const home = join(dir, 'home');
    mkdirSync(home);
    const keyFile = join(dir, 'id_bench');
    writeFileSync(keyFile, key.endsWith('\n') ? key : `${key}\n`, { mode: 0o600 });
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    const checkout = join(dir, 'app');
    mkdirSync(checkout);
    writeFileSync(
      join(checkout, 'toss.json'),
      JSON.stringify({
        app: 'start',
        server: `root@127.0.0.1:${listener.port}`,
        startCommand: 'node server.js',
        deployScript: ['true'],
      }),
    );
    writeFileSync(join(checkout, 'server.js'), '// the bench never starts it\n');
    const git = (...args: string[]) =>
      execFileSync(
        'git',
        ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args],
        {
          cwd: checkout,
          stdio: 'ignore',
        },
      );
    git('init', '-q', '-b', 'main');
    git('remote', 'add', 'origin', 'https://example.com/start.git');
    git('add', '.');
    git('commit', '-q', '-m', 'start');
    // Runs just before the bundle loads: when that was, in the same clock as the listener's.
    const mark = join(dir, 'mark.cjs');
    const marked = join(dir, 'marked');
    writeFileSync(
      mark,
      "require('node:fs').writeFileSync(process.env.TOSS_BENCH_MARK, String(performance.timeOrigin + performance.now()));\n",
    );
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TOSS_SSH_KEY: keyFile,
      TOSS_KNOWN_HOSTS: knownHosts,
      NO_COLOR: '1',
    };

    const deployOnce = async () => {
      rmSync(marked, { force: true });
      const arrived = listener.next();
      const started = now();
      const child = spawn(process.execPath, [cli, 'deploy', 'production'], {
        cwd: checkout,
        env: { ...env, NODE_OPTIONS: `--require ${mark}`, TOSS_BENCH_MARK: marked },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => {
        output += c;
      });
      child.stderr.on('data', (c: Buffer) => {
        output += c;
      });
      const ended = new Promise<void>((r) => child.on('close', () => r()));
      const at = await Promise.race([
        arrived,
        ended.then(() => {
          throw new Error(`toss deploy ended before reaching the server:\n${output}`);
        }),
      ]);
      await ended;
      const loading = Number(readFileSync(marked, 'utf8'));
      return { fromLoad: at - loading, fromSpawn: at - started };
    };

    const result: CliStartBench = {
      node: process.version,
      deployFromSpawn: [],
      deployFromLoad: [],
      bareNode: [],
      version: [],
      help: [],
    };
    // One of each first, unmeasured: the files are in the page cache for every sample alike.
    await deployOnce();
    const bare = [process.execPath, '-e', '0'];
    const version = [process.execPath, cli, '--version'];
    const help = [process.execPath, cli, '--help'];
    for (const argv of [bare, version, help]) await timedRun(argv, env);
    for (let i = 0; i < runs; i++) {
      const deploy = await deployOnce();
      result.deployFromSpawn.push(deploy.fromSpawn);
      result.deployFromLoad.push(deploy.fromLoad);
      result.bareNode.push(await timedRun(bare, env));
      result.version.push(await timedRun(version, env));
      result.help.push(await timedRun(help, env));
    }
    return result;
  } finally {
    listener.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the CLI's start; returns how many targets were missed (0 or 1). */
export function reportCliStart(bench: CliStartBench, median: (xs: number[]) => number): number {
  const ms = (xs: number[]) =>
    `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(' ')})`;
  console.log(`\nCLI start under Node ${bench.node} (median, samples):`);
  console.log('  toss deploy production, to the first byte to the SSH port:');
  console.log(`    from the process spawn:  ${ms(bench.deployFromSpawn)}`);
  console.log(`    from the bundle's load:  ${ms(bench.deployFromLoad)}`);
  const extra = median(bench.version) - median(bench.bareNode);
  console.log(`  node -e 0:                 ${ms(bench.bareNode)}`);
  console.log(`  toss --version:            ${ms(bench.version)}`);
  console.log(`  toss --help:               ${ms(bench.help)}`);
  const met = extra < CLI_VERSION_TARGET_MS;
  console.log(
    `  toss --version is node -e 0 +${extra.toFixed(0)} ms; target < +${CLI_VERSION_TARGET_MS} ms: ${met ? 'met' : 'MISSED'}`,
  );
  return met ? 0 : 1;
}
