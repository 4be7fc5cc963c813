/**
 * The GitHub Action with production on two servers behind a front (docs/multi-server.md): one
 * workflow run deploys to both, with the same key and known-hosts; a server that cannot be
 * reached fails the run before anything changed, reported on the deployment; previews stay on
 * the first server. The committed dist/index.js under Node 24, real webhook payloads, two real
 * hosts on the harness's private network, and the fake GitHub that validates every call.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { branchPush, example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import { connectHosts, type PrivateNetwork } from './harness/private-network.js';
import { run as runHere } from './harness/proc.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName } from './support/app.js';
import { type ActionRun, runAction } from './support/runner.js';

const APP = 'hello';
const FRONT_PORT = 2080;
const SECRET = `tok-${Math.random().toString(36).slice(2)}-fleet`;

let hosts: TestHost[] = [];
let net: PrivateNetwork;
let fake: FakeGitHub;
let app: AppCheckout;
const h = (i: number) => hosts[i]!;
const front = () => h(0);

beforeAll(async () => {
  hosts = await bootHosts(2);
  net = await connectHosts(hosts);
  fake = await startFakeGitHub();
  app = await makeApp(
    front(),
    {
      servers: [{ server: `root@${h(1).ip}`, private: net.addressOf(h(1)) }],
      front: { private: net.addressOf(front()), port: FRONT_PORT },
    },
    'https://github.com/Codertocat/Hello-World.git',
  );
}, 300_000);
afterAll(async () => {
  await fake?.close();
  net?.teardown();
  await Promise.all(hosts.map((x) => x.shutdown()));
});
afterEach(() => {
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
});

function action(eventName: string, payload: unknown, ref: string): Promise<ActionRun> {
  return runAction({
    workspace: app.dir,
    apiUrl: fake.url,
    repository: fake.repository,
    eventName,
    payload,
    ref,
    inputs: {
      'ssh-key': front().key,
      'known-hosts': hosts.flatMap((x) => x.knownHostsLines).join('\n'),
      'github-token': 'ghs_fake_installation_token',
      'lock-wait': '60',
      secrets: `API_TOKEN=${SECRET}\n`,
    },
  });
}

const log = (r: ActionRun) => `${r.stdout}\n${r.stderr}`;
const mainPush = () =>
  branchPush(
    example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted),
    'master',
  );

async function stateOf(host: TestHost): Promise<{
  lock: unknown;
  environments: Record<string, { release: string }>;
}> {
  return JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
}

/** What the second server's own private site answers, asked from the front. */
async function servedBySecond(): Promise<string> {
  const url = `http://${net.addressOf(h(1))}:${FRONT_PORT}/`;
  const answer = await front().exec(['curl', '-fsS', '--max-time', '5', url]);
  expect(answer.code, answer.stderr).toBe(0);
  return answer.stdout;
}

describe('toss/deploy with production on two servers', () => {
  it('a push to the default branch deploys production to both servers in one run', async () => {
    await app.commit('message.txt', 'fleet one\n');
    const run = await action('push', mainPush(), 'refs/heads/master');
    expect(run.code, log(run)).toBe(0);
    const name = sslipName(front(), APP, 'production');
    expect(run.outputs).toMatchObject({
      environment: 'production',
      action: 'deployed',
      url: `https://${name}/`,
    });
    // Both servers run the release the outputs name, with the run's secrets.
    for (const host of hosts) {
      const state = await stateOf(host);
      expect(state.environments.production?.release).toBe(run.outputs.release);
      expect(state.lock).toBeNull();
      const envFile = `/srv/${APP}/production/env/${run.outputs.release}.env`;
      expect(await inHost(host, ['cat', envFile])).toContain(`API_TOKEN="${SECRET}"`);
    }
    expect(await servedBySecond()).toBe('fleet one\n');
    expect((await fetchSite(front(), name)).body).toBe('fleet one\n');
    // Step lines name their server.
    expect(run.stdout).toContain(`[root@${h(1).ip}]`);
    const deployment = fake
      .deployments()
      .find((d) => String(d.id) === run.outputs['deployment-id'])!;
    expect(fake.statuses(deployment.id).map((s) => s.state)).toEqual(['in_progress', 'success']);
  });

  it('a server that cannot be reached fails the run before anything changed, and the deployment says so', async () => {
    const before = await Promise.all(hosts.map(stateOf));
    await app.commit('message.txt', 'fleet two\n');
    await runHere(['ip', 'link', 'set', h(1).hostVeth, 'down']);
    let run: ActionRun;
    try {
      run = await action('push', mainPush(), 'refs/heads/master');
    } finally {
      await runHere(['ip', 'link', 'set', h(1).hostVeth, 'up']);
    }
    expect(run.code, log(run)).not.toBe(0);
    expect(log(run)).toContain(`cannot reach root@${h(1).ip}`);
    expect(log(run)).toContain('nothing changed on any server');
    const after = await Promise.all(hosts.map(stateOf));
    for (const [i, state] of after.entries()) {
      expect(state.environments.production?.release).toBe(
        before[i]!.environments.production?.release,
      );
      expect(state.lock).toBeNull();
    }
    expect((await fetchSite(front(), sslipName(front(), APP, 'production'))).body).toBe(
      'fleet one\n',
    );
    const latest = fake.deployments().at(-1)!;
    expect(latest.environment).toBe('production');
    expect(fake.statuses(latest.id).at(-1)!.state).toMatch(/^(failure|error)$/);
  });

  it('a pull request preview goes to the first server only', async () => {
    const sha = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
    fake.addPull({ number: 31, state: 'open', headSha: sha, headRef: 'changes' });
    const payload = structuredClone(example('pull_request', 'opened'));
    payload.number = 31;
    payload.pull_request.number = 31;
    payload.pull_request.head.sha = sha;
    const run = await action('pull_request', payload, 'refs/pull/31/merge');
    expect(run.code, log(run)).toBe(0);
    expect(run.outputs).toMatchObject({ environment: 'pr-31', action: 'deployed' });
    expect((await fetchSite(front(), sslipName(front(), APP, 'pr-31'))).status).toBe(200);
    expect((await stateOf(front())).environments['pr-31']).toBeDefined();
    expect((await stateOf(h(1))).environments['pr-31']).toBeUndefined();
    expect(run.stdout).not.toContain(`[root@${h(1).ip}]`);
  });
});
