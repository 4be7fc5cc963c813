/**
 * Long steps (deployScript, dependencies) run as transient units, so a client that dies leaves
 * nothing running unmanaged, and stopping the unit stops the step. Flags: systemd-run(1), v252.
 */
import { PRODUCTION } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { type EnvPaths, envPaths } from './paths.js';
import { systemdEscapeDollar } from './systemd-quote.js';
import {
  assertResources,
  atEnvPriority,
  priorityProperties,
  sandboxProperties,
} from './systemd-unit.js';
import { envUser } from './users.js';

export interface SystemdRunParams {
  /** unit name, e.g. `toss-run-<app>-<env>.service` */
  unit: string;
  /** run as this user (and its group); root when absent */
  user?: string | undefined;
  cwd?: string | undefined;
  /** EnvironmentFile= read by systemd as root */
  envFile?: string | undefined;
  /** Environment= (the env file wins over these) */
  env?: Record<string, string> | undefined;
  /** further unit properties, `Name=value` */
  properties?: string[] | undefined;
  /** shell command, run by /bin/sh -c */
  command: string;
  /**
   * 'pipe' (default): --pipe, the unit shares the caller's stdin/stdout/stderr; 'relay': no
   * --pipe and no --quiet, for deployScriptRunArgv's relay, which sets the unit's output itself
   * and reads systemd-run's report
   */
  output?: 'pipe' | 'relay' | undefined;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `systemd-run --wait --pipe …  -- /bin/sh -c COMMAND`; exits with the command's status. */
export function systemdRunArgv(params: SystemdRunParams): string[] {
  const pipe = params.output !== 'relay';
  const argv = [
    'systemd-run',
    `--unit=${params.unit}`,
    // --wait: block until done and propagate the exit status; --pipe: stream stdin/stdout/stderr.
    '--wait',
    ...(pipe ? ['--pipe'] : []),
    // Unload even when it failed, so the next run can reuse the name.
    '--collect',
    ...(pipe ? ['--quiet'] : []),
    // simple, not exec: with exec, a command that exits at once (`exit 3`) can end before systemd
    // has seen the exec succeed; the start job then fails and systemd-run exits 1 instead of 3
    // (9 of 40 runs on a busy host). A command that cannot be started still fails the run: its
    // status is systemd's own (e.g. 217/USER, 200/CHDIR).
    '--service-type=simple',
  ];
  if (params.user !== undefined) argv.push(`--uid=${params.user}`, `--gid=${params.user}`);
  if (params.cwd !== undefined) argv.push(`--working-directory=${params.cwd}`);
  for (const [key, value] of Object.entries(params.env ?? {})) {
    if (!ENV_KEY.test(key) || /[\0\n]/.test(value)) {
      throw new TypeError(`invalid environment variable ${JSON.stringify(key)}`);
    }
    argv.push(`--setenv=${key}=${value}`);
  }
  if (params.envFile !== undefined) argv.push(`--property=EnvironmentFile=${params.envFile}`);
  for (const property of params.properties ?? []) argv.push(`--property=${property}`);
  // systemd still expands $VAR in the command line it is given; $$ keeps the shell's own $.
  argv.push('--', '/bin/sh', '-c', systemdEscapeDollar(params.command));
  return argv;
}

export interface BuildLimits {
  /** MemoryMax=, e.g. "1G" */
  memory?: string | undefined;
  /** CPUQuota=, e.g. "100%" */
  cpu?: string | undefined;
  /** RuntimeMaxSec=: the command is stopped after this many seconds */
  timeoutSec?: number | undefined;
}

export interface DeployScriptRunParams {
  paths: EnvPaths;
  releaseId: string;
  /** one deployScript command */
  command: string;
  /** from trusted configuration only: a pull request must not choose its own */
  limits?: BuildLimits | undefined;
}

/** Exit status of a deployScript command that was stopped at its time limit (as timeout(1)). */
export const BUILD_TIMEOUT_EXIT = EXIT.buildTimeout;
/** What the relay prints on its own stderr then; the build's output never reaches stderr. */
export const BUILD_TIMEOUT_MARKER = 'toss: the command was stopped at its time limit';

/**
 * Runs the systemd-run argv in "$@" (up to, not including, `--`) with command $1, its output
 * relayed through a FIFO that root made in a root-only directory: the unit gets /dev/null as
 * stdin and that FIFO as stdout and stderr, opened by systemd, and never a descriptor of the
 * root session (with --pipe it would hold the session's own pipes). cat relays each line as it
 * comes. When systemd-run returns, the unit's processes are gone; the loop then opens the FIFO
 * for a moment, without blocking, so a cat still waiting for a writer (a unit that never
 * started) sees end of file. systemd-run's own report goes to a file: on a run stopped by
 * RuntimeMaxSec= it says "Finished with result: timeout" (its exit status is only 1), which
 * becomes exit 124 and a line on stderr; anything else it said (a refusal to start) is shown.
 */
const RELAY = `set -u
umask 077
command=$1
shift
mkdir -p /run/toss && chmod 0700 /run/toss || exit 1
dir=$(mktemp -d /run/toss/run.XXXXXXXX) || exit 1
trap 'rm -rf -- "$dir"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mkfifo -m 0600 "$dir/out" || exit 1
cat -- "$dir/out" &
relay=$!
"$@" --property="StandardOutput=file:$dir/out" --property=StandardError=inherit \
  -- /bin/sh -c "$command" 2>"$dir/report"
status=$?
while kill -0 "$relay" 2>/dev/null; do : <>"$dir/out"; sleep 0.1; done
wait "$relay"
grep -v -e '^Running as unit: ' -e '^Finished with result: ' -e '^Main processes terminated with: ' \
  -e '^Service runtime: ' -e '^CPU time consumed: ' -- "$dir/report" >&2
if [ "$status" -ne 0 ] && grep -qx 'Finished with result: timeout' -- "$dir/report"; then
  echo "${BUILD_TIMEOUT_MARKER}" >&2
  exit ${BUILD_TIMEOUT_EXIT}
fi
exit "$status"`;

/**
 * One deployScript command in the new release, as the environment's user, with its env file,
 * confined as the app's own unit is (sandboxProperties), below production as the app is
 * (priorityProperties) and bounded by `limits`.
 */
export function deployScriptRunArgv(params: DeployScriptRunParams): string[] {
  const p = params.paths;
  const releaseDir = p.releaseDir(params.releaseId);
  const { memory, cpu, timeoutSec } = params.limits ?? {};
  assertResources({ memory, cpu });
  if (timeoutSec !== undefined && (!Number.isInteger(timeoutSec) || timeoutSec < 1)) {
    throw new TossError(`invalid build time limit ${JSON.stringify(timeoutSec)}`);
  }
  const run = systemdRunArgv({
    unit: p.runUnit,
    user: envUser(p.app, p.environment),
    cwd: releaseDir,
    envFile: p.releaseEnvFile(params.releaseId),
    env: { HOME: p.cacheDir },
    properties: [
      ...(memory === undefined ? [] : [`MemoryMax=${memory}`]),
      ...(cpu === undefined ? [] : [`CPUQuota=${cpu}`]),
      ...(timeoutSec === undefined ? [] : [`RuntimeMaxSec=${timeoutSec}`]),
      // A preview's build yields to production as its app does. It gets no default memory limit:
      // a build's peak (a bundler, a compiler) is often far above the app's, and should memory
      // run out its OOMScoreAdjust= makes it the kernel's first choice, not production.
      ...priorityProperties(p.isProduction),
      // The build may write only into its own release, the persistent dirs and the cache.
      ...sandboxProperties({
        app: p.app,
        readWritePaths: [releaseDir, p.preserveDir, p.cacheDir],
      }),
    ],
    command: atEnvPriority(p.isProduction, params.command),
    output: 'relay',
  });
  // The relay adds the output properties and the command after systemd-run's own options.
  const dashes = run.indexOf('--');
  return ['sh', '-c', RELAY, 'sh', run.at(-1) as string, ...run.slice(0, dashes)];
}

/**
 * The user-facing message for a deployScript command that failed, given the relayed run's exit
 * status and stderr: a stop at the time limit says so (the build's own output cannot forge it:
 * that reaches stdout only), anything else is the command's own failure.
 */
export function deployScriptFailure(
  label: string,
  code: number | null,
  stderr: string,
  timeoutSec?: number,
): { message: string; timedOut: boolean } {
  if (code === BUILD_TIMEOUT_EXIT && stderr.includes(BUILD_TIMEOUT_MARKER)) {
    const limit = timeoutSec === undefined ? '' : ` of ${timeoutSec} s`;
    return { message: `${label} was stopped: it reached its time limit${limit}`, timedOut: true };
  }
  return { message: `${label} failed (exit ${code ?? 'signal'})`, timedOut: false };
}

/** A dependency's install command, as root (the transient unit of production). */
export function dependencyRunArgv(params: { app: string; command: string }): string[] {
  return systemdRunArgv({
    unit: envPaths(params.app, PRODUCTION).runUnit,
    cwd: '/',
    command: params.command,
  });
}
