/**
 * toss.json's `build` on the runner: the committed action bundle under Node 24 builds
 * examples/hello-ts for real (npm from the registry, tsc) with real webhook payloads, keeps its
 * npm cache in a fake of GitHub's cache service driven by the real @actions/cache client (blobs
 * in azurite), and ships the result to a real host that has Node but no npm and no TypeScript.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeCache, startFakeCache } from '../support/fake-cache/server.js';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { branchPush, branchPushExample, example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sslipName,
  startProbe,
  toss,
} from './support/app.js';
import { type ActionRun, runAction } from './support/runner.js';

let host: TestHost;
let github: FakeGitHub;
let cache: FakeCache;
let app: AppCheckout;
const MARKER = '<!-- toss:hello-ts -->';
const pulls = new Set<number>();
let build: string[];

beforeAll(async () => {
  [[host], github, cache] = (await Promise.all([
    bootHosts(1),
    startFakeGitHub(),
    startFakeCache({ defaultRef: 'refs/heads/master' }),
  ])) as [[TestHost], FakeGitHub, FakeCache];
  app = await makeApp(
    host,
    { app: 'hello-ts' },
    'https://github.com/Codertocat/Hello-World.git',
    'hello-ts',
  );
  build = app.config().build as string[];
});
afterAll(async () => {
  rmSync(HOME, { recursive: true, force: true });
  await cache?.close();
  await github?.close();
  await host?.shutdown();
});
afterEach(() => {
  expect(github.violations, github.violations.join('\n')).toEqual([]);
  expect(cache.violations, cache.violations.join('\n')).toEqual([]);
});

const log = (run: ActionRun) => `${run.stdout}\n${run.stderr}`;

/** A real pull_request payload for PR `number` at `sha`, and the ref the runner gives it. */
function prRun(action: string, number: number, sha: string) {
  const payload = structuredClone(example('pull_request', action));
  payload.number = number;
  payload.pull_request.number = number;
  payload.pull_request.head.sha = sha;
  if (!pulls.has(number)) {
    github.addPull({ number, state: 'open', headSha: sha, headRef: `feature-${number}` });
    pulls.add(number);
  }
  return { eventName: 'pull_request', payload, ref: `refs/pull/${number}/merge`, sha };
}

/** A push to the example repository's default branch (master): production. */
function pushRun(sha: string) {
  const payload = branchPush(branchPushExample(), 'master');
  return { eventName: 'push', payload, ref: 'refs/heads/master', sha };
}

/**
 * Every job starts on a fresh runner: the same home directory path (as /home/runner is on
 * GitHub's images, which the cache's `~/` paths are restored to), empty.
 */
const HOME = join(tmpdir(), `toss-build-runner-home-${process.pid}`);
function freshHome(): string {
  rmSync(HOME, { recursive: true, force: true });
  mkdirSync(HOME);
  return HOME;
}

async function action(event: { eventName: string; payload: unknown; ref: string; sha: string }) {
  return runAction({
    home: freshHome(),
    ...event,
    workspace: app.dir,
    apiUrl: github.url,
    repository: github.repository,
    env: cache.env(event.ref),
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      'lock-wait': '60',
      secrets: 'SHOULD_NOT_REACH_THE_BUILD=yes\n',
    },
  });
}

/** Seconds the Build step took, and its install command (`npm ci`), as the log says them. */
function buildSeconds(run: ActionRun): { build: number; install: number } {
  const done = /::group::Build\n(?:.*\n)*?done in ([\d.]+) s/.exec(run.stdout);
  const install = /^took ([\d.]+) s: npm ci/m.exec(run.stdout);
  if (!done || !install) throw new Error(`no Build step in the log:\n${log(run)}`);
  return { build: Number(done[1]), install: Number(install[1]) };
}

const sha = (c: string) => c.repeat(40);

describe('build on the runner', () => {
  let cold = { build: 0, install: 0 };

  it('a PR with build deploys what the runner built; the server has no npm or tsc', async () => {
    const run = await action(prRun('opened', 21, sha('a')));
    expect(run.code, log(run)).toBe(0);
    const name = sslipName(host, 'hello-ts', 'pr-21');
    const page = await fetchSite(host, name);
    expect(page.status).toBe(200);
    // Built on the runner, with the environment's own values baked in by the build.
    expect(page.body).toContain('pr-21');
    expect(page.body).toContain(`https://${name}/`);
    expect(page.body).toContain(sha('a'));
    // What the release holds is what tsc made; the server could not have made it.
    const release = `/srv/hello-ts/pr-21/current`;
    expect(
      await inHost(host, ['sh', '-c', `ls ${release}/dist ${release}/node_modules | head -50`]),
    ).toContain('server.js');
    expect(await inHost(host, ['sh', '-c', 'command -v npm tsc npx || echo none'])).toBe('none\n');
    expect(log(run)).toMatch(/Restore build cache\n(?:.*\n)*?done in [\d.]+ s \(miss/);
    expect(run.summary).toMatch(/Built on the runner in [\d.]+ s; cache miss/);
    cold = buildSeconds(run);
    const saved = cache.entries().filter((e) => e.committed);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ scope: 'refs/pull/21/merge' });
    // The build saw none of the action's inputs: the secrets input stayed with toss.
    expect(log(run)).not.toContain('SHOULD_NOT_REACH_THE_BUILD');
  });

  it('the same PR again: cache hit in the log and summary, and the install time printed', async () => {
    const run = await action(prRun('synchronize', 21, sha('b')));
    expect(run.code, log(run)).toBe(0);
    expect(log(run)).toMatch(
      /Restore build cache\n(?:.*\n)*?done in [\d.]+ s \(hit toss-build_hello-ts_Linux_/,
    );
    expect(run.summary).toMatch(/cache hit/);
    const warm = buildSeconds(run);
    console.log(
      `build on the runner: cold ${cold.build.toFixed(1)} s (npm ci ${cold.install.toFixed(2)} s), warm cache ${warm.build.toFixed(1)} s (npm ci ${warm.install.toFixed(2)} s)`,
    );
    // How much faster the warm install is, is the bench's to measure (its "push to preview URL"
    // runs with a warm cache): on a busy machine one warm run can be slower than one cold run.
    expect((await fetchSite(host, sslipName(host, 'hello-ts', 'pr-21'))).body).toContain(sha('b'));
  });

  it("a new PR branch starts from the default branch's cache", async () => {
    // Production on master: a PR's cache is not the default branch's to read, so it builds cold.
    const main = await action(pushRun(sha('c')));
    expect(main.code, log(main)).toBe(0);
    expect(log(main)).toMatch(/Restore build cache\n(?:.*\n)*?done in [\d.]+ s \(miss/);
    const mainEntry = cache.entries().find((e) => e.committed && e.scope === 'refs/heads/master');
    expect(mainEntry).toBeDefined();
    // A new branch whose build differs has another key: its restore key finds master's entry.
    app.configure({ build: [...build, 'echo one more step'] });
    const run = await action(prRun('opened', 22, sha('d')));
    expect(run.code, log(run)).toBe(0);
    expect(log(run)).toContain(`restored from ${mainEntry!.key}`);
    expect(run.summary).toContain(`cache restored from \`${mainEntry!.key}\``);
    expect((await fetchSite(host, sslipName(host, 'hello-ts', 'pr-22'))).body).toContain(sha('d'));
  });

  it('a failing build: nothing on the server changed, its output in the log, the comment says so', async () => {
    const stateBefore = await inHost(host, ['cat', '/srv/hello-ts/.toss/state.json']);
    app.configure({
      build: [
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, for the build's shell
        'echo "inputs seen: $(env | grep -c ^INPUT_) token: ${ACTIONS_RUNTIME_TOKEN:-none}"',
        'echo "tsc: src/server.ts(1,1): error TS1005: broken on purpose" >&2; exit 2',
      ],
    });
    const run = await action(prRun('opened', 23, sha('e')));
    expect(run.code).not.toBe(0);
    expect(log(run)).toContain('error TS1005: broken on purpose');
    expect(log(run)).toContain('inputs seen: 0 token: none');
    expect(log(run)).toMatch(/build\[1\] .* exited with 2; nothing was uploaded/);
    const comment = github.comments(23).find((c) => c.body.includes(MARKER));
    expect(comment?.body).toContain('Deploy failed');
    expect(comment?.body).toContain('| Failed step | Build |');
    // No lock left, no environment, no staging: the server never heard of pr-23.
    expect(await inHost(host, ['cat', '/srv/hello-ts/.toss/state.json'])).toBe(stateBefore);
    expect(await inHost(host, ['ls', '-A', '/srv/hello-ts'])).not.toContain('pr-23');
    expect(
      await inHost(host, [
        'sh',
        '-c',
        'ls -d /srv/hello-ts/*/releases/.incoming-* 2>/dev/null | wc -l',
      ]),
    ).toBe('0\n');
  });

  it('the cache service down: the deploy succeeds with a warning and a cold build', async () => {
    app.configure({ build });
    cache.failWith(500);
    await cache.stopBlobs();
    const run = await action(prRun('synchronize', 22, sha('f')));
    expect(run.code, log(run)).toBe(0);
    expect(log(run)).toMatch(/::warning::.*build cache could not be restored.*building cold/);
    expect(run.summary).toMatch(/cache unavailable \(cold build\)/);
    expect(log(run)).toContain('skipped: the cache service failed');
    expect((await fetchSite(host, sslipName(host, 'hello-ts', 'pr-22'))).body).toContain(sha('f'));
  });
});

describe('build with the CLI', () => {
  it("toss deploy pr-9 builds here and ships the result; cache is the action's alone", async () => {
    const run = await toss(host, ['deploy', 'pr-9'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('Build');
    expect(run.output).not.toContain('build cache');
    const name = sslipName(host, 'hello-ts', 'pr-9');
    const page = await fetchSite(host, name);
    expect(page.body).toContain('pr-9');
    expect(page.body).toContain(`https://${name}/`);
  });

  it('an artifact with native code for another processor is refused before the switch; production keeps serving', async () => {
    app.configure({ build });
    const first = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    expect(first.code, first.output).toBe(0);
    const name = sslipName(host, 'hello-ts', 'production');
    // The page's build line says which build serves (its memory line changes by itself).
    const builtLine = (body: string) => body.split('\n').find((l) => l.startsWith('built:'));
    const live = builtLine((await fetchSite(host, name)).body);
    expect(live).toBeDefined();
    const releases = await inHost(host, ['ls', '-A', '/srv/hello-ts/production/releases']);
    // A tool the build fetched for the wrong machine: an ELF executable for aarch64 (64-bit,
    // little-endian), as a prebuilt download for an arm64 laptop would leave it.
    const elf =
      "const b=Buffer.alloc(64);b.write('\\x7fELF',0,'latin1');b[4]=2;b[5]=1;b[6]=1;b[16]=2;b[18]=183;b[20]=1;" +
      "require('fs').mkdirSync('bin',{recursive:true});require('fs').writeFileSync('bin/tool',b,{mode:0o755})";
    app.configure({ build: [...build, `node -e "${elf}"`] });
    const probe = startProbe(host, name);
    const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
    const counts = await probe.stop();
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('bin/tool is built for aarch64; the server is x86_64');
    expect(run.output).toMatch(/Check native code against the server/);
    expect(counts.failed, JSON.stringify(counts)).toBe(0);
    expect(builtLine((await fetchSite(host, name)).body)).toBe(live);
    // No new release, and no staging copy left behind.
    expect(await inHost(host, ['ls', '-A', '/srv/hello-ts/production/releases'])).toBe(releases);
  });
});
