import { readFileSync } from 'node:fs';
import { TossError } from '../errors.js';

/** What the GitHub runner tells a step through its environment variables and event file. */
export interface RunnerContext {
  eventName: string;
  payload: unknown;
  ref: string;
  sha: string;
  owner: string;
  repo: string;
  runUrl: string | undefined;
  apiUrl: string | undefined;
  serverUrl: string;
  actor: string;
  workspace: string;
  runnerTemp: string;
}

export function readRunnerContext(env: NodeJS.ProcessEnv = process.env): RunnerContext {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const [owner, repo] = repository.split('/');
  if (!owner || !repo) {
    throw new TossError(
      'GITHUB_REPOSITORY is not set: toss/deploy runs inside a GitHub Actions job',
    );
  }
  let payload: unknown = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8'));
    } catch (error) {
      throw new TossError(
        `cannot read the event payload ${env.GITHUB_EVENT_PATH}: ${(error as Error).message}`,
      );
    }
  }
  const serverUrl = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const runUrl = env.GITHUB_RUN_ID
    ? `${serverUrl}/${owner}/${repo}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
    : undefined;
  return {
    eventName: env.GITHUB_EVENT_NAME ?? '',
    payload,
    ref: env.GITHUB_REF ?? '',
    sha: env.GITHUB_SHA ?? '',
    owner,
    repo,
    runUrl,
    apiUrl: env.GITHUB_API_URL,
    serverUrl,
    actor: env.GITHUB_ACTOR ?? 'github-actions',
    workspace: env.GITHUB_WORKSPACE ?? process.cwd(),
    runnerTemp: env.RUNNER_TEMP ?? '/tmp',
  };
}
