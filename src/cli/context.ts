import { dirname, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { TossConfig } from '../config/schema.js';
import { parseServer } from '../config/server.js';
import type { Actor, Login } from '../pipeline/request.js';
import { resolveSshTarget, type SshTarget } from '../remote/ssh-target.js';
import { localActor } from './git.js';

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

/**
 * Loads toss.json and resolves how to log in to its server (ssh config, keys, known_hosts).
 * `actor` is localActor(the config's directory) when the caller started it already.
 */
export async function loadContext(
  options: CommonOptions,
  started: { actor?: Promise<Actor> } = {},
): Promise<CliContext> {
  const configPath = resolve(options.config ?? 'toss.json');
  const projectDir = dirname(configPath);
  // git runs (a child process) while toss.json is read and checked; a config error still wins.
  const actorRead = started.actor ?? localActor(projectDir);
  actorRead.catch(() => {});
  const config = await loadConfig(configPath);
  const [target, actor] = await Promise.all([
    resolveServer(config.server, options.identity),
    actorRead,
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
