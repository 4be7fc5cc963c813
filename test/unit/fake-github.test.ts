/**
 * Self-test of the fake GitHub (test/support/fake-github), driven by the same
 * octokit the action uses (`@actions/github`).
 */
import { getOctokit } from '@actions/github';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeGitHub,
  fakeGitHubStats,
  startFakeGitHub,
} from '../support/fake-github/server.js';

const HEAD_SHA = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';

describe('fake GitHub', { timeout: 20_000 }, () => {
  let fake: FakeGitHub;
  let octokit: ReturnType<typeof getOctokit>;
  let repo: { owner: string; repo: string };

  beforeAll(async () => {
    // The first call in a process extracts GitHub's description (~0.5-1.5 s).
    const stats = await fakeGitHubStats();
    expect(stats.extractBytes).toBeLessThan(200_000);
  }, 60_000);

  beforeEach(async () => {
    fake = await startFakeGitHub();
    octokit = getOctokit('ghs_fake', { baseUrl: fake.url });
    repo = { owner: fake.owner, repo: fake.repo };
    fake.addPull({ number: 2, state: 'open', headSha: HEAD_SHA, headRef: 'changes' });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('pages through 150+ comments with Link headers, sorted by id, and edits one', async () => {
    for (let i = 0; i < 150; i++) fake.addComment(2, { body: `foreign ${i}`, login: 'Codertocat' });
    const created = await octokit.rest.issues.createComment({
      ...repo,
      issue_number: 2,
      body: '<!-- toss:web -->\ndeploying',
    });
    expect(created.status).toBe(201);
    expect(created.data.user?.login).toBe('github-actions[bot]');
    expect(created.data.html_url).toMatch(
      /^https:\/\/github\.com\/Codertocat\/Hello-World\/pull\/2#issuecomment-\d+$/,
    );

    const first = await octokit.rest.issues.listComments({ ...repo, issue_number: 2 });
    expect(first.data).toHaveLength(30);
    expect(first.headers.link).toContain(
      `<${fake.url}/repos/Codertocat/Hello-World/issues/2/comments?page=2>; rel="next"`,
    );
    expect(first.headers.link).toContain('page=6>; rel="last"');

    const all = await octokit.paginate(octokit.rest.issues.listComments, {
      ...repo,
      issue_number: 2,
      per_page: 100,
    });
    expect(all).toHaveLength(151);
    const ids = all.map((c) => c.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(all.at(-1)?.id).toBe(created.data.id);
    const pages = fake.requests.filter((r) => r.operationId === 'issues/list-comments');
    expect(pages.map((r) => r.query.page)).toEqual([undefined, undefined, '2']);

    const edited = await octokit.rest.issues.updateComment({
      ...repo,
      comment_id: created.data.id,
      body: '<!-- toss:web -->\nlive',
    });
    expect(edited.data.body).toContain('live');
    expect(fake.comments(2).at(-1)?.body).toBe('<!-- toss:web -->\nlive');
    expect(fake.comments(2)).toHaveLength(151);
    expect(fake.violations).toEqual([]);
  });

  it('flags editing a comment that is not by the token identity', async () => {
    const foreign = fake.addComment(2, { body: '<!-- toss:web --> fake', login: 'mallory' });
    await octokit.rest.issues.updateComment({ ...repo, comment_id: foreign.id, body: 'x' });
    expect(fake.violations).toEqual([
      expect.stringContaining(`edited comment ${foreign.id} by mallory`),
    ]);
  });

  it('creates a deployment and its statuses, with the URLs GitHub returns', async () => {
    const { data: deployment, status } = await octokit.rest.repos.createDeployment({
      ...repo,
      ref: HEAD_SHA,
      environment: 'pr-2',
      transient_environment: true,
      production_environment: false,
      auto_merge: false,
      required_contexts: [],
      description: 'toss preview',
    });
    expect(status).toBe(201);
    if (!('id' in deployment)) throw new Error('expected a deployment');
    expect(deployment).toMatchObject({
      sha: HEAD_SHA,
      ref: HEAD_SHA,
      environment: 'pr-2',
      transient_environment: true,
      production_environment: false,
      creator: { login: 'github-actions[bot]', type: 'Bot' },
      url: `${fake.url}/repos/Codertocat/Hello-World/deployments/${deployment.id}`,
      statuses_url: `${fake.url}/repos/Codertocat/Hello-World/deployments/${deployment.id}/statuses`,
      repository_url: `${fake.url}/repos/Codertocat/Hello-World`,
    });

    const deployment_id = deployment.id;
    await octokit.rest.repos.createDeploymentStatus({
      ...repo,
      deployment_id,
      state: 'in_progress',
    });
    const success = await octokit.rest.repos.createDeploymentStatus({
      ...repo,
      deployment_id,
      state: 'success',
      environment_url: 'https://pr-2.example.com',
      log_url: 'https://github.com/Codertocat/Hello-World/actions/runs/1',
    });
    expect(success.data).toMatchObject({
      state: 'success',
      environment: 'pr-2',
      environment_url: 'https://pr-2.example.com',
      log_url: 'https://github.com/Codertocat/Hello-World/actions/runs/1',
      target_url: 'https://github.com/Codertocat/Hello-World/actions/runs/1',
      deployment_url: deployment.url,
      repository_url: `${fake.url}/repos/Codertocat/Hello-World`,
    });
    await octokit.rest.repos.createDeploymentStatus({ ...repo, deployment_id, state: 'inactive' });

    const listed = await octokit.rest.repos.listDeploymentStatuses({ ...repo, deployment_id });
    expect(listed.data.map((s) => s.state)).toEqual(['inactive', 'success', 'in_progress']);
    expect(fake.statuses(deployment_id).map((s) => s.state)).toEqual([
      'in_progress',
      'success',
      'inactive',
    ]);
    const byEnvironment = await octokit.rest.repos.listDeployments({
      ...repo,
      environment: 'pr-2',
    });
    expect(byEnvironment.data.map((d) => d.id)).toEqual([deployment_id]);
    const other = await octokit.rest.repos.listDeployments({ ...repo, environment: 'production' });
    expect(other.data).toEqual([]);
    expect(fake.deployments()).toHaveLength(1);
    expect(fake.violations).toEqual([]);
  });

  it('answers 409 like GitHub when required_contexts is missing (and flags it)', async () => {
    await expect(
      octokit.rest.repos.createDeployment({
        ...repo,
        ref: HEAD_SHA,
        environment: 'pr-2',
        auto_merge: false,
      }),
    ).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining(`Conflict: Commit status checks failed for ${HEAD_SHA}.`),
    });
    expect(fake.deployments()).toEqual([]);
    expect(fake.violations).toEqual([expect.stringContaining('required_contexts must be []')]);
  });

  it('answers 422 and records a violation for a body of the wrong type', async () => {
    await expect(
      octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...repo,
        issue_number: 2,
        body: 42 as unknown as string,
      }),
    ).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('/requestBody/body must be string'),
    });
    expect(fake.comments(2)).toEqual([]);
    expect(fake.violations).toEqual([
      'invalid request POST /repos/Codertocat/Hello-World/issues/2/comments (issues/create-comment): /requestBody/body must be string',
    ]);
  });

  it('flags body fields GitHub would silently ignore', async () => {
    await octokit.request('POST /repos/{owner}/{repo}/deployments', {
      ...repo,
      ref: HEAD_SHA,
      auto_merge: false,
      required_contexts: [],
      enviroment: 'pr-2',
    });
    expect(fake.violations).toEqual([
      expect.stringContaining('unknown request body field "enviroment"'),
    ]);
  });

  it('refuses any operation the action does not use', async () => {
    await expect(octokit.request('GET /repos/{owner}/{repo}/releases', repo)).rejects.toMatchObject(
      {
        status: 404,
      },
    );
    expect(fake.violations).toEqual([
      'operation not allowed: GET /repos/Codertocat/Hello-World/releases',
    ]);
  });

  it('answers GET /user 403 like a GITHUB_TOKEN, unless userEndpoint is set', async () => {
    await expect(octokit.rest.users.getAuthenticated()).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('Resource not accessible by integration'),
    });
    expect(fake.violations).toEqual([]);

    const open = await startFakeGitHub({ userEndpoint: true, tokenLogin: 'toss-bot' });
    try {
      const client = getOctokit('ghp_fake', { baseUrl: open.url });
      const { data } = await client.rest.users.getAuthenticated();
      expect(data.login).toBe('toss-bot');
      expect(open.violations).toEqual([]);
    } finally {
      await open.close();
    }
  });

  it('requires an Authorization header', async () => {
    const response = await fetch(`${fake.url}/repos/Codertocat/Hello-World/pulls/2`);
    expect(response.status).toBe(401);
    expect(fake.violations).toEqual([expect.stringContaining('no Authorization header')]);
  });

  it('serves pull requests with a state filter', async () => {
    fake.addPull({
      number: 3,
      state: 'closed',
      merged: true,
      headSha: 'a'.repeat(40),
      headRef: 'feat',
    });
    fake.addPull({ number: 4, state: 'closed', headSha: 'b'.repeat(40), headRef: 'old' });
    const pull = await octokit.rest.pulls.get({ ...repo, pull_number: 3 });
    expect(pull.data).toMatchObject({ number: 3, state: 'closed', merged: true });
    expect(pull.data.head.sha).toBe('a'.repeat(40));
    expect(pull.data.merge_commit_sha).not.toBe(pull.data.head.sha);
    const closed = await octokit.paginate(octokit.rest.pulls.list, { ...repo, state: 'closed' });
    expect(closed.map((p) => p.number).sort()).toEqual([3, 4]);
    const open = await octokit.rest.pulls.list({ ...repo });
    expect(open.data.map((p) => p.number)).toEqual([2]);
    await expect(octokit.rest.pulls.get({ ...repo, pull_number: 99 })).rejects.toMatchObject({
      status: 404,
    });
    fake.updatePull(2, { state: 'closed' });
    expect((await octokit.rest.pulls.list({ ...repo })).data).toEqual([]);
    expect(fake.violations).toEqual([]);
  });

  it('marks earlier successful deployments of the environment inactive (auto_inactive)', async () => {
    const old = fake.addDeployment({ ref: 'master', environment: 'staging' });
    fake.addStatus(old.id, { state: 'success', environmentUrl: 'https://staging.example.com' });
    const { data } = await octokit.rest.repos.createDeployment({
      ...repo,
      ref: 'master',
      environment: 'staging',
      auto_merge: false,
      required_contexts: [],
    });
    if (!('id' in data)) throw new Error('expected a deployment');
    await octokit.rest.repos.createDeploymentStatus({
      ...repo,
      deployment_id: data.id,
      state: 'success',
    });
    expect(fake.statuses(old.id).map((s) => s.state)).toEqual(['success', 'inactive']);
    expect(fake.violations).toEqual([]);
  });
});
