/**
 * The long steps of a deploy that run code on the server: the server dependencies (as root,
 * production only) and deployScript (as the environment's user, in its sandbox and limits).
 */
import type { TossConfig } from '../config/schema.js';
import { LockError, RemoteCommandError, TossError } from '../errors.js';
import { withPreemptible } from '../server/lock.js';
import type { EnvPaths } from '../server/paths.js';
import { environmentLimits } from '../server/policy.js';
import { pendingDependencies, recordDependency, type State, setLock } from '../server/state.js';
import {
  dependencyRunArgv,
  deployScriptFailure,
  deployScriptRunArgv,
} from '../server/systemd-run.js';
import type { EventSink } from './events.js';
import type { Server } from './server.js';
import { lineSplitter, step } from './step.js';

/**
 * The `dependencies` step: production applies what toss.json lists and state does not record
 * yet, one command after another, recording each; a preview refuses to deploy while any is
 * pending. Returns state as the last record left it.
 */
export function applyDependencies(
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
      let current = state;
      for (const name of pending) {
        const command = config.dependencies[name]!;
        await runStreaming(server, sink, {
          step: 'dependencies',
          argv: dependencyRunArgv({ app: env.app, command }),
          label: `dependency ${name}`,
        });
        current = await server.updateStateAsHolder((s) =>
          recordDependency(s, name, command, new Date().toISOString()),
        );
      }
      return current;
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
    () => `${config.deployScript.length} command(s)`,
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
    await runStreaming(server, sink, {
      step: 'deploy-script',
      argv: deployScriptRunArgv({
        paths: env,
        releaseId,
        command,
        limits: { memory, cpu, timeoutSec },
      }),
      label: `deployScript[${index}] \`${command}\``,
      timeoutSec: buildTimeout,
    });
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

/** Runs a long step, streaming its output as events; the error carries the step's output. */
async function runStreaming(
  session: Server,
  sink: EventSink,
  run: {
    step: 'deploy-script' | 'dependencies';
    argv: string[];
    label: string;
    timeoutSec?: number;
  },
): Promise<void> {
  const { step: stepName, argv, label, timeoutSec } = run;
  const out = lineSplitter((line) => sink({ type: 'output', step: stepName, line }));
  const tail: string[] = [];
  const collect = lineSplitter((line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  });
  let stderr = '';
  const onData = (chunk: Buffer) => {
    out.push(chunk);
    collect.push(chunk);
  };
  const onStderr = (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    onData(chunk);
  };
  const result = await session.guardedStart(argv, { onStdout: onData, onStderr });
  out.flush();
  collect.flush();
  if (result.code !== 0) {
    const failure = deployScriptFailure(label, result.code, stderr, timeoutSec);
    // The transient unit may never have started: then the command is not to blame.
    if (!failure.timedOut) await assertSystemdUsable(session);
    throw new RemoteCommandError(label, result.code, tail.join('\n'), {
      message: `${failure.message}; nothing live was touched${tail.length ? `:\n${tail.join('\n')}` : ''}`,
      hint: failure.timedOut
        ? 'make the build faster, or raise resources.buildTimeout (resources.previews.buildTimeout for previews) in toss.json and deploy production'
        : 'fix the command in toss.json deployScript (or the code it builds), then deploy again',
    });
  }
}

const SYSTEMD_STATES = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

/** Throws a TossError naming the cause when systemd on the server cannot run units at all. */
async function assertSystemdUsable(session: Server): Promise<void> {
  const check = await session.root(['systemctl', 'is-system-running'], { allowFailure: true });
  const state = check.stdout.trim();
  if (SYSTEMD_STATES.has(state)) return;
  const said = state || check.stderr.trim().split('\n')[0] || `exit ${check.code ?? 'signal'}`;
  throw new TossError(
    `systemd is not usable on the server (\`systemctl is-system-running\`: ${said}); toss runs deployScript and the app as systemd units; nothing live was touched`,
    { hint: 'deploy to a server that boots with systemd (Debian and Ubuntu do), or repair it' },
  );
}
