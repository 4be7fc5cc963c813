import { execFile } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { TossConfig } from '../config/schema.js';
import { parseServer } from '../config/server.js';
import { TossError } from '../errors.js';
import type { Actor, Login } from '../pipeline/request.js';
import { resolveSshTarget, type SshTarget } from '../remote/ssh-target.js';

const run = promisify(execFile);

/** Options every command shares. */
export interface CommonOptions {
  config?: string;
  identity?: string;
}

export interface CliContext {
  config: TossConfig;
  configPath: string;
  /** the directory holding toss.json (the repository, or a subdirectory of it) */
  projectDir: string;
  login: Login;
  actor: Actor;
}

/** Runs git in `cwd`: its trimmed output, or undefined when it fails or prints nothing. */
export async function git(cwd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', args, { cwd });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Loads toss.json and resolves how to log in to its server (ssh config, keys, known_hosts). */
export async function loadContext(options: CommonOptions): Promise<CliContext> {
  const configPath = resolve(options.config ?? 'toss.json');
  const config = await loadConfig(configPath);
  const projectDir = dirname(configPath);
  const [target, actor] = await Promise.all([
    resolveServer(config.server, options.identity),
    localActor(projectDir),
  ]);
  return { config, configPath, projectDir, login: loginFrom(target), actor };
}

/** toss.json's `server` resolved the way ssh would: ~/.ssh/config, the key to use, known_hosts. */
export function resolveServer(server: string, identity: string | undefined): Promise<SshTarget> {
  const target = parseServer(server);
  return resolveSshTarget({
    host: target.host,
    ...(target.userGiven ? { user: target.user } : {}),
    ...(target.portGiven ? { port: target.port } : {}),
    ...(identity ? { identity } : {}),
  });
}

/** The login the pipeline uses: the target's own fields, without those only the CLI needs. */
export function loginFrom(target: SshTarget): Login {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    knownHosts: target.knownHosts,
    ...(target.privateKey ? { privateKey: target.privateKey } : {}),
    ...(target.identityFile ? { identityFile: target.identityFile } : {}),
    ...(target.agent ? { agent: target.agent } : {}),
  };
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
