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
  const payload = readEventPayload(env.GITHUB_EVENT_PATH);
  const serverUrl = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const runUrl = runUrlOf(env, `${serverUrl}/${owner}/${repo}`);
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

/** The event file's JSON, or an empty object when the runner names none. */
function readEventPayload(path: string | undefined): unknown {
  if (!path) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TossError(`cannot read the event payload ${path}: ${(error as Error).message}`);
  }
}

/** The address of this run (and of its attempt, when the runner says which), or undefined outside a run. */
function runUrlOf(env: NodeJS.ProcessEnv, repoUrl: string): string | undefined {
  if (!env.GITHUB_RUN_ID) return undefined;
  const attempt = env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : '';
  return `${repoUrl}/actions/runs/${env.GITHUB_RUN_ID}${attempt}`;
}
