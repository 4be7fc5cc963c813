/**
 * The action keeps the key and secrets out of sight, and hostile pull request titles stay inert.
 * The committed action bundle runs against a real host and the validating fake GitHub:
 * - the key is in no file of RUNNER_TEMP or the workspace while the deploy runs, nor after post;
 * - a secret value given through the `secrets` input appears in no output, summary, comment,
 *   deployment, state.json, or server command line (`ps` during a long step);
 * - 20 pull_request runs whose PR title is hostile (HTML comments that mimic the sticky marker,
 *   markdown, shell payloads): one sticky comment with exactly one marker, the title nowhere in
 *   it, and nothing executed on the host.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { hostileString } from '../support/hostile.js';
import { branchPush, example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, inHost, makeApp } from './support/app.js';
import { reportRow } from './support/reliability.js';
import { type ActionRun, type ActionRunOptions, runAction } from './support/runner.js';

const SECRET = `s3cr3t-${randomBytes(8).toString('hex')}`;
const CANARY = `/tmp/canary-${randomBytes(6).toString('hex')}`;
const TITLES = 20;
let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;
const runs: ActionRun[] = [];

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  app = await makeApp(host, {}, 'https://github.com/Codertocat/Hello-World.git');
});
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});

async function action(
  options: Partial<ActionRunOptions> & Pick<ActionRunOptions, 'eventName' | 'payload'>,
) {
  const run = await runAction({
    workspace: app.dir,
    apiUrl: fake.url,
    repository: fake.repository,
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      'lock-wait': '60',
      secrets: `API_TOKEN=${SECRET}\n`,
    },
    ...options,
  });
  runs.push(run);
  return run;
}

const log = (r: ActionRun) => `${r.stdout}\n${r.stderr}`;
const push = () =>
  branchPush(
    example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
    'master',
  );

/** Files under dir, recursively, with their permission bits. */
function filesWithModes(dir: string): Array<{ path: string; mode: number }> {
  const out: Array<{ path: string; mode: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesWithModes(path));
    else out.push({ path, mode: statSync(path).mode & 0o777 });
  }
  return out;
}

/** Whether a file holds the body of the test host's private key (its longest base64 line). */
function holdsKey(path: string): boolean {
  const line = host.key
    .split('\n')
    .filter((l) => !l.startsWith('-----'))
    .sort((a, b) => b.length - a.length)[0]!;
  return readFileSync(path, 'latin1').includes(line);
}

describe('keys and secrets in the action', () => {
  it('no file holds the key while main runs nor after post; the secret is on no command line', async () => {
    app.configure({ deployScript: ['node build.js', 'echo long step started; sleep 8'] });
    const runnerTemp = mkdtempSync(join(tmpdir(), 'toss-runner-'));
    let seen: Array<{ path: string; mode: number }> = [];
    let psDuring = '';
    const main = action({
      eventName: 'push',
      payload: push(),
      ref: 'refs/heads/master',
      runnerTemp,
      killWhen: (out) => {
        if (out.includes('long step started') && seen.length === 0) {
          seen = [...filesWithModes(runnerTemp), ...filesWithModes(app.dir)];
        }
        return false;
      },
    });
    // While the long step runs: every process command line on the server.
    const deadline = Date.now() + 60_000;
    while (
      Date.now() < deadline &&
      (await host.exec(['pgrep', '-x', '-f', 'sleep 8'])).code !== 0
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    psDuring = await inHost(host, ['ps', '-eo', 'args']);
    const done = await main;
    expect(done.code, log(done)).toBe(0);
    expect(psDuring).toContain('sleep 8');
    expect(psDuring).not.toContain(SECRET);
    // While the deploy ran, no file of RUNNER_TEMP or the workspace held the key.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((f) => holdsKey(f.path)).map((f) => f.path)).toEqual([]);
    // post runs with main's state: the key file is gone.
    const post = await action({
      eventName: 'push',
      payload: push(),
      ref: 'refs/heads/master',
      state: done.state,
      runnerTemp,
    });
    expect(post.code, log(post)).toBe(0);
    expect(readdirSync(runnerTemp).filter((f) => f.startsWith('toss-'))).toEqual([]);
    const after = [...filesWithModes(runnerTemp), ...filesWithModes(app.dir)];
    expect(after.filter((f) => holdsKey(f.path)).map((f) => f.path)).toEqual([]);
    app.configure({ deployScript: ['node build.js'] });
  });

  it(`${TITLES} pull_request runs with hostile PR titles: one marker, title never in the comment, nothing run`, async () => {
    const titles = fc.sample(
      hostileString(CANARY).filter((t) => t.trim().length > 0),
      {
        numRuns: TITLES - 3,
        seed: 11,
      },
    );
    titles.push(
      '<!-- toss:hello --> fake marker',
      '--> <!-- toss:other --> <script>alert(1)</script>',
      `]]> \`$(touch ${CANARY})\` | | |\n---|\n<!--`,
    );
    fake.addPull({
      number: 77,
      state: 'open',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      headRef: 'changes',
    });
    let survived = 0;
    for (const [i, title] of titles.entries()) {
      const payload = structuredClone(example('pull_request', 'synchronize'));
      payload.number = 77;
      payload.pull_request.number = 77;
      payload.pull_request.title = title;
      payload.pull_request.body = title;
      payload.pull_request.head.sha = `${'ec26c3e57ca3a959ca5aad62de7213c562f8'}${String(1000 + i)}`;
      // Each synchronize brings a new commit, so each run is a full deploy (the same tree again
      // would be "unchanged, still live").
      await app.commit('VERSION', `${i}\n`);
      const run = await action({ eventName: 'pull_request', payload });
      expect(run.code, log(run)).toBe(0);
      expect(run.outputs.action, log(run)).toBe('deployed');
      const comments = fake.comments(77);
      expect(comments).toHaveLength(1);
      const body = String((comments[0] as { body?: string }).body ?? '');
      expect(body.split('<!--').length - 1, body).toBe(1);
      expect(body).toContain('<!-- toss:hello -->');
      if (title.trim().length >= 4) expect(body).not.toContain(title);
      const canary = await host.exec(['sh', '-c', 'ls /tmp/canary-* 2>/dev/null | grep -q .']);
      expect(canary.code, 'a canary file was created').toBe(1);
      survived++;
    }
    reportRow({
      scenario: 'hostile PR titles (action, full deploy)',
      runs: titles.length,
      survived,
      lost: titles.length - survived,
    });
  }, 400_000);

  it('the secret value is in no output, summary, comment, deployment, request or state.json', async () => {
    expect(runs.length).toBeGreaterThan(3);
    for (const run of runs) {
      // The runner masks the secrets input with ::add-mask::; nothing else may carry it.
      const visible = `${run.stdout}\n${run.stderr}`
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n');
      expect(visible).not.toContain(SECRET);
      expect(run.summary).not.toContain(SECRET);
      expect(JSON.stringify(run.outputs)).not.toContain(SECRET);
      expect(JSON.stringify(run.state)).not.toContain(SECRET);
    }
    expect(JSON.stringify(fake.requests)).not.toContain(SECRET);
    for (const app_ of ['hello']) {
      expect(await inHost(host, ['cat', `/srv/${app_}/.toss/state.json`])).not.toContain(SECRET);
    }
    // …while the app does get it (stored as the environment's override, root-only).
    const overrides = await inHost(host, [
      'sh',
      '-c',
      'cat /srv/hello/.toss/secrets/overrides/*.env',
    ]);
    expect(overrides).toContain(SECRET);
    const modes = await inHost(host, [
      'sh',
      '-c',
      'stat -c "%a %U" /srv/hello/.toss/secrets/overrides/*.env',
    ]);
    for (const line of modes.trim().split('\n')) expect(line).toBe('600 root');
  });
});
