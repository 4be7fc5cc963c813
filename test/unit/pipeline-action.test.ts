/**
 * The action's main step, run(deps), in this process with the fake server and the fake GitHub
 * (which checks every call against GitHub's OpenAPI description): the runner's environment
 * variables and real webhook payloads in, the GitHub calls, the job outputs and the server's
 * commands out, for a pull request's deploy and removal, a failed deploy, and skipped events.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/action/main.js';
import type { OpenServer } from '../../src/pipeline/server.js';
import {
  type FakeGitHub,
  fakeGitHubStats,
  startFakeGitHub,
} from '../support/fake-github/server.js';
import { FakeHost } from '../support/fake-server.js';
import { branchPush, branchPushExample, example, tagPush } from '../support/webhook-events.js';

const HEAD_SHA = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';
const MARKER = '<!-- toss:hello -->';
const SECRET = 'action-input-secret-value';
const RUNNER_PREFIXES = ['GITHUB_', 'INPUT_', 'STATE_', 'RUNNER_'];

let fake: FakeGitHub;
let host: FakeHost;
let workspace: string;
/** the job's files, shared by the tests (@actions/core keeps the summary's path once read) */
let files: string;
let saved: Record<string, string | undefined>;
let stdout: string[];

beforeAll(async () => {
  // The first call in a process extracts GitHub's description (about a second).
  await fakeGitHubStats();
  files = mkdtempSync(join(tmpdir(), 'toss-action-files-'));
}, 30_000);

beforeEach(async () => {
  // The runner's variables are this test's alone: whatever the process had is put aside.
  saved = {};
  for (const key of Object.keys(process.env)) {
    if (RUNNER_PREFIXES.some((p) => key.startsWith(p))) {
      saved[key] = process.env[key];
      delete process.env[key];
    }
  }
  fake = await startFakeGitHub();
  host = new FakeHost();
  workspace = mkdtempSync(join(tmpdir(), 'toss-action-workspace-'));
  writeFileSync(
    join(workspace, 'toss.json'),
    JSON.stringify({
      app: 'hello',
      server: 'root@203.0.113.10',
      startCommand: 'node server.js',
      deployScript: ['npm ci'],
      tls: 'internal',
    }),
  );
  stdout = [];
  // Workflow commands (groups, masks, notices) go to stdout: kept for the tests, not printed.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const key of Object.keys(process.env)) {
    if (RUNNER_PREFIXES.some((p) => key.startsWith(p))) delete process.env[key];
  }
  for (const [key, value] of Object.entries(saved)) {
    if (value !== undefined) process.env[key] = value;
  }
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
  expect(host.unknown).toEqual([]);
  expect(host.closed).toBe(host.connections);
  await fake.close();
});

afterAll(() => {
  vi.restoreAllMocks();
});

/** `name<<DELIM … DELIM` blocks and `name=value` lines of GITHUB_OUTPUT / GITHUB_STATE. */
function fileCommands(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]!);
    if (!heredoc) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!);
    out[heredoc[1]!] = value.join('\n');
  }
  return out;
}

interface ActionRun {
  error: unknown;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  /** how many GitHub requests had been made when each server connection opened */
  requestsAtConnect: number[];
  /** the GitHub requests of this run, `<operationId>` each */
  api: string[];
}

/** Runs the main step as the runner would, for one event. */
async function action(eventName: string, payload: unknown, ref = 'refs/pull/11/merge') {
  const name = `run-${fake.requests.length}-${host.calls.length}`;
  const event = join(files, `${name}.json`);
  writeFileSync(event, JSON.stringify(payload));
  const output = join(files, `${name}.output`);
  const state = join(files, `${name}.state`);
  const summary = join(files, 'summary');
  for (const file of [output, state, summary]) writeFileSync(file, '');
  Object.assign(process.env, {
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: fake.repository,
    GITHUB_REF: ref,
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octocat',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: fake.url,
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: output,
    GITHUB_STATE: state,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: files,
    'INPUT_SSH-KEY': '-----BEGIN OPENSSH PRIVATE KEY-----\nnever-used-by-the-fake\n',
    'INPUT_KNOWN-HOSTS': '',
    'INPUT_GITHUB-TOKEN': 'ghs_fake_installation_token',
    'INPUT_LOCK-WAIT': '0',
    INPUT_SECRETS: `API_TOKEN=${SECRET}\n`,
  });
  const before = fake.requests.length;
  const requestsAtConnect: number[] = [];
  const connect: OpenServer = (login, app) => {
    requestsAtConnect.push(fake.requests.length - before);
    return host.connect(login, app);
  };
  const error = await run({ connect }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return {
    error,
    outputs: fileCommands(output),
    state: fileCommands(state),
    summary: readFileSync(summary, 'utf8'),
    requestsAtConnect,
    api: fake.requests.slice(before).map((r) => r.operationId ?? `${r.method} ${r.path}`),
  } satisfies ActionRun;
}

/** A real example payload with only its pull request number and head commit changed. */
function prEvent(action: string, number: number) {
  const payload = example('pull_request', action);
  payload.number = number;
  payload.pull_request.number = number;
  payload.pull_request.head.sha = HEAD_SHA;
  return payload;
}

async function openPull(number: number) {
  fake.addPull({ number, state: 'open', headSha: HEAD_SHA, headRef: 'changes' });
  return action('pull_request', prEvent('opened', number), `refs/pull/${number}/merge`);
}

/** The body of the one comment toss keeps on a pull request. */
function stickyComment(number: number): string {
  const ours = fake.comments(number).filter((c) => c.body.includes(MARKER));
  expect(ours).toHaveLength(1);
  return ours[0]!.body;
}

/**
 * The secrets input is masked in the log and travels on stdin into the environment's overrides,
 * never on a command line.
 */
function expectSecretsInputMaskedAndOnStdin(): void {
  expect(stdout.join('')).toContain(`::add-mask::${SECRET}`);
  expect(host.find('write overrides')[0]!.stdin).toContain(SECRET);
  for (const command of host.commands()) expect(command.argv.join(' ')).not.toContain(SECRET);
}

describe('the action with a fake server and a fake GitHub', () => {
  it('pull request opened: comment, deployment in progress, deploy pr-11, success, comment live', async () => {
    const run = await openPull(11);
    expect(run.error).toBeUndefined();

    const url = 'https://pr-11.hello.203-0-113-10.sslip.io/';
    expect(run.outputs).toMatchObject({ environment: 'pr-11', action: 'deployed', url });
    expect(run.outputs.release).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(run.outputs['deployment-id']).toMatch(/^\d+$/);

    expect(run.api).toEqual([
      // The sticky comment says "deploying" (a workflow token cannot read /user).
      'users/get-authenticated',
      'issues/list-comments',
      'issues/create-comment',
      // The deployment, in progress.
      'repos/create-deployment',
      'repos/create-deployment-status',
      // After the deploy: success, and the same comment edited to say live.
      'repos/create-deployment-status',
      'issues/list-comments',
      'issues/update-comment',
    ]);
    // The server is reached while GitHub is told (its round trips do not hold the deploy up);
    // the sweep after the last report.
    expect(run.requestsAtConnect[0]).toBeLessThan(5);
    expect(run.requestsAtConnect[1]).toBe(8);

    const deployment = fake.deployments().at(-1)!;
    expect(String(deployment.id)).toBe(run.outputs['deployment-id']);
    expect(deployment).toMatchObject({
      environment: 'pr-11',
      ref: HEAD_SHA,
      transient_environment: true,
      production_environment: false,
    });
    expect(fake.statuses(deployment.id).map((s) => [s.state, s.environment_url])).toEqual([
      ['in_progress', ''],
      ['success', url],
    ]);
    expect(stickyComment(11)).toEqual(
      expect.stringMatching(new RegExp(`Live[\\s\\S]*${run.outputs.release}`)),
    );
    expect(stickyComment(11)).toContain(url);

    // On the server: the deploy under the lock, then the sweep reads state and keeps pr-11.
    const environment = host.state('hello')!.environments['pr-11']!;
    expect(environment).toMatchObject({ release: run.outputs.release, commit: HEAD_SHA, pr: 11 });
    expect(host.find('switch current')).toHaveLength(1);
    expect(host.calls.filter((c) => c.connection === 2).map((c) => `${c.kind} ${c.op}`)).toEqual([
      'state read',
    ]);
    expectSecretsInputMaskedAndOnStdin();

    // What the post step gets, and the job summary.
    expect(run.state).toMatchObject({ environment: 'pr-11', mainFinished: 'true' });
    expect(run.state.lockToken).toMatch(/^[0-9a-f]{32}$/);
    expect(run.summary).toContain('pr-11');
    expect(run.summary).toContain('deployed');
  });

  it('a run that changes nothing: action unchanged, the comment says so, nothing on the server changes', async () => {
    const first = await openPull(11);
    expect(first.error).toBeUndefined();
    const writesBefore = host.calls.filter((c) => c.wrote).length;
    // The same head pushed again (a re-run, or a push that only touched what is not uploaded).
    const again = await action('pull_request', prEvent('synchronize', 11), 'refs/pull/11/merge');
    expect(again.error).toBeUndefined();
    expect(again.outputs).toMatchObject({
      environment: 'pr-11',
      action: 'unchanged',
      release: first.outputs.release,
      url: first.outputs.url,
    });
    // Reads only: no upload, no lock, nothing written.
    expect(host.calls.filter((c) => c.wrote)).toHaveLength(writesBefore);
    expect(host.find('switch current')).toHaveLength(1);
    expect(stickyComment(11)).toContain(
      `\`${first.outputs.release}\`, unchanged: same files, toss.json and variables, so nothing was redeployed`,
    );
    const deployment = fake.deployments().at(-1)!;
    expect(fake.statuses(deployment.id).map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(again.summary).toContain('unchanged');
  });

  it('pull request closed: pr-11 removed on the server, comment says removed, deployment inactive', async () => {
    expect((await openPull(11)).error).toBeUndefined();
    fake.updatePull(11, { state: 'closed' });
    const connectionsBefore = host.connections;
    const callsBefore = host.calls.length;

    const run = await action('pull_request', prEvent('closed', 11));
    expect(run.error).toBeUndefined();
    expect(run.outputs).toMatchObject({ environment: 'pr-11', action: 'removed' });

    expect(run.api).toEqual([
      'users/get-authenticated',
      'issues/list-comments',
      'issues/update-comment',
      'repos/list-deployments',
      'repos/create-deployment-status',
    ]);
    // GitHub hears of the removal once the server is done; then the sweep.
    expect(run.requestsAtConnect).toEqual([0, 5]);
    expect(host.connections - connectionsBefore).toBe(2);
    const removal = host.calls
      .slice(callsBefore)
      .flatMap((c) => c.commands.filter((x) => x.ran).map((x) => x.label));
    expect(removal).toEqual([
      'test env dir',
      'list databases',
      'remove site',
      'teardown units',
      'remove environment',
    ]);
    expect(host.state('hello')!.environments['pr-11']).toBeUndefined();
    expect(host.lockHolder('hello')).toBeNull();
    expect(host.running.size).toBe(0);

    expect(stickyComment(11)).toContain('Removed');
    const deployment = fake.deployments().find((d) => d.environment === 'pr-11')!;
    expect(fake.statuses(deployment.id).map((s) => s.state)).toEqual([
      'in_progress',
      'success',
      'inactive',
    ]);
  });

  it('a deploy whose health check fails: deployment failure, comment names the step', async () => {
    host.failHealthCheck();
    const run = await openPull(12);
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toContain('did not pass its health check');
    expect(run.outputs).toMatchObject({ environment: 'pr-12', action: 'skipped' });

    expect(run.api).toEqual([
      'users/get-authenticated',
      'issues/list-comments',
      'issues/create-comment',
      'repos/create-deployment',
      'repos/create-deployment-status',
      'repos/create-deployment-status',
      'issues/list-comments',
      'issues/update-comment',
    ]);
    // No sweep after a failure.
    expect(run.requestsAtConnect).toHaveLength(1);
    expect(run.requestsAtConnect[0]).toBeLessThan(5);
    const deployment = fake.deployments().at(-1)!;
    expect(fake.statuses(deployment.id).map((s) => [s.state, s.description])).toEqual([
      ['in_progress', ''],
      ['failure', 'failed: Health check'],
    ]);
    expect(stickyComment(12)).toContain('Deploy failed');
    expect(stickyComment(12)).toContain('Health check');
    expect(host.find('install site')).toEqual([]);
    expect(host.state('hello')!.environments['pr-12']).toBeUndefined();
    expect(run.state.mainFinished).toBe('true');
  });

  it.each([
    [
      'a push to a branch no environment is mapped to',
      'refs/heads/docs',
      'docs',
      'push to docs: no environment is mapped to this branch',
    ],
    [
      'a tag push',
      'refs/tags/v1.0.0',
      undefined,
      'push to refs/tags/v1.0.0: tags are not deployed',
    ],
  ])('%s is skipped: no server connection, no GitHub call', async (_what, ref, branch, why) => {
    const push = branchPushExample();
    const payload = branch === undefined ? tagPush(push) : branchPush(push, branch);
    const run = await action('push', payload, ref);
    expect(run.error).toBeUndefined();
    expect(run.outputs).toEqual({ action: 'skipped' });
    expect(host.connections).toBe(0);
    expect(run.api).toEqual([]);
    expect(stdout.join('')).toContain(`::notice::toss: skipped: ${why}`);
    expect(run.summary).toContain('Skipped');
  });
});
