/**
 * Only push, same-repository pull_request, delete, schedule and
 * workflow_dispatch deploy or remove. Every other event is refused whatever the inputs say, with
 * a reason naming the event, on real webhook payloads (or payloads derived from them).
 */
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { describe, expect, it } from 'vitest';
import {
  type ResolveInputs,
  type RunEvent,
  refusedEvent,
  resolveRun,
} from '../../src/action/resolve.js';
import {
  branchPushExample,
  example,
  forkPr,
  forkWorkflowRun,
  schedulePayload,
} from '../support/webhook-events.js';

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n';
// GITHUB_SHA of runs on the default branch (workflow_run, issue_comment, pull_request_target).
const DEFAULT_HEAD = 'c'.repeat(40);
const MERGE_SHA = 'b'.repeat(40);

/** Each refused event as the runner describes it (GITHUB_REF and GITHUB_SHA as GitHub sets them). */
const REFUSED: [string, () => RunEvent, string][] = [
  [
    "workflow_run after a fork's pull_request run",
    () => ({
      name: 'workflow_run',
      payload: forkWorkflowRun(),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    "a fork's pull request run included",
  ],
  [
    'workflow_run after a same-repository run',
    () => ({
      name: 'workflow_run',
      payload: example('workflow_run', 'completed'),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    "a fork's pull request run included",
  ],
  [
    'issue_comment',
    () => ({
      name: 'issue_comment',
      payload: example('issue_comment', 'created'),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    'anyone who can comment starts it',
  ],
  [
    'pull_request_review',
    () => ({
      name: 'pull_request_review',
      payload: example('pull_request_review', 'submitted'),
      ref: 'refs/pull/2/merge',
      sha: MERGE_SHA,
    }),
    'anyone who can comment on a pull request starts it',
  ],
  [
    'pull_request_review_comment',
    () => ({
      name: 'pull_request_review_comment',
      payload: example('pull_request_review_comment', 'created'),
      ref: 'refs/pull/2/merge',
      sha: MERGE_SHA,
    }),
    'anyone who can comment on a pull request starts it',
  ],
  [
    'merge_group',
    () => {
      const payload = example('merge_group', 'checks_requested');
      return {
        name: 'merge_group',
        payload,
        ref: payload.merge_group.head_ref,
        sha: payload.merge_group.head_sha,
      };
    },
    'queued pull requests that are not merged yet',
  ],
  [
    "pull_request_target of a fork's pull request",
    () => ({
      name: 'pull_request_target',
      payload: forkPr(example('pull_request', 'opened')),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    "gives a fork's code the repository's secrets",
  ],
  [
    'pull_request_target of a same-repository pull request',
    () => ({
      name: 'pull_request_target',
      payload: example('pull_request', 'closed'),
      ref: 'refs/heads/master',
      sha: DEFAULT_HEAD,
    }),
    "gives a fork's code the repository's secrets",
  ],
];

/** What a workflow author (or an attacker editing a comment-triggered workflow's inputs) could pass. */
const INPUTS: Partial<ResolveInputs>[] = [
  {},
  { command: 'deploy' },
  { command: 'deploy', environment: 'pr-88' },
  { command: 'deploy', environment: 'production' },
  { environment: 'pr-88' },
  { environment: 'production' },
  { command: 'remove' },
  { command: 'remove', environment: 'pr-88' },
  { command: 'sweep' },
  // A bad input is not even looked at: the run is refused, not failed.
  { command: 'deploy', environment: 'Prod!' },
  { command: 'deploy', environment: 'pr-88', sshKey: '' },
];

const CASES = REFUSED.flatMap(([title, event, why]) =>
  INPUTS.map((over) => [title, JSON.stringify(over), event, over, why] as const),
);

describe('refused events', () => {
  it.each(CASES)('%s with %s: skipped, saying why', (_title, _shown, event, over, why) => {
    const run = event();
    const resolution = resolveRun(
      run,
      { command: 'auto', environment: '', sshKey: KEY, ...over },
      {
        branches: { '*': 'preview', master: 'production' },
      },
    );
    expect(resolution.kind).toBe('skip');
    const reason = resolution.kind === 'skip' ? resolution.reason : '';
    expect(
      reason.startsWith(`${run.name} events never deploy or remove, whatever the inputs: `),
    ).toBe(true);
    expect(reason).toContain(why);
  });

  const definitions = createRequire(import.meta.url)(
    '@octokit/webhooks-examples/api.github.com/index.json',
  ) as WebhookDefinition[];
  const TRUSTED = ['push', 'pull_request', 'delete', 'workflow_dispatch', 'schedule'];
  const others = definitions
    .filter((d) => !TRUSTED.includes(d.name) && d.examples.length > 0)
    .map((d) => d.name);

  it('the table covers every event GitHub documents besides the five trusted ones', () => {
    // Guards the loop below against an empty or shrunken example set.
    expect(others.length).toBeGreaterThan(40);
    expect(others).toEqual(
      expect.arrayContaining(['workflow_run', 'issue_comment', 'merge_group', 'release']),
    );
  });

  it('every other event GitHub sends is refused with command deploy and an environment', () => {
    for (const name of others) {
      const payload = definitions.find((d) => d.name === name)!.examples[0];
      const resolution = resolveRun(
        { name, payload, ref: 'refs/heads/master', sha: DEFAULT_HEAD },
        { command: 'deploy', environment: 'pr-88', sshKey: KEY },
        {},
      );
      expect(resolution, name).toEqual({
        kind: 'skip',
        reason: expect.stringMatching(new RegExp(`^${name} events never deploy or remove`)),
      });
    }
  });
});

describe('refusedEvent', () => {
  it.each(['push', 'pull_request', 'delete', 'workflow_dispatch', 'schedule'])(
    '%s is trusted',
    (name) => {
      expect(refusedEvent(name)).toBeUndefined();
    },
  );

  it.each([
    'Push',
    'push ',
    'push\n',
    'pull_requests',
    '',
    'workflow_dispatch;schedule',
    '__proto__',
    'constructor',
  ])('%j is refused: names that only look trusted are not', (name) => {
    expect(refusedEvent(name)).toMatch(
      / events never deploy or remove, whatever the inputs: toss acts only on push, same-repository pull_request, delete, workflow_dispatch and schedule, /,
    );
  });

  it('quotes an event name that is not plain text', () => {
    expect(refusedEvent('push\n::error::x')).toMatch(/^"push\\n::error::x" events never/);
  });

  it('the trusted events still resolve through inputs (the gate is not a blanket refusal)', () => {
    const push = branchPushExample();
    expect(
      resolveRun(
        { name: 'push', payload: push, ref: push.ref, sha: push.after },
        { command: 'deploy', environment: 'pr-88', sshKey: KEY },
        {},
      ),
    ).toMatchObject({ kind: 'deploy', environment: 'pr-88' });
    expect(
      resolveRun(
        { name: 'schedule', payload: schedulePayload(), ref: 'refs/heads/main', sha: DEFAULT_HEAD },
        { command: 'auto', environment: '', sshKey: KEY },
        {},
      ),
    ).toEqual({ kind: 'sweep' });
  });
});
