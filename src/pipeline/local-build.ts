/**
 * toss.json's `build`, run where toss runs (the CI runner, the user's machine) in the checkout's
 * root before anything on the server is touched: what it leaves is what is uploaded. The door
 * decides how a command runs (`@actions/exec` in the action, a child process in the CLI) and
 * whether a dependency cache surrounds the build (the action's); this module decides what runs,
 * in which environment, and what a failure says.
 */
import type { TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { OutputTail } from '../remote/output-tail.js';
import type { EnvPaths } from '../server/paths.js';
import type { EventSink } from './events.js';
import { serverAddress } from './health.js';
import { hostNameOf, urlOf } from './server-files.js';
import { step } from './step.js';

/** Runs one shell command line; resolves with its exit status (128 + n when killed by signal n). */
export type CommandRunner = (
  command: string,
  options: { cwd: string; env: Record<string, string>; onLine: (line: string) => void },
) => Promise<number>;

/** What a cache step did, said in the step's line, and a warning when it could not do its job. */
export interface CacheOutcome {
  detail: string;
  warning?: string | undefined;
}

/** A dependency cache around the build: restored before it, saved after it succeeded. Never throws. */
export interface BuildCache {
  restore(): Promise<CacheOutcome>;
  save(): Promise<CacheOutcome>;
}

/** How the door runs toss.json's `build`. */
export interface LocalBuilder {
  run: CommandRunner;
  cache?: BuildCache | undefined;
}

/**
 * What is left of a build once the deploy is done: saving the cache. It waits until then, so the
 * release goes live first and the cache client's log lines do not land in the deploy's steps.
 */
export interface BuildDone {
  finish(): Promise<void>;
}

/**
 * Variables a build must not see: the action's inputs (the SSH key, the secrets input), its
 * saved state (the lock token), the runner's tokens and the files that set the job's outputs,
 * state and environment. The build is the checkout's own code; it gets what a workflow step gets,
 * not what toss was given.
 */
const WITHHELD = [
  /^INPUT_/,
  /^STATE_/,
  /^ACTIONS_(?:RUNTIME_TOKEN|RUNTIME_URL|RESULTS_URL|CACHE_URL|CACHE_SERVICE_V2|ID_TOKEN_REQUEST_TOKEN|ID_TOKEN_REQUEST_URL)$/,
  /^GITHUB_(?:OUTPUT|STATE|ENV|PATH|STEP_SUMMARY)$/,
  /^TOSS_SSH_KEY$/,
];

export interface BuildVariables {
  app: string;
  environment: string;
  url: string;
  commit: string;
}

/** The build's environment: toss's own minus what it must not see, plus TOSS_* for the build. */
export function buildEnvironment(
  base: NodeJS.ProcessEnv,
  vars: BuildVariables,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined && !WITHHELD.some((pattern) => pattern.test(key))) env[key] = value;
  }
  return {
    ...env,
    TOSS_ENV: vars.environment,
    TOSS_APP: vars.app,
    TOSS_URL: vars.url,
    TOSS_COMMIT: vars.commit,
  };
}

export interface LocalBuildRequest {
  config: TossConfig;
  /** the directory the build runs in and the upload takes (the checkout joined with root) */
  sourceDir: string;
  commit: string;
  /** the SSH host: the environment's sslip.io name (without a domain) is derived from it */
  host: string;
  builder?: LocalBuilder | undefined;
}

/**
 * Restores the cache, runs `build` command by command (the first failure stops the deploy, its
 * output's end in the error), and starts saving the cache. Without `build`, nothing happens.
 */
export async function buildHere(
  request: LocalBuildRequest,
  env: EnvPaths,
  sink: EventSink,
): Promise<BuildDone> {
  const commands = request.config.build;
  if (commands === undefined) return { finish: async () => {} };
  const { builder } = request;
  if (builder === undefined)
    throw new TossError('toss.json has build, but nothing here can run it');
  const url = urlOf(
    request.config,
    hostNameOf(request.config, env, await serverAddress(request.host)),
  );
  const vars = { app: env.app, environment: env.environment, url, commit: request.commit };
  const { cache } = builder;
  if (cache) await cacheStep(sink, 'cache-restore', () => cache.restore());
  await step(
    sink,
    'build',
    () =>
      runCommands(
        builder.run,
        commands,
        request.sourceDir,
        buildEnvironment(process.env, vars),
        sink,
      ),
    () => `${commands.length} command(s) in ${request.sourceDir}`,
  );
  return {
    finish: async () => (cache ? cacheStep(sink, 'cache-save', () => cache.save()) : undefined),
  };
}

async function runCommands(
  run: CommandRunner,
  commands: string[],
  cwd: string,
  env: Record<string, string>,
  sink: EventSink,
): Promise<void> {
  for (const [index, command] of commands.entries()) {
    sink({ type: 'output', step: 'build', line: `$ ${command}` });
    const started = performance.now();
    const tail = new OutputTail();
    const status = await run(command, {
      cwd,
      env,
      onLine: (line) => {
        tail.push(Buffer.from(`${line}\n`));
        sink({ type: 'output', step: 'build', line });
      },
    });
    if (status !== 0) throw buildFailure(index, command, status, tail.text());
    const took = ((performance.now() - started) / 1000).toFixed(2);
    sink({ type: 'output', step: 'build', line: `took ${took} s: ${command}` });
  }
}

function buildFailure(index: number, command: string, status: number, tail: string): TossError {
  const how =
    status > 128
      ? `was killed (signal ${status - 128})`
      : status === 128
        ? 'was killed by a signal'
        : `exited with ${status}`;
  return new TossError(
    `build[${index}] \`${command}\` ${how}; nothing was uploaded and the server was not touched${tail ? `:\n${tail}` : ''}`,
    {
      hint: 'fix the command in toss.json build (or the code it builds) and deploy again; it runs in root with TOSS_ENV, TOSS_APP, TOSS_URL and TOSS_COMMIT set',
    },
  );
}

/** A cache step: reported like any step, its warning said, never the deploy's failure. */
async function cacheStep(
  sink: EventSink,
  name: 'cache-restore' | 'cache-save',
  call: () => Promise<CacheOutcome>,
): Promise<void> {
  const result = await step(
    sink,
    name,
    () =>
      Promise.resolve()
        .then(call)
        .catch((error: unknown) => ({ detail: 'failed', warning: String(error) })),
    (r) => r.detail,
  );
  if (result.warning) sink({ type: 'warning', message: result.warning });
}
