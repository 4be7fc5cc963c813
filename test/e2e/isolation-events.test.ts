/**
 * The action run as the runner runs it, with real webhook
 * payloads of events that can carry a stranger's code (a fork's workflow_run, issue_comment,
 * pull_request_review, merge_group, pull_request_target) and inputs asking to deploy or remove
 * pr-88 or to sweep. Each run exits 0 with a notice naming the event and why it is refused, outputs
 * action=skipped, makes no request to GitHub, writes no key file, and never logs in to the server
 * (sshd's "Accepted publickey" lines are counted before and after). A trusted event with the same
 * inputs does log in, so the count is shown to see the action's logins.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { example, forkPr, forkWorkflowRun } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, makeApp, sshLogins } from './support/app.js';
import { type ActionRun, type ActionRunOptions, runAction } from './support/runner.js';

let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;
const DEFAULT_HEAD = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  // A checkout that would deploy: a valid toss.json naming this host, the host's key and trust.
  app = await makeApp(host, {}, `https://github.com/${fake.repository}.git`);
  fake.addPull({ number: 88, state: 'open', headSha: DEFAULT_HEAD, headRef: 'changes' });
});
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});
afterEach(() => {
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
});

/** Real payloads, each derived by setting only the fields listed beside it. */
const EVENTS: [
  string,
  () => Pick<ActionRunOptions, 'eventName' | 'payload' | 'ref' | 'sha'>,
  string,
][] = [
  [
    "workflow_run after a fork's pull request run",
    () => ({
      eventName: 'workflow_run',
      payload: forkWorkflowRun('mallory', 'pwn'),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    "a fork's pull request run included",
  ],
  [
    'issue_comment "/deploy" on pull request 88',
    () => {
      // Sets: issue.number, comment.body.
      const payload = example('issue_comment', 'created');
      payload.issue.number = 88;
      payload.comment.body = '/deploy';
      return { eventName: 'issue_comment', payload, ref: 'refs/heads/master', sha: DEFAULT_HEAD };
    },
    'anyone who can comment starts it',
  ],
  [
    'pull_request_review on pull request 88',
    () => {
      // Sets: pull_request.number.
      const payload = example('pull_request_review', 'submitted');
      payload.pull_request.number = 88;
      return {
        eventName: 'pull_request_review',
        payload,
        ref: 'refs/pull/88/merge',
        sha: 'b'.repeat(40),
      };
    },
    'anyone who can comment on a pull request starts it',
  ],
  [
    'merge_group',
    () => {
      const payload = example('merge_group', 'checks_requested');
      return {
        eventName: 'merge_group',
        payload,
        ref: payload.merge_group.head_ref,
        sha: payload.merge_group.head_sha,
      };
    },
    'queued pull requests that are not merged yet',
  ],
  [
    "pull_request_target of a fork's pull request 88",
    () => {
      // Sets: number, pull_request.number (and the fork fields forkPr lists).
      const payload = forkPr(example('pull_request', 'opened'), 'mallory');
      payload.number = 88;
      payload.pull_request.number = 88;
      return {
        eventName: 'pull_request_target',
        payload,
        ref: 'refs/heads/master',
        sha: DEFAULT_HEAD,
      };
    },
    "gives a fork's code the repository's secrets",
  ],
];

const INPUTS: Record<string, string>[] = [
  { command: 'deploy', environment: 'pr-88' },
  { command: 'remove', environment: 'pr-88' },
  { command: 'sweep' },
];

function run(
  workspace: string,
  event: Pick<ActionRunOptions, 'eventName' | 'payload' | 'ref' | 'sha'>,
  inputs: Record<string, string>,
): Promise<ActionRun> {
  return runAction({
    workspace,
    apiUrl: fake.url,
    repository: fake.repository,
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      ...inputs,
    },
    ...event,
  });
}

const log = (r: ActionRun) => `${r.stdout}\n${r.stderr}`;

describe('events that can carry a stranger’s code', () => {
  it('control: a trusted event with the same inputs logs in to the server', async () => {
    const before = await sshLogins(host);
    const dispatch = await run(
      app.dir,
      {
        eventName: 'workflow_dispatch',
        payload: example('workflow_dispatch'),
        ref: 'refs/heads/master',
      },
      { command: 'remove', environment: 'pr-88' },
    );
    expect(dispatch.code, log(dispatch)).toBe(0);
    expect(log(dispatch)).toContain('nothing to remove');
    expect(await sshLogins(host)).toBeGreaterThan(before);
  });

  // Every event with deploy; remove and sweep on two of them (the unit table crosses them all).
  const cases = EVENTS.flatMap(([title, event, why], i) =>
    (i < 2 ? INPUTS : INPUTS.slice(0, 1)).map(
      (inputs) => [title, JSON.stringify(inputs), event, inputs, why] as const,
    ),
  );
  it.each(cases)(
    '%s with %s: exit 0, a notice saying why, no login, no GitHub call',
    async (_title, _shown, event, inputs, why) => {
      const logins = await sshLogins(host);
      const requests = fake.requests.length;
      const payload = event();
      const r = await run(app.dir, payload, inputs);
      expect(r.code, log(r)).toBe(0);
      expect(r.outputs).toEqual({ action: 'skipped' });
      const notices = r.stdout.split('\n').filter((l) => l.startsWith('::notice::'));
      expect(notices, r.stdout).toHaveLength(1);
      expect(notices[0]).toContain(
        `toss: skipped: ${payload.eventName} events never deploy or remove, whatever the inputs: `,
      );
      expect(notices[0]).toContain(why);
      expect(r.summary).toContain('Skipped: ');
      expect(log(r)).not.toMatch(/::error|deploying|Upload|lock/i);
      expect(fake.requests.length).toBe(requests);
      expect(readdirSync(r.runnerTemp).filter((f) => f.startsWith('toss-'))).toEqual([]);
      expect(await sshLogins(host), 'a refused event logged in').toBe(logins);
    },
  );

  it('is refused before the checkout is read: a toss.json that does not parse changes nothing', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'toss-broken-'));
    writeFileSync(join(broken, 'toss.json'), '{ "app": ');
    const logins = await sshLogins(host);
    const [, event] = EVENTS[0]!;
    const r = await run(broken, event(), {
      command: 'deploy',
      environment: 'pr-88',
      'lock-wait': 'soon',
    });
    expect(r.code, log(r)).toBe(0);
    expect(r.stdout).toMatch(/::notice::toss: skipped: workflow_run events never deploy or remove/);
    expect(await sshLogins(host)).toBe(logins);
  });

  it('the server has no trace of pr-88', async () => {
    expect((await host.exec(['test', '-e', '/srv/hello/pr-88'])).code).not.toBe(0);
    const units = await host.exec([
      'sh',
      '-c',
      'ls /etc/systemd/system | grep -c "^toss-hello" || true',
    ]);
    expect(units.stdout.trim()).toBe('0');
  });
});
