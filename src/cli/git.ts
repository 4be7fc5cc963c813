/**
 * What the CLI asks git about the checkout it runs in. Light on purpose (child_process only): a
 * deploy starts these while the code that talks to the server is still loading.
 */
import { execFile } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import { promisify } from 'node:util';
import { TossError } from '../errors.js';
import type { Actor } from '../pipeline/request.js';

const run = promisify(execFile);

/** Runs git in `cwd`: its trimmed output, or undefined when it fails or prints nothing. */
export async function git(cwd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', args, { cwd });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Who runs toss here, for state and locks: git's user.name (else the OS user) and the host. */
export async function localActor(projectDir: string): Promise<Actor> {
  const name = (await git(projectDir, ['config', 'user.name'])) ?? userInfo().username;
  return { by: `${name} (${hostname()})` };
}

/** The repository's identity for a deploy: origin URL, commit and branch of the checkout. */
export async function repositoryInfo(
  projectDir: string,
): Promise<{ origin: string; commit: string; branch?: string }> {
  const [origin, commitId, branch] = await Promise.all([
    git(projectDir, ['remote', 'get-url', 'origin']),
    git(projectDir, ['rev-parse', 'HEAD']),
    git(projectDir, ['symbolic-ref', '--short', '-q', 'HEAD']),
  ]);
  if (!origin) {
    throw new TossError(`${projectDir} is not a git checkout with an "origin" remote`, {
      hint: 'toss records the repository it deploys from; run it inside a clone (git remote add origin URL)',
    });
  }
  const commit = commitId ?? 'uncommitted';
  return { origin, commit, ...(branch ? { branch } : {}) };
}
