/**
 * The bench's "push to preview URL": the committed action bundle under Node 24, run as a runner
 * runs it on a pull_request `synchronize`, deploying examples/hello-ts built on the runner (npm ci,
 * tsc, npm prune) with a warm dependency cache (a fake of GitHub's cache service, blobs in
 * azurite). Timed from the action's start until the preview answers the new commit over HTTPS,
 * split into its steps. Floor, in the same run: what a hand-written script does for the same
 * result, with the same warm npm cache: the build commands, one `rsync -az` of the built tree,
 * one `ssh` restart.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestHost } from '../test/e2e/harness/types.js';
import { fetchSite, makeApp, sslipName } from '../test/e2e/support/app.js';
import { runAction } from '../test/e2e/support/runner.js';
import { startFakeCache } from '../test/support/fake-cache/server.js';
import { startFakeGitHub } from '../test/support/fake-github/server.js';
import { example } from '../test/support/webhook-events.js';
import { q, sh } from './bench-shell.js';

const PR = 7;
/** examples/hello-ts's build, as its toss.json says it. */
const BUILD = (
  JSON.parse(readFileSync(join(import.meta.dirname, '../examples/hello-ts/toss.json'), 'utf8')) as {
    build: string[];
  }
).build;

export interface PreviewBench {
  /** ms from the action's start until the preview served the new commit */
  live: number[];
  /** ms of the whole action run (the cache save after going live included) */
  action: number[];
  steps: Map<string, number[]>;
  floor: number[];
}

/** Polls the preview until its page holds `text`; resolves with performance.now() then. */
async function liveAt(
  host: TestHost,
  name: string,
  text: string,
  stop: () => boolean,
): Promise<number> {
  for (;;) {
    const page = await fetchSite(host, name, '/', { timeoutMs: 2000 }).catch(() => undefined);
    if (page?.body.includes(text)) return performance.now();
    if (stop()) throw new Error(`the preview never served ${text}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function benchPushToPreview(host: TestHost, runs: number, log: (t: string) => void) {
  const [github, cache] = await Promise.all([startFakeGitHub(), startFakeCache()]);
  // The floor's npm cache stays warm; the runner's home is emptied before each run, as a fresh
  // runner's /home/runner is (the same path, so the cache's ~/.npm lands where npm looks).
  const home = mkdtempSync(join(tmpdir(), 'toss-bench-floor-home-'));
  const runnerHome = mkdtempSync(join(tmpdir(), 'toss-bench-runner-home-'));
  try {
    const app = await makeApp(
      host,
      { app: 'hello-ts' },
      'https://github.com/Codertocat/Hello-World.git',
      'hello-ts',
    );
    const name = sslipName(host, 'hello-ts', `pr-${PR}`);
    let opened = false;
    const push = async (sha: string) => {
      const payload = structuredClone(example('pull_request', 'synchronize'));
      payload.number = PR;
      payload.pull_request.number = PR;
      payload.pull_request.head.sha = sha;
      if (!opened) github.addPull({ number: PR, state: 'open', headSha: sha, headRef: 'feature' });
      opened = true;
      let done = false;
      const started = performance.now();
      const live = liveAt(host, name, sha, () => done);
      rmSync(runnerHome, { recursive: true, force: true });
      mkdirSync(runnerHome);
      const result = await runAction({
        home: runnerHome,
        eventName: 'pull_request',
        payload,
        ref: `refs/pull/${PR}/merge`,
        sha,
        workspace: app.dir,
        apiUrl: github.url,
        repository: github.repository,
        env: cache.env(`refs/pull/${PR}/merge`),
        inputs: {
          'ssh-key': host.key,
          'known-hosts': host.knownHostsLines.join('\n'),
          'github-token': 'ghs_fake_installation_token',
        },
      });
      const ended = performance.now();
      done = true;
      if (result.code !== 0)
        throw new Error(`the action failed:\n${result.stdout}\n${result.stderr}`);
      const steps = new Map<string, number>();
      for (const m of result.stdout.matchAll(
        /::group::(.+)\n(?:(?!::group::).*\n)*?done in ([\d.]+) s/g,
      ))
        steps.set(m[1] as string, Number(m[2]) * 1000);
      return { live: (await live) - started, action: ended - started, steps };
    };
    log('push to preview: warm-up (cold cache, saves it; the floor warms its own)');
    await push('0'.repeat(40));
    await floor(host, app.dir, home);
    const result: PreviewBench = { live: [], action: [], steps: new Map(), floor: [] };
    for (let i = 1; i <= runs; i++) {
      log(`push to preview ${i}/${runs}`);
      result.floor.push(await floor(host, app.dir, home));
      const sample = await push(String(i % 10).repeat(40));
      result.live.push(sample.live);
      result.action.push(sample.action);
      for (const [k, v] of sample.steps) result.steps.set(k, [...(result.steps.get(k) ?? []), v]);
    }
    return result;
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(runnerHome, { recursive: true, force: true });
    await Promise.all([cache.close(), github.close()]);
  }
}

/**
 * The same result by hand, with the npm cache warm: build the checkout's copy, rsync the built
 * tree to the host, restart a unit over ssh (`bench-floor`, the trivial unit bench.ts's own floor
 * installs on the host before any scenario runs).
 */
async function floor(host: TestHost, appDir: string, home: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'toss-bench-floor-'));
  try {
    cpSync(appDir, dir, {
      recursive: true,
      filter: (s) => !/\/(?:node_modules|dist|\.git)$/.test(s),
    });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
    const started = performance.now();
    for (const command of BUILD) await sh(['/bin/sh', '-c', command], dir, env);
    const ssh = host.sshArgv('root').slice(0, -1);
    await sh([
      'rsync',
      '-az',
      '--delete',
      '-e',
      ssh.map(q).join(' '),
      `${dir}/`,
      `root@${host.ip}:/root/bench-preview-floor/`,
    ]);
    await sh([...host.sshArgv('root', 'systemctl', 'restart', 'bench-floor')]);
    return performance.now() - started;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function reportPushToPreview(bench: PreviewBench, median: (xs: number[]) => number): void {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const floorMs = median(bench.floor);
  const liveMs = median(bench.live);
  console.log(
    `\npush to preview URL (examples/hello-ts built on the runner, warm cache, ${bench.live.length} runs, medians):`,
  );
  console.log(
    `  action start → preview serves the commit over HTTPS: ${s(liveMs)} s (${(liveMs / floorMs).toFixed(2)}× the floor of ${s(floorMs)} s: warm npm ci + build + prune, rsync -az, ssh restart)`,
  );
  console.log(
    `  whole action run (cache save after going live included): ${s(median(bench.action))} s`,
  );
  console.log(`  samples: ${bench.live.map(s).join('  ')}`);
  console.log('  per step, median s:');
  let inSteps = 0;
  for (const [step, list] of bench.steps) {
    inSteps += step === 'Save build cache' ? 0 : median(list);
    console.log(`    ${step.padEnd(28)}${s(median(list)).padStart(7)}`);
  }
  console.log(
    `    ${'(outside steps, until live)'.padEnd(28)}${s(Math.max(0, liveMs - inSteps)).padStart(7)}`,
  );
}
