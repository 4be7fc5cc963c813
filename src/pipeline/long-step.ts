/**
 * Long commands as root (package installs, dependencies, the deploy script): their output is
 * streamed line by line as events, and what a failure needs to explain itself is kept.
 */
import { RemoteCommandError, TossError } from '../errors.js';
import { recordDependency, type State } from '../server/state.js';
import { dependencyRunArgv, deployScriptFailure } from '../server/systemd-run.js';
import type { EventSink, StepName } from './events.js';
import type { Server } from './server.js';
import { lineSplitter } from './step.js';

/** How many of the last output lines a failure shows. */
const TAIL_LINES = 40;
/** How much of the end of stderr is kept to recognise how a command ended. */
const STDERR_CHARS = 4000;

/** How a streamed command ended. */
export interface StreamedRun {
  /** the exit code; null when a signal ended it */
  code: number | null;
  /** its last output lines, stdout and stderr together */
  tail: string[];
  /** the end of its stderr */
  stderr: string;
}

/**
 * Runs `argv` as root, each line of its output an `output` event of `stepName`, and returns how it
 * ended (a failure is the caller's to explain). Guarded: it starts only while this run holds the
 * app's lock (session.guardedStart); otherwise a plain root command.
 */
export async function streamAsRoot(
  session: Pick<Server, 'root' | 'guardedStart'>,
  stepName: StepName,
  argv: string[],
  sink: EventSink,
  options: { guarded: boolean },
): Promise<StreamedRun> {
  const tail: string[] = [];
  const out = lineSplitter((line) => {
    sink({ type: 'output', step: stepName, line });
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  });
  let stderr = '';
  const onStdout = (chunk: Buffer) => out.push(chunk);
  const onStderr = (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_CHARS);
    out.push(chunk);
  };
  const result = options.guarded
    ? await session.guardedStart(argv, { onStdout, onStderr })
    : await session.root(argv, { onStdout, onStderr, allowFailure: true });
  out.flush();
  return { code: result.code, tail, stderr };
}

/**
 * The error for a failed transient unit named `label` (a deployScript command, a dependency):
 * a time limit reached (`timeoutSec`, the limit it ran under), or a failure with its output.
 * Throws a TossError instead when systemd on the server cannot run units at all.
 */
export async function unitFailure(
  session: Pick<Server, 'root'>,
  label: string,
  run: StreamedRun,
  timeoutSec?: number,
): Promise<RemoteCommandError> {
  const failure = deployScriptFailure(label, run.code, run.stderr, timeoutSec);
  // The transient unit may never have started: then the command is not to blame.
  if (!failure.timedOut) await assertSystemdUsable(session);
  const { tail } = run;
  return new RemoteCommandError(label, run.code, tail.join('\n'), {
    message: `${failure.message}; nothing live was touched${tail.length ? `:\n${tail.join('\n')}` : ''}`,
    hint: failure.timedOut
      ? 'make the build faster, or raise resources.buildTimeout (resources.previews.buildTimeout for previews) in toss.json and deploy production'
      : 'fix the command in toss.json deployScript (or the code it builds), then deploy again',
  });
}

/**
 * Runs a transient unit under the lock (see streamAsRoot), throwing unitFailure's error when it
 * does not succeed.
 */
export async function runUnit(
  session: Pick<Server, 'root' | 'guardedStart'>,
  stepName: StepName,
  argv: string[],
  sink: EventSink,
  label: string,
  timeoutSec?: number,
): Promise<void> {
  const run = await streamAsRoot(session, stepName, argv, sink, { guarded: true });
  if (run.code !== 0) throw await unitFailure(session, label, run, timeoutSec);
}

const SYSTEMD_STATES = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

/** Throws a TossError naming the cause when systemd on the server cannot run units at all. */
export async function assertSystemdUsable(session: Pick<Server, 'root'>): Promise<void> {
  const check = await session.root(['systemctl', 'is-system-running'], { allowFailure: true });
  const state = check.stdout.trim();
  if (SYSTEMD_STATES.has(state)) return;
  const said = state || check.stderr.trim().split('\n')[0] || `exit ${check.code ?? 'signal'}`;
  throw new TossError(
    `systemd is not usable on the server (\`systemctl is-system-running\`: ${said}); toss runs deployScript and the app as systemd units; nothing live was touched`,
    { hint: 'deploy to a server that boots with systemd (Debian and Ubuntu do), or repair it' },
  );
}

/** A dependency toss.json names: its name and its install command. */
export interface Dependency {
  name: string;
  command: string;
}

/**
 * Applies the pending dependencies in order, each as root in production's transient unit under
 * the held lock, and records each in state once it succeeded. A failed one stops the rest with the
 * error `failure` makes of it (the door knows what to tell the user). Returns the state after the
 * last record, or undefined when none was pending.
 */
export async function applyDependencies(
  session: Pick<Server, 'app' | 'root' | 'guardedStart' | 'updateStateAsHolder'>,
  pending: readonly string[],
  dependencies: Readonly<Record<string, string>>,
  sink: EventSink,
  failure: (dependency: Dependency, run: StreamedRun) => Promise<Error> | Error,
): Promise<State | undefined> {
  let state: State | undefined;
  for (const name of pending) {
    const command = dependencies[name] as string;
    const argv = dependencyRunArgv({ app: session.app, command });
    const run = await streamAsRoot(session, 'dependencies', argv, sink, { guarded: true });
    if (run.code !== 0) throw await failure({ name, command }, run);
    state = await session.updateStateAsHolder((s) =>
      recordDependency(s, name, command, new Date().toISOString()),
    );
  }
  return state;
}
