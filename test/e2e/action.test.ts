/**
 * The GitHub Action as the runner runs it: the committed dist/index.js under Node 24,
 * real webhook payloads, a real host, and a fake GitHub that validates every call against
 * GitHub's OpenAPI description.
 */
import { readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { branchPush, example, forkPr, mergedClose, tagPush } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName } from './support/app.js';
import { type ActionRun, type ActionRunOptions, runAction } from './support/runner.js';

let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;
const runs: ActionRun[] = [];
const SECRET = `tok-${Math.random().toString(36).slice(2)}-secret`;
const MARKER = '<!-- toss:hello -->';

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  app = await makeApp(host, {}, 'https://github.com/Codertocat/Hello-World.git');
});
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});
afterEach(() => {
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
});

/** A real example payload with only its PR number (and the head SHA) changed. */
function prEvent(action: string, number: number, sha = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821') {
  const payload = structuredClone(example('pull_request', action));
  payload.number = number;
  payload.pull_request.number = number;
  payload.pull_request.head.sha = sha;
  return payload;
}

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

const log = (run: ActionRun) => `${run.stdout}\n${run.stderr}`;

describe('toss/deploy in a workflow', () => {
  it('PR opened: pr-<n> serves over HTTPS, outputs, one comment, a successful deployment', async () => {
    fake.addPull({
      number: 11,
      state: 'open',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      headRef: 'changes',
    });
    const run = await action({ eventName: 'pull_request', payload: prEvent('opened', 11) });
    expect(run.code, log(run)).toBe(0);
    const name = sslipName(host, 'hello', 'pr-11');
    expect(run.outputs).toMatchObject({
      environment: 'pr-11',
      action: 'deployed',
      url: `https://${name}/`,
    });
    expect(run.outputs.release).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(run.outputs['deployment-id']).toMatch(/^\d+$/);
    expect((await fetchSite(host, name)).body).toBe('Hello from toss!\n');

    const comments = fake.comments(11).filter((c) => c.body.includes(MARKER));
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`https://${name}/`);
    expect(comments[0]!.body).toContain('Live');

    const deployment = fake
      .deployments()
      .find((d) => String(d.id) === run.outputs['deployment-id'])!;
    expect(deployment).toMatchObject({
      environment: 'pr-11',
      ref: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      transient_environment: true,
    });
    const states = fake.statuses(deployment.id).map((s) => s.state);
    expect(states).toEqual(['in_progress', 'success']);
    expect(fake.statuses(deployment.id)[1]!.environment_url).toBe(`https://${name}/`);
    expect(run.summary).toContain('pr-11');
  });

  it('PR synchronize with over 100 other comments: the same comment is edited, none added', async () => {
    for (let i = 0; i < 120; i++)
      fake.addComment(11, { body: `review comment ${i}`, login: 'reviewer' });
    const before = fake.comments(11).find((c) => c.body.includes(MARKER))!;
    await app.commit('message.txt', 'Synchronized\n');
    const run = await action({
      eventName: 'pull_request',
      payload: prEvent('synchronize', 11, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'),
    });
    expect(run.code, log(run)).toBe(0);
    const ours = fake.comments(11).filter((c) => c.body.includes(MARKER));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.id).toBe(before.id);
    expect(ours[0]!.body).toContain(run.outputs.release);
    expect(fake.comments(11)).toHaveLength(121);
    expect((await fetchSite(host, sslipName(host, 'hello', 'pr-11'))).body).toBe('Synchronized\n');
  });

  it.each([
    ['not merged', false],
    ['merged', true],
  ])(
    'PR closed (%s): removed on the server, comment says removed, deployment inactive',
    async (_l, merged) => {
      const number = merged ? 13 : 11;
      if (merged) {
        fake.addPull({
          number,
          state: 'open',
          headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
          headRef: 'changes',
        });
        const opened = await action({
          eventName: 'pull_request',
          payload: prEvent('opened', number),
        });
        expect(opened.code, log(opened)).toBe(0);
      }
      fake.updatePull(number, { state: 'closed', ...(merged ? { merged: true } : {}) });
      const closedPayload = prEvent('closed', number);
      const run = await action({
        eventName: 'pull_request',
        payload: merged ? mergedClose(closedPayload) : closedPayload,
      });
      expect(run.code, log(run)).toBe(0);
      expect(run.outputs.action).toBe('removed');
      expect((await host.exec(['test', '-e', `/srv/hello/pr-${number}`])).code).not.toBe(0);
      const comment = fake.comments(number).find((c) => c.body.includes(MARKER))!;
      expect(comment.body).toContain('Removed');
      const deployments = fake.deployments().filter((d) => d.environment === `pr-${number}`);
      expect(deployments.length).toBeGreaterThan(0);
      for (const d of deployments) expect(fake.statuses(d.id).at(-1)!.state).toBe('inactive');
    },
  );

  it('push to the default branch deploys production; unmapped branch and tag are skipped', async () => {
    const push = branchPush(
      example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
      'master',
    );
    const prod = await action({ eventName: 'push', payload: push, ref: 'refs/heads/master' });
    expect(prod.code, log(prod)).toBe(0);
    expect(prod.outputs).toMatchObject({ environment: 'production', action: 'deployed' });
    expect((await fetchSite(host, sslipName(host, 'hello', 'production'))).status).toBe(200);

    const other = await action({
      eventName: 'push',
      payload: branchPush(push, 'docs'),
      ref: 'refs/heads/docs',
    });
    expect(other.code, log(other)).toBe(0);
    expect(other.outputs.action).toBe('skipped');
    expect(other.stdout).toContain('::notice::');

    const tag = await action({
      eventName: 'push',
      payload: tagPush(push),
      ref: 'refs/tags/v1.0.0',
    });
    expect(tag.code, log(tag)).toBe(0);
    expect(tag.outputs.action).toBe('skipped');
  });

  it('workflow_dispatch with an environment input deploys that environment', async () => {
    const run = await runAction({
      workspace: app.dir,
      apiUrl: fake.url,
      repository: fake.repository,
      eventName: 'workflow_dispatch',
      payload: example('workflow_dispatch'),
      ref: 'refs/heads/master',
      inputs: {
        'ssh-key': host.key,
        'known-hosts': host.knownHostsLines.join('\n'),
        'github-token': 'ghs_fake',
        environment: 'staging',
      },
    });
    runs.push(run);
    expect(run.code, log(run)).toBe(0);
    expect(run.outputs).toMatchObject({ environment: 'staging', action: 'deployed' });
    expect((await fetchSite(host, sslipName(host, 'hello', 'staging'))).status).toBe(200);
  });

  it('a fork PR without ssh-key is skipped with a notice, exit 0', async () => {
    const run = await runAction({
      workspace: app.dir,
      apiUrl: fake.url,
      repository: fake.repository,
      eventName: 'pull_request',
      payload: forkPr(prEvent('opened', 21)),
      inputs: { 'github-token': 'ghs_fake' },
    });
    runs.push(run);
    expect(run.code, log(run)).toBe(0);
    expect(run.outputs.action).toBe('skipped');
    expect(run.stdout).toMatch(/::notice::.*fork/);
  });

  it('a failing deploy exits non-zero; the comment shows the failed step and run link; deployment failure', async () => {
    fake.addPull({
      number: 31,
      state: 'open',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      headRef: 'changes',
    });
    app.configure({ deployScript: ['node build.js', 'echo build broke; exit 4'] });
    try {
      const run = await action({ eventName: 'pull_request', payload: prEvent('opened', 31) });
      expect(run.code).not.toBe(0);
      expect(run.stdout).toMatch(/::error.*Run deployScript/);
      const comment = fake.comments(31).find((c) => c.body.includes(MARKER))!;
      expect(comment.body).toContain('Deploy failed');
      expect(comment.body).toContain('Run deployScript');
      expect(comment.body).toContain('https://github.com/Codertocat/Hello-World/actions/runs/4242');
      const deployment = fake.deployments().find((d) => d.environment === 'pr-31')!;
      expect(fake.statuses(deployment.id).at(-1)!.state).toBe('failure');
    } finally {
      app.configure({ deployScript: ['node build.js'] });
    }
  });

  it('main killed mid-deploy, then post: lock released, nothing left running, live release serving, key gone', async () => {
    app.configure({ deployScript: ['node build.js', 'echo long step started; sleep 60'] });
    try {
      const push = branchPush(
        example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
        'master',
      );
      const main = await action({
        eventName: 'push',
        payload: push,
        ref: 'refs/heads/master',
        killWhen: (out) => out.includes('long step started'),
      });
      expect(main.signal ?? main.code).toBeTruthy();
      const locked = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
      expect(locked.lock).not.toBeNull();
      const post = await action({
        eventName: 'push',
        payload: push,
        ref: 'refs/heads/master',
        state: main.state,
        runnerTemp: main.runnerTemp,
      });
      expect(post.code, log(post)).toBe(0);
      const state = JSON.parse(await inHost(host, ['cat', '/srv/hello/.toss/state.json']));
      expect(state.lock).toBeNull();
      const running = await host.exec([
        'systemctl',
        'is-active',
        'toss-run-hello-production.service',
      ]);
      expect(running.stdout.trim()).not.toBe('active');
      expect((await fetchSite(host, sslipName(host, 'hello', 'production'))).status).toBe(200);
      expect(readdirSync(main.runnerTemp).filter((f) => f.startsWith('toss-'))).toEqual([]);
    } finally {
      app.configure({ deployScript: ['node build.js'] });
    }
  });

  it('sweeps a preview whose pull request closed without a closed event', async () => {
    fake.addPull({
      number: 41,
      state: 'open',
      headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      headRef: 'changes',
    });
    const opened = await action({ eventName: 'pull_request', payload: prEvent('opened', 41) });
    expect(opened.code, log(opened)).toBe(0);
    fake.updatePull(41, { state: 'closed' });
    const push = branchPush(
      example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
      'master',
    );
    const run = await action({ eventName: 'push', payload: push, ref: 'refs/heads/master' });
    expect(run.code, log(run)).toBe(0);
    expect((await host.exec(['test', '-e', '/srv/hello/pr-41'])).code).not.toBe(0);
  });

  it('without known-hosts fails printing the unverified host key line it scanned', async () => {
    const push = branchPush(
      example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
      'master',
    );
    const run = await runAction({
      workspace: app.dir,
      apiUrl: fake.url,
      repository: fake.repository,
      eventName: 'push',
      payload: push,
      ref: 'refs/heads/master',
      inputs: { 'ssh-key': host.key, 'github-token': 'ghs_fake' },
    });
    runs.push(run);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('UNVERIFIED');
    const blobs = host.knownHostsLines.map((l) => l.split(' ')[2]!);
    expect(
      blobs.some((b) => run.stdout.includes(b)),
      run.stdout,
    ).toBe(true);
    // The key stays in memory: nothing of toss's lands in RUNNER_TEMP.
    expect(readdirSync(run.runnerTemp).filter((f) => f.startsWith('toss-'))).toEqual([]);
  });

  it('never prints key material or secret values (runner mask commands aside)', () => {
    const keyLines = host.key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const run of runs) {
      const visible = `${run.stdout}\n${run.stderr}\n${run.summary}`
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n');
      expect(visible).not.toContain(SECRET);
      for (const line of keyLines) expect(visible).not.toContain(line);
    }
  });
});
