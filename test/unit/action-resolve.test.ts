import { describe, expect, it } from 'vitest';
import {
  environmentForBranch,
  matchBranch,
  PREVIEW_TARGET,
  targetForBranch,
} from '../../src/action/branch-match.js';
import {
  EventPayloadError,
  type Resolution,
  type ResolveInputs,
  type RunEvent,
  resolveRun,
} from '../../src/action/resolve.js';
import {
  branchToPreviewName,
  ENV_NAME_MAX_LENGTH,
  ENV_NAME_PATTERN,
  isPrEnvName,
} from '../../src/config/env-name.js';
import type { TossConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import {
  branchPush,
  branchPushExample,
  deletedForkPr,
  deletePayload,
  example,
  forkPr,
  mergedClose,
  type Payload,
  schedulePayload,
  tagPush,
} from '../support/webhook-events.js';

// GITHUB_SHA of a pull_request run is the merge commit, which must never be deployed.
const MERGE_SHA = 'b'.repeat(40);
// GITHUB_SHA of delete, schedule and dispatch runs: the head of the default branch (or dispatched ref).
const RUN_SHA = 'c'.repeat(40);
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n';
const MAPPED = { main: 'production', develop: 'staging', 'feature/*': 'preview' };

type Config = Pick<TossConfig, 'branches'>;

// The run as the runner describes each event (GITHUB_REF, GITHUB_SHA).
const on = {
  push: (payload: Payload<'push'>): RunEvent => ({
    name: 'push',
    payload,
    ref: payload.ref,
    sha: payload.after,
  }),
  pr: (payload: Payload<'pull_request'>, name = 'pull_request'): RunEvent => ({
    name,
    payload,
    ref: `refs/pull/${payload.pull_request.number}/merge`,
    sha: MERGE_SHA,
  }),
  delete: (payload: Payload<'delete'>): RunEvent => ({
    name: 'delete',
    payload,
    ref: `refs/heads/${payload.repository.default_branch}`,
    sha: RUN_SHA,
  }),
  dispatch: (payload: Payload<'workflow_dispatch'>, ref = payload.ref): RunEvent => ({
    name: 'workflow_dispatch',
    // Sets: ref, as a dispatch on another ref would.
    payload: { ...payload, ref },
    ref,
    sha: RUN_SHA,
  }),
  schedule: (): RunEvent => ({
    name: 'schedule',
    payload: schedulePayload(),
    ref: 'refs/heads/main',
    sha: RUN_SHA,
  }),
};

const opened = () => example('pull_request', 'opened');
const closed = () => example('pull_request', 'closed');
const masterPush = () => branchPushExample();
const dispatch = (branch: 'main' | 'master' = 'master') =>
  example('workflow_dispatch', (p) => p.ref === `refs/heads/${branch}`);
const HEAD_SHA = opened().pull_request.head.sha;

function inputs(over: Partial<ResolveInputs> = {}): ResolveInputs {
  return { command: 'auto', environment: '', sshKey: KEY, ...over };
}

function resolve(event: RunEvent, over: Partial<ResolveInputs> = {}, config: Config = {}) {
  return resolveRun(event, inputs(over), config);
}

function reasonOf(resolution: Resolution): string {
  if (resolution.kind !== 'skip') throw new Error(`expected a skip, got ${resolution.kind}`);
  return resolution.reason;
}

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('matchBranch', () => {
  it.each<[string, string, boolean]>([
    ['main', 'main', true],
    ['main', 'main2', false],
    ['main', 'xmain', false],
    ['main', 'Main', false],
    ['feature/*', 'feature/x', true],
    ['feature/*', 'feature/x/y', false],
    ['feature/*', 'feature', false],
    ['feature/*', 'features/x', false],
    ['feature/**', 'feature/x', true],
    ['feature/**', 'feature/x/y/z', true],
    ['feature/**', 'feature', false],
    ['**', 'a/b/c', true],
    ['*', 'main', true],
    ['*', 'a/b', false],
    ['release-*', 'release-1.2', true],
    ['release-*', 'release/1', false],
    ['*-hotfix', 'urgent-hotfix', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'a/b/c', false],
    ['a**c', 'a/b/c', true],
    ['feature/*/wip', 'feature/x/wip', true],
    ['feature/*/wip', 'feature/x/y/wip', false],
    ['feature/**/wip', 'feature/x/y/wip', true],
    ['***', 'a/b', true],
    // Every character but `*` is itself, so regex metacharacters match literally.
    ['v1.0', 'v1x0', false],
    ['v1.0', 'v1.0', true],
    ['fix+(a)', 'fix+(a)', true],
    ['[ab]', 'a', false],
  ])('%j against %j → %s', (pattern, branch, expected) => {
    expect(matchBranch(pattern, branch)).toBe(expected);
  });

  it('stays fast on patterns full of stars (no backtracking)', () => {
    const started = performance.now();
    expect(matchBranch('*a'.repeat(120), `${'a'.repeat(250)}b`)).toBe(false);
    expect(matchBranch('**a'.repeat(80), `${'a/'.repeat(120)}b`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('environmentForBranch', () => {
  it.each<[Record<string, string> | undefined, string, string, string | undefined]>([
    [undefined, 'main', 'main', 'production'],
    [undefined, 'master', 'master', 'production'],
    [undefined, 'main', 'master', undefined],
    [undefined, 'docs', 'main', undefined],
    [MAPPED, 'main', 'main', 'production'],
    [MAPPED, 'develop', 'main', 'staging'],
    [MAPPED, 'feature/login', 'main', branchToPreviewName('feature/login')],
    [MAPPED, 'feature/a/b', 'main', undefined],
    [MAPPED, 'hotfix', 'main', undefined],
    // With a map, the default branch deploys only if the map says so.
    [{ develop: 'staging' }, 'main', 'main', undefined],
    [{}, 'main', 'main', undefined],
    // First match in object order wins.
    [
      { 'feature/special': 'staging', 'feature/*': 'preview' },
      'feature/special',
      'main',
      'staging',
    ],
    [
      { 'feature/*': 'preview', 'feature/special': 'staging' },
      'feature/special',
      'main',
      branchToPreviewName('feature/special'),
    ],
    [{ '**': 'preview' }, 'a/b', 'main', branchToPreviewName('a/b')],
    [{ qa: PREVIEW_TARGET }, 'qa', 'main', 'qa'],
  ])('%j: %j (default %j) → %j', (branches, branch, defaultBranch, expected) => {
    expect(environmentForBranch(branches, branch, defaultBranch)).toBe(expected);
  });

  it('says whether the environment is a preview owned by the branch', () => {
    expect(targetForBranch(MAPPED, 'feature/x', 'main')).toEqual({
      pattern: 'feature/*',
      value: 'preview',
      environment: 'feature-x-217d2bf5',
      preview: true,
    });
    expect(targetForBranch(MAPPED, 'develop', 'main')?.preview).toBe(false);
    expect(targetForBranch(undefined, 'main', 'main')).toMatchObject({
      environment: 'production',
      preview: false,
    });
  });

  it.each<[Record<string, string>, string, string]>([
    [{ main: 'Prod!' }, 'main', 'toss.json: branches.main: expected an environment name'],
    [{ 'feature/*': 'pr-7' }, 'feature/x', 'toss.json: branches["feature/*"]: expected'],
    [{ '*': 'a--b' }, 'docs', 'got "a--b"'],
  ])('rejects the mapped value of %j without rewriting it', (branches, branch, message) => {
    const error = configErrorOf(() => environmentForBranch(branches, branch, 'main'));
    expect(error.message).toContain(message);
  });

  it('never validates values of entries that do not match', () => {
    expect(environmentForBranch({ other: 'Bad!', main: 'production' }, 'main', 'main')).toBe(
      'production',
    );
  });
});

describe('resolveRun: what each event resolves to, on real payloads', () => {
  const prTarget = { environment: 'pr-2', pr: 2 };

  it.each<[string, () => RunEvent, Config, Resolution]>([
    [
      'pull_request opened → deploy pr-<n>',
      () => on.pr(opened()),
      {},
      { kind: 'deploy', ...prTarget, ref: 'refs/heads/changes', sha: HEAD_SHA },
    ],
    [
      'pull_request synchronize → deploy pr-<n>',
      () => on.pr(example('pull_request', 'synchronize')),
      {},
      { kind: 'deploy', ...prTarget, ref: 'refs/heads/changes', sha: HEAD_SHA },
    ],
    [
      'pull_request reopened → deploy pr-<n>',
      () => on.pr(example('pull_request', 'reopened')),
      {},
      { kind: 'deploy', ...prTarget, ref: 'refs/heads/changes', sha: HEAD_SHA },
    ],
    [
      'pull_request closed, not merged → remove pr-<n>',
      () => on.pr(closed()),
      {},
      { kind: 'remove', ...prTarget },
    ],
    [
      'pull_request closed, merged → remove pr-<n>',
      () => on.pr(mergedClose(closed())),
      {},
      { kind: 'remove', ...prTarget },
    ],
    [
      'push to the default branch, no branches map → production',
      () => on.push(masterPush()),
      {},
      {
        kind: 'deploy',
        environment: 'production',
        ref: 'refs/heads/master',
        sha: masterPush().after,
      },
    ],
    [
      'push to main mapped to production',
      () => on.push(branchPush(masterPush(), 'main')),
      { branches: MAPPED },
      {
        kind: 'deploy',
        environment: 'production',
        ref: 'refs/heads/main',
        sha: masterPush().after,
      },
    ],
    [
      'push to develop mapped to staging',
      () => on.push(branchPush(masterPush(), 'develop')),
      { branches: MAPPED },
      {
        kind: 'deploy',
        environment: 'staging',
        ref: 'refs/heads/develop',
        sha: masterPush().after,
      },
    ],
    [
      'push to feature/login mapped to "preview" → a preview named after the branch',
      () => on.push(branchPush(masterPush(), 'feature/login')),
      { branches: MAPPED },
      {
        kind: 'deploy',
        environment: 'feature-login-df7c7aeb',
        ref: 'refs/heads/feature/login',
        sha: masterPush().after,
        branch: 'feature/login',
      },
    ],
    [
      'delete of a branch mapped to a preview → remove that preview',
      () => on.delete(deletePayload(example('delete'), 'feature/x')),
      { branches: MAPPED },
      { kind: 'remove', environment: 'feature-x-217d2bf5', branch: 'feature/x' },
    ],
    [
      'workflow_dispatch without environment → the branch map (default branch → production)',
      () => on.dispatch(dispatch()),
      {},
      {
        kind: 'deploy',
        environment: 'production',
        ref: 'refs/heads/master',
        sha: RUN_SHA,
      },
    ],
    [
      'workflow_dispatch on main (the other real example) with a map',
      () => on.dispatch(dispatch('main')),
      { branches: MAPPED },
      {
        kind: 'deploy',
        environment: 'production',
        ref: 'refs/heads/main',
        sha: RUN_SHA,
      },
    ],
    ['schedule → sweep', () => on.schedule(), {}, { kind: 'sweep' }],
  ])('%s', (_title, event, config, expected) => {
    expect(resolve(event(), {}, config)).toEqual(expected);
  });

  it('deploys the pull request head commit, never the merge commit GITHUB_SHA names', () => {
    const resolution = resolve(on.pr(opened()));
    expect(resolution).toMatchObject({ kind: 'deploy', sha: HEAD_SHA });
    expect(HEAD_SHA).not.toBe(MERGE_SHA);
  });

  it.each<[string, () => RunEvent, Config, string]>([
    [
      'push to an unmapped branch, no map',
      () => on.push(branchPush(masterPush(), 'docs')),
      {},
      'push to docs: no environment is mapped to this branch in toss.json branches (default: only the default branch master deploys, to production)',
    ],
    [
      'push to an unmapped branch, with a map',
      () => on.push(branchPush(masterPush(), 'docs')),
      { branches: MAPPED },
      'push to docs: no environment is mapped to this branch in toss.json branches',
    ],
    [
      'push of a real tag',
      () => on.push(example('push', (p) => p.ref.startsWith('refs/tags/') && !p.deleted)),
      {},
      'push to refs/tags/simple-tag: tags are not deployed (set the environment input to deploy them)',
    ],
    [
      'push of a derived tag, even with a catch-all map',
      () => on.push(tagPush(masterPush())),
      { branches: { '**': 'preview' } },
      'push to refs/tags/v1.0.0: tags are not deployed (set the environment input to deploy them)',
    ],
    [
      'a real deleted push (of a tag)',
      () => on.push(example('push', (p) => p.deleted)),
      {},
      "push deleting refs/tags/simple-tag: nothing to deploy (the delete event removes a branch's preview)",
    ],
    [
      'a deleted push of a mapped branch',
      () =>
        on.push(
          branchPush(
            example('push', (p) => p.deleted),
            'feature/x',
          ),
        ),
      { branches: MAPPED },
      "push deleting refs/heads/feature/x: nothing to deploy (the delete event removes a branch's preview)",
    ],
    [
      'pull_request labeled',
      () => on.pr(example('pull_request', 'labeled')),
      {},
      'pull request #2 labeled: only opened, synchronize and reopened deploy pr-2, and closed removes it',
    ],
    [
      'pull_request from a fork, opened',
      () => on.pr(forkPr(opened())),
      {},
      'pull request #2 from a fork (someone/Hello-World): forks never deploy, their runs get no secrets',
    ],
    [
      'pull_request from a fork, synchronize',
      () => on.pr(forkPr(example('pull_request', 'synchronize'))),
      {},
      'pull request #2 from a fork (someone/Hello-World): forks never deploy, their runs get no secrets',
    ],
    [
      'pull_request from a fork, merged',
      () => on.pr(mergedClose(forkPr(closed()))),
      {},
      'pull request #2 from a fork (someone/Hello-World): forks never deploy, so there is no preview to remove',
    ],
    [
      'pull_request from a deleted fork, closed',
      () => on.pr(deletedForkPr(closed())),
      {},
      'pull request #2 from a deleted fork: forks never deploy, so there is no preview to remove',
    ],
    [
      'delete of a real tag',
      () => on.delete(example('delete')),
      { branches: MAPPED },
      'delete of tag simple-tag: tags have no environments',
    ],
    [
      'delete of main, mapped to production',
      () => on.delete(deletePayload(example('delete'), 'main')),
      { branches: MAPPED },
      'delete of branch main: it maps to production, which the action never removes',
    ],
    [
      'delete of the default branch, no map',
      () => on.delete(deletePayload(example('delete'), 'master')),
      {},
      'delete of branch master: it maps to production, which the action never removes',
    ],
    [
      'delete of a branch mapped to a named environment',
      () => on.delete(deletePayload(example('delete'), 'develop')),
      { branches: MAPPED },
      'delete of branch develop: it maps to staging, a named environment, which a branch delete never removes (from a terminal: toss remove staging)',
    ],
    [
      'delete of an unmapped branch',
      () => on.delete(deletePayload(example('delete'), 'docs')),
      { branches: MAPPED },
      'delete of branch docs: no preview is mapped to this branch in toss.json branches',
    ],
    [
      'workflow_dispatch on an unmapped branch',
      () => on.dispatch(dispatch(), 'refs/heads/docs'),
      { branches: MAPPED },
      'workflow_dispatch on docs: no environment is mapped to this branch in toss.json branches; set the environment input to choose one',
    ],
    [
      'workflow_dispatch on a tag',
      () => on.dispatch(dispatch(), 'refs/tags/v1.0.0'),
      {},
      'workflow_dispatch on refs/tags/v1.0.0: only branches map to environments (set the environment input to choose one)',
    ],
    [
      'pull_request_target',
      () => on.pr(opened(), 'pull_request_target'),
      {},
      "pull_request_target events never deploy or remove, whatever the inputs: it gives a fork's code the repository's secrets, which hands the server to strangers (use pull_request; fork pull requests are skipped there)",
    ],
    [
      'an event toss does not resolve',
      () => ({
        name: 'release',
        payload: example('release'),
        ref: 'refs/tags/v0.0.1',
        sha: RUN_SHA,
      }),
      {},
      'release events never deploy or remove, whatever the inputs: toss acts only on push, same-repository pull_request, delete, workflow_dispatch and schedule, whose code someone with write access chose (to deploy a tag, run on its push with the environment input)',
    ],
  ])('skips %s, saying why', (_title, event, config, reason) => {
    expect(resolve(event(), {}, config)).toEqual({ kind: 'skip', reason });
  });

  it('other pull_request actions skip too', () => {
    for (const action of ['assigned', 'converted_to_draft', 'ready_for_review', 'unlabeled']) {
      expect(reasonOf(resolve(on.pr(example('pull_request', action))))).toContain(
        `pull request #2 ${action}: only opened`,
      );
    }
  });

  it('a same-repository pull request in a repository that is itself a fork deploys', () => {
    // Sets: head.repo.fork, base.repo.fork: the flag describes the repository, not the PR.
    const payload = opened();
    payload.pull_request.head.repo!.fork = true;
    payload.pull_request.base.repo.fork = true;
    expect(resolve(on.pr(payload))).toMatchObject({ kind: 'deploy', environment: 'pr-2' });
  });
});

describe('resolveRun: inputs', () => {
  it.each<[string, () => RunEvent, Partial<ResolveInputs>, Config, Resolution]>([
    [
      'command sweep on a push',
      () => on.push(masterPush()),
      { command: 'sweep' },
      {},
      { kind: 'sweep' },
    ],
    [
      'command sweep on a pull request',
      () => on.pr(opened()),
      { command: 'sweep' },
      {},
      { kind: 'sweep' },
    ],
    [
      'command deploy on a labeled pull request',
      () => on.pr(example('pull_request', 'labeled')),
      { command: 'deploy' },
      {},
      {
        kind: 'deploy',
        environment: 'pr-2',
        pr: 2,
        ref: 'refs/heads/changes',
        sha: HEAD_SHA,
      },
    ],
    [
      'command remove on an opened pull request',
      () => on.pr(opened()),
      { command: 'remove' },
      {},
      { kind: 'remove', environment: 'pr-2', pr: 2 },
    ],
    [
      'command deploy with an environment on a schedule',
      () => on.schedule(),
      { command: 'deploy', environment: 'production' },
      {},
      { kind: 'deploy', environment: 'production', ref: 'refs/heads/main', sha: RUN_SHA },
    ],
    [
      'command remove with an environment on a delete of a named environment',
      () => on.delete(deletePayload(example('delete'), 'develop')),
      { command: 'remove', environment: 'staging' },
      { branches: MAPPED },
      { kind: 'remove', environment: 'staging' },
    ],
    [
      "environment overrides a pull request; staging is not the PR's, so no pr for a sweep to claim",
      () => on.pr(opened()),
      { environment: 'staging' },
      {},
      { kind: 'deploy', environment: 'staging', ref: 'refs/heads/changes', sha: HEAD_SHA },
    ],
    [
      "environment naming the PR's own pr-<n> keeps the pull request",
      () => on.pr(opened()),
      { environment: 'pr-2' },
      {},
      { kind: 'deploy', environment: 'pr-2', pr: 2, ref: 'refs/heads/changes', sha: HEAD_SHA },
    ],
    [
      'environment overrides a branch preview; the branch no longer owns it',
      () => on.push(branchPush(masterPush(), 'feature/x')),
      { environment: 'qa' },
      { branches: MAPPED },
      { kind: 'deploy', environment: 'qa', ref: 'refs/heads/feature/x', sha: masterPush().after },
    ],
    [
      'environment overrides a mapped push',
      () => on.push(masterPush()),
      { environment: 'staging' },
      {},
      {
        kind: 'deploy',
        environment: 'staging',
        ref: 'refs/heads/master',
        sha: masterPush().after,
      },
    ],
    [
      'environment deploys a tag push',
      () => on.push(tagPush(masterPush())),
      { environment: 'production' },
      {},
      {
        kind: 'deploy',
        environment: 'production',
        ref: 'refs/tags/v1.0.0',
        sha: masterPush().after,
      },
    ],
    [
      'workflow_dispatch with the environment input',
      () => on.dispatch(dispatch(), 'refs/heads/docs'),
      { environment: 'qa' },
      { branches: MAPPED },
      {
        kind: 'deploy',
        environment: 'qa',
        ref: 'refs/heads/docs',
        sha: RUN_SHA,
      },
    ],
    [
      'environment on a schedule is ignored: schedules sweep',
      () => on.schedule(),
      { environment: 'staging' },
      {},
      { kind: 'sweep' },
    ],
  ])('%s', (_title, event, over, config, expected) => {
    expect(resolve(event(), over, config)).toEqual(expected);
  });

  it.each<[string, () => RunEvent, Partial<ResolveInputs>]>([
    ['a fork', () => on.pr(forkPr(opened())), { command: 'deploy', environment: 'production' }],
    ['a deleted fork', () => on.pr(deletedForkPr(opened())), { command: 'deploy' }],
    ['a fork', () => on.pr(forkPr(opened())), { command: 'sweep' }],
    [
      'pull_request_target',
      () => on.pr(opened(), 'pull_request_target'),
      { command: 'deploy', environment: 'pr-2' },
    ],
    [
      'an event toss does not resolve',
      () => ({
        name: 'release',
        payload: example('release'),
        ref: 'refs/tags/v0.0.1',
        sha: RUN_SHA,
      }),
      { command: 'deploy', environment: 'production' },
    ],
    [
      'a deleted push',
      () => on.push(example('push', (p) => p.deleted)),
      { command: 'deploy', environment: 'production' },
    ],
  ])('no input lifts the skip of %s (%j)', (_title, event, over) => {
    expect(resolve(event(), over).kind).toBe('skip');
  });

  it('rejects an invalid environment input, never rewriting it, on any event', () => {
    for (const event of [on.push(masterPush()), on.push(tagPush(masterPush())), on.schedule()]) {
      const error = configErrorOf(() => resolve(event, { environment: 'Prod!' }));
      expect(error.problems).toEqual([
        'input environment: expected an environment name (lowercase letters, digits and single dashes, starting with a letter, at most 63 characters), got "Prod!"',
      ]);
    }
  });

  it('refuses a forced command with no environment to act on', () => {
    const error = configErrorOf(() =>
      resolve(on.push(branchPush(masterPush(), 'docs')), { command: 'deploy' }),
    );
    expect(error.message).toMatch(
      /^input command: deploy needs an environment, and this push event resolves to none \(push to docs: .*\): set the environment input$/,
    );
    expect(() => resolve(on.schedule(), { command: 'remove' })).toThrow(ConfigError);
    expect(() =>
      resolve(
        on.delete(deletePayload(example('delete'), 'main')),
        { command: 'remove' },
        {
          branches: MAPPED,
        },
      ),
    ).toThrow(/needs an environment/);
  });

  it('never removes production', () => {
    expect(() => resolve(on.push(masterPush()), { command: 'remove' })).toThrow(
      'input command: remove: production is never removed by the action (from a terminal: toss remove production --force)',
    );
    expect(resolve(on.pr(closed()), { environment: 'production' })).toEqual({
      kind: 'skip',
      reason:
        'pull_request: production is never removed by the action (from a terminal: toss remove production --force)',
    });
    const deleteMain = on.delete(deletePayload(example('delete'), 'main'));
    expect(resolve(deleteMain, { environment: 'production' }).kind).toBe('skip');
  });

  it.each<[string, () => RunEvent, Partial<ResolveInputs>, Config, string]>([
    ['a push that would deploy', () => on.push(masterPush()), {}, {}, 'nothing deployed'],
    ['a pull request that would deploy', () => on.pr(opened()), {}, {}, 'nothing deployed'],
    ['a closed pull request', () => on.pr(closed()), {}, {}, 'nothing removed'],
    [
      'a branch delete',
      () => on.delete(deletePayload(example('delete'), 'feature/x')),
      {},
      { branches: MAPPED },
      'nothing removed',
    ],
    ['a schedule', () => on.schedule(), {}, {}, 'nothing swept'],
    [
      'command deploy',
      () => on.schedule(),
      { command: 'deploy', environment: 'qa' },
      {},
      'nothing deployed',
    ],
  ])('skips %s without ssh-key, as a notice', (_title, event, over, config, done) => {
    for (const sshKey of ['', ' \n']) {
      const reason = reasonOf(resolve(event(), { ...over, sshKey }, config));
      expect(reason).toMatch(/^no ssh-key input: nothing /);
      expect(reason).toContain(done);
    }
  });

  it('without ssh-key, says the real reason for runs that would not deploy anyway', () => {
    const noKey = { sshKey: '' };
    expect(reasonOf(resolve(on.pr(forkPr(opened())), noKey))).toContain('from a fork');
    expect(reasonOf(resolve(on.push(tagPush(masterPush())), noKey))).toContain('tags are not');
    expect(reasonOf(resolve(on.pr(opened(), 'pull_request_target'), noKey))).toContain(
      'never deploy or remove',
    );
  });
});

describe('resolveRun: hostile branch names', () => {
  const names = [
    '$(id)',
    '`id`',
    `it's"quoted"`,
    'line\nbreak',
    'tab\there',
    'pr-42',
    'PR-42',
    'pr-7/x',
    'production',
    'feature/$(rm -rf ~)',
    '-leading',
    '..',
    'ünïcode-ß',
    '\u202eevil',
    'x'.repeat(250),
    'a-1b2c3d4e',
  ];

  it.each(names)('%j: a slugged preview, never pr-<n> or production', (branch) => {
    const config = { branches: { '**': 'preview' } };
    const pushed = resolve(on.push(branchPush(masterPush(), branch)), {}, config);
    const deleted = resolve(on.delete(deletePayload(example('delete'), branch)), {}, config);
    for (const resolution of [pushed, deleted]) {
      if (resolution.kind !== 'deploy' && resolution.kind !== 'remove') {
        throw new Error(`expected deploy or remove, got ${resolution.kind}`);
      }
      const { environment } = resolution;
      expect(environment).toMatch(ENV_NAME_PATTERN);
      expect(environment.length).toBeLessThanOrEqual(ENV_NAME_MAX_LENGTH);
      expect(isPrEnvName(environment)).toBe(false);
      expect(environment).not.toBe('production');
      expect(environment).toBe(branchToPreviewName(branch));
      expect(resolution.branch).toBe(branch);
    }
    expect(pushed.kind).toBe('deploy');
    expect(deleted.kind).toBe('remove');
  });

  it.each(names.filter((n) => /[^\x21-\x7e]/.test(n)))(
    '%j appears escaped in a notice, on one line',
    (branch) => {
      const reason = reasonOf(resolve(on.push(branchPush(masterPush(), branch)), {}, {}));
      expect(reason).toMatch(/^push to "/);
      expect(reason).not.toMatch(/[\n\t\u202e]/);
    },
  );

  it('an unmapped hostile branch is skipped, a mapped value still validated', () => {
    const event = on.push(branchPush(masterPush(), '$(id)'));
    expect(reasonOf(resolve(event, {}, { branches: MAPPED }))).toContain('push to $(id):');
    expect(() => resolve(event, {}, { branches: { '*': 'Prod!' } })).toThrow(ConfigError);
  });
});

describe('resolveRun: malformed payloads', () => {
  it.each<[string, () => RunEvent, string]>([
    [
      'a push without ref',
      () => {
        const { ref: _ref, ...payload } = masterPush();
        return { name: 'push', payload, ref: 'refs/heads/master', sha: RUN_SHA };
      },
      'the push event payload (GITHUB_EVENT_PATH) is not what GitHub sends: ref: ',
    ],
    [
      'a pull request without head.sha',
      () => {
        const payload = opened() as { pull_request: { head: { sha?: string } } };
        delete payload.pull_request.head.sha;
        return { name: 'pull_request', payload, ref: 'refs/pull/2/merge', sha: MERGE_SHA };
      },
      'pull_request.head.sha: ',
    ],
    [
      'a delete with an unknown ref_type',
      () => {
        const payload = { ...example('delete'), ref_type: 'commit' };
        return { name: 'delete', payload, ref: 'refs/heads/master', sha: RUN_SHA };
      },
      'ref_type: ',
    ],
    [
      'no payload at all',
      () => ({ name: 'workflow_dispatch', payload: null, ref: 'refs/heads/main', sha: RUN_SHA }),
      'the workflow_dispatch event payload (GITHUB_EVENT_PATH) is not what GitHub sends: (payload): ',
    ],
  ])('%s: a clear error', (_title, event, message) => {
    expect(() => resolve(event())).toThrow(EventPayloadError);
    expect(() => resolve(event())).toThrow(message);
  });
});
