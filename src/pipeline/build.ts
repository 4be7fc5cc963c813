/**
 * The long steps of a deploy that run code on the server: the server dependencies (as root,
 * production only) and deployScript (as the environment's user, in its sandbox and limits).
 */
import type { TossConfig } from '../config/schema.js';
import { LockError, TossError } from '../errors.js';
import { withPreemptible } from '../server/lock.js';
import type { EnvPaths } from '../server/paths.js';
import { environmentLimits } from '../server/policy.js';
import { pendingDependencies, type State, setLock } from '../server/state.js';
import { deployScriptRunArgv } from '../server/systemd-run.js';
import type { EventSink } from './events.js';
import { applyDependencies, runUnit, unitFailure } from './long-step.js';
import type { Server } from './server.js';
import { step } from './step.js';

/**
 * The `dependencies` step: production applies what toss.json lists and state does not record
 * yet, one command after another, recording each; a preview refuses to deploy while any is
 * pending. Returns state as the last record left it.
 */
export function dependenciesStep(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
  state: State,
  sink: EventSink,
): Promise<State> {
  const pending = pendingDependencies(state, config.dependencies);
  return step(
    sink,
    'dependencies',
    async () => {
      if (pending.length === 0) return state;
      if (!env.isProduction) {
        throw new TossError(
          `server dependencies not applied yet: ${pending.join(', ')}; previews never apply them`,
          { hint: 'deploy production (or run toss init) first: it applies dependencies as root' },
        );
      }
      const applied = await applyDependencies(
        server,
        pending,
        config.dependencies,
        sink,
        (d, run) => unitFailure(server, `dependency ${d.name}`, run),
      );
      return applied ?? state;
    },
    () => (pending.length === 0 ? 'none pending' : `applied ${pending.join(', ')}`),
  );
}

/**
 * The `deploy-script` step: deployScript, command by command, as the environment's user within
 * its trusted limits; the time limit bounds the whole script. A preview's lock yields to
 * production until this is done (see decideAcquire); then it stops yielding, and a build
 * production stopped says so.
 */
export function runBuild(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
  releaseId: string,
  sink: EventSink,
): Promise<void> {
  return step(
    sink,
    'deploy-script',
    async () => {
      let failure: unknown;
      try {
        await runDeployScript(server, config, env, releaseId, sink);
      } catch (error) {
        failure = error;
      }
      // Past the build, the run is short and touches shared state: it no longer yields. A build
      // stopped for production may even look finished (SIGTERM ends `sleep` cleanly).
      if (!env.isProduction) await stopYielding(server, env);
      if (failure !== undefined) throw failure;
    },
    () =>
      config.deployScript.length === 0
        ? 'none in toss.json'
        : `${config.deployScript.length} command(s)`,
  );
}

async function runDeployScript(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
  releaseId: string,
  sink: EventSink,
): Promise<void> {
  const { buildTimeout, memory, cpu } = environmentLimits(config, env.environment);
  const deadline = performance.now() + buildTimeout * 1000;
  for (const [index, command] of config.deployScript.entries()) {
    const timeoutSec = Math.max(1, Math.ceil((deadline - performance.now()) / 1000));
    await runUnit(
      server,
      'deploy-script',
      deployScriptRunArgv({ paths: env, releaseId, command, limits: { memory, cpu, timeoutSec } }),
      sink,
      `deployScript[${index}] \`${command}\``,
      buildTimeout,
    );
  }
}

/** The preview's lock stops yielding to production; a LockError if production took it. */
async function stopYielding(server: Server, env: EnvPaths): Promise<void> {
  const held = await server
    .updateStateAsHolder((s) => setLock(s, withPreemptible(s.lock!, false)))
    .then(
      () => true,
      (error: unknown) => (error instanceof LockError ? false : Promise.reject(error)),
    );
  if (!held) {
    throw new LockError(
      `a production deploy took the lock and stopped ${env.environment}'s build; nothing of ${env.environment} changed`,
      { hint: `deploy ${env.environment} again once production's deploy is done` },
    );
  }
}
