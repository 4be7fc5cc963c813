import { dirname, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { TossConfig } from '../config/schema.js';
import type { Actor, Login } from '../pipeline/request.js';
import { localActor } from './git.js';
import { loginFrom, resolveServer } from './login.js';

export { loginFrom, resolveServer };

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
  /** how to log in to each of toss.json's `servers`, in order */
  fleet: Login[];
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
  const [target, actor, fleet] = await Promise.all([
    resolveServer(config.server, options.identity),
    actorRead,
    Promise.all((config.servers ?? []).map((s) => resolveServer(s.server, options.identity))),
  ]);
  return {
    config,
    configPath,
    projectDir,
    login: loginFrom(target),
    fleet: fleet.map(loginFrom),
    actor,
  };
}
