import { resolve } from 'node:path';
import * as core from '@actions/core';
import { isProduction, prNumberOf } from '../config/env-name.js';
import { loadConfig } from '../config/load.js';
import type { TossConfig } from '../config/schema.js';
import { parseServer } from '../config/server.js';
import { resolveSourceDir } from '../config/source-dir.js';
import { TossError } from '../errors.js';
import { deploy } from '../pipeline/deploy.js';
import { type EventSink, STEP_LABELS } from '../pipeline/events.js';
import { recordedEnvironments } from '../pipeline/inspect.js';
import type { LocalBuilder } from '../pipeline/local-build.js';
import { remove } from '../pipeline/remove.js';
import type { Actor, DeployResult, Login } from '../pipeline/request.js';
import type { OpenServer } from '../pipeline/server.js';
import { StepError } from '../pipeline/step.js';
import { sweepClosedPreviews } from '../pipeline/sweep.js';
import { HostKeyRefusedError } from '../remote/host-key-policy.js';
import { parseEnvFile } from '../server/env-file.js';
import { routeBranchPreview } from './branch-match.js';
import { actionBuildCache, type CacheReport } from './build-cache.js';
import { cachePlan } from './cache-plan.js';
import { type CommentParams, commentBody, commentMarker } from './comment.js';
import { GitHubApi } from './github.js';
import { type ActionInputs, Output, readInputs, setOutput } from './inputs.js';
import { execCommand } from './local-runner.js';
import { PostState } from './post-state.js';
import { actionReporter, maskSecretValues, resumeCommands } from './reporter.js';
import { type Resolution, refusedEvent, resolveRun } from './resolve.js';
import { type RunnerContext, readRunnerContext } from './runner.js';
import { writeSummary } from './summary.js';

/** What the action's main step reaches outside the runner through; tests pass a fake server. */
export interface ActionDeps {
  connect?: OpenServer | undefined;
}

/** The action's main step: resolve the event, then deploy, remove or sweep. */
export async function run(deps: ActionDeps = {}): Promise<void> {
  const ctx = readRunnerContext();
  // An event that can carry a stranger's code is refused first: before any input is read, the
  // checkout's toss.json trusted, the key touched or the server contacted.
  const refused = refusedEvent(ctx.eventName);
  if (refused !== undefined) return skip(`${ctx.owner}/${ctx.repo}`, refused);
  const inputs = readInputs();
  const overrides = maskSecrets(inputs.secrets);
  const configPath = resolve(ctx.workspace, inputs.workingDirectory, inputs.config);
  const config = await loadConfig(configPath);
  const event = { name: ctx.eventName, payload: ctx.payload, ref: ctx.ref, sha: ctx.sha };
  const resolved = resolveRun(event, inputs, config);
  if (resolved.kind === 'skip') return skip(config.app, resolved.reason);
  setOutput(Output.Action, 'skipped');
  // A root leading out of the checkout is refused before the server is reached.
  const sourceDir =
    resolved.kind === 'deploy'
      ? resolveSourceDir(resolve(ctx.workspace, inputs.workingDirectory), config.root, configPath)
      : '';
  const login = prepareLogin(inputs, config);
  const resolution = await placeBranchPreview(resolved, config, login, deps.connect).catch(
    (error: unknown) => {
      PostState.mainFinished();
      throw describeFailure(error, inputs, login);
    },
  );
  if ('environment' in resolution) setOutput(Output.Environment, resolution.environment);
  const job = startJob(ctx, inputs, config, login, deps, overrides, sourceDir);
  try {
    await carryOut(job, resolution);
  } catch (error) {
    throw describeFailure(error, inputs, login);
  } finally {
    // Reached on success and on failure, never when the runner kills the step: then post recovers.
    PostState.mainFinished();
  }
}

/** A run that does nothing: says why in the log, the outputs and the job summary. */
async function skip(title: string, reason: string): Promise<void> {
  setOutput(Output.Action, 'skipped');
  core.notice(`toss: skipped: ${reason}`);
  await writeSummary(title, [], `Skipped: ${reason}`);
}

/** What every part of one run of the action shares. */
interface Job {
  ctx: RunnerContext;
  inputs: ActionInputs;
  config: TossConfig;
  github: GitHubApi | undefined;
  /** what every pipeline request of the run carries */
  common: Common;
  /** `KEY=VALUE` pairs from the secrets input */
  overrides: string[];
  /** the checkout's directory to upload (deploys only) */
  sourceDir: string;
  sink: EventSink;
  started: number;
  isClosed: (pr: number) => Promise<boolean | undefined>;
}

function startJob(
  ctx: RunnerContext,
  inputs: ActionInputs,
  config: TossConfig,
  login: Login,
  deps: ActionDeps,
  overrides: string[],
  sourceDir: string,
): Job {
  const actor: Actor = {
    by: `${ctx.actor} via GitHub Actions`,
    ...(ctx.runUrl ? { runUrl: ctx.runUrl } : {}),
  };
  const github = inputs.githubToken
    ? GitHubApi.create(inputs.githubToken, { owner: ctx.owner, repo: ctx.repo }, ctx.apiUrl)
    : undefined;
  return {
    ctx,
    inputs,
    config,
    github,
    common: { config, login, actor, lockWaitSeconds: inputs.lockWait, connect: deps.connect },
    overrides,
    sourceDir,
    sink: actionReporter().sink,
    started: performance.now(),
    isClosed: async (pr) => (github ? github.isPullClosed(pr) : undefined),
  };
}

/** Deploys, removes or sweeps, as the event resolved; deploys and removals sweep afterwards. */
async function carryOut(job: Job, resolution: Exclude<Resolution, { kind: 'skip' }>) {
  switch (resolution.kind) {
    case 'sweep':
      return sweepOnly(job);
    case 'remove':
      await removeResolved(job, resolution);
      return sweepQuietly(job, resolution.environment);
    case 'deploy':
      await deployResolved(job, resolution);
      return sweepQuietly(job, resolution.environment);
  }
}

/** A sweep run: every preview of a closed pull request goes. */
async function sweepOnly(job: Job): Promise<void> {
  const removed = await sweepClosedPreviews({ ...job.common, isClosed: job.isClosed }, job.sink);
  for (const environment of removed) await afterRemove(job, environment);
  setOutput(Output.Action, removed.length ? 'removed' : 'skipped');
  await writeSummary(
    job.config.app,
    removed.map((environment) => ({ environment, action: 'removed', seconds: 0 })),
    removed.length
      ? undefined
      : 'Sweep: no preview of a closed pull request was left on the server.',
  );
}

async function removeResolved(
  job: Job,
  resolution: Extract<Resolution, { kind: 'remove' }>,
): Promise<void> {
  const { environment, branch, pr } = resolution;
  if (isProduction(environment)) throw new TossError('the action never removes production');
  const result = await remove(
    {
      ...job.common,
      environment,
      force: false,
      ...(branch !== undefined ? { branch } : {}),
      onLockAcquired: (t) => PostState.lockAcquired(t, environment),
    },
    job.sink,
  );
  await afterRemove(job, environment, pr);
  setOutput(Output.Action, 'removed');
  await writeSummary(job.config.app, [
    {
      environment,
      action: result.removed ? 'removed' : 'skipped',
      seconds: (performance.now() - job.started) / 1000,
    },
  ]);
}

/**
 * A branch's preview goes where the branch owns it: resolution cannot see the server, so a branch
 * named like an environment of the app it does not own (`staging`, deployed by hand) is placed
 * under its hashed name here, for deploys and deletions alike (see routeBranchPreview). Under
 * the lock, deploy and remove refuse anything state says the branch does not own.
 */
async function placeBranchPreview(
  resolution: Exclude<Resolution, { kind: 'skip' }>,
  config: TossConfig,
  login: Login,
  connect: OpenServer | undefined,
): Promise<Exclude<Resolution, { kind: 'skip' }>> {
  if (resolution.kind === 'sweep' || resolution.branch === undefined) return resolution;
  const environments = await recordedEnvironments(config, login, connect);
  const environment = routeBranchPreview(resolution.branch, resolution.environment, environments);
  if (environment === resolution.environment) return resolution;
  const holder = environments[resolution.environment]?.branch;
  core.notice(
    `toss: ${resolution.environment} is not this branch's preview (state records it as ${holder === undefined ? 'a named environment' : `deployed from branch ${JSON.stringify(holder)}`}): using ${environment}`,
  );
  return { ...resolution, environment };
}

/** What every pipeline request of one action run shares. */
interface Common {
  config: TossConfig;
  login: Login;
  actor: Actor;
  lockWaitSeconds: number;
  connect: OpenServer | undefined;
}

type DeployResolution = Extract<Resolution, { kind: 'deploy' }>;

/**
 * How this run builds: toss.json's `build` commands through @actions/exec, with the dependency
 * cache around them when there is something to cache. Its report says what the build and the
 * cache did, for the job summary.
 */
function runnerBuild(job: Job): {
  builder: LocalBuilder;
  /** the job's sink, noting how long the build took */
  sink: EventSink;
  note: () => string | undefined;
} {
  const plan = cachePlan(job.config, job.sourceDir, process.cwd(), {
    os: process.env.RUNNER_OS ?? process.platform,
    arch: process.env.RUNNER_ARCH ?? process.arch,
  });
  const cache = plan ? actionBuildCache(plan) : undefined;
  let buildMs: number | undefined;
  const sink: EventSink = (event) => {
    if (event.type === 'step-done' && event.step === 'build') buildMs = event.ms;
    job.sink(event);
  };
  return {
    builder: { run: execCommand, cache },
    sink,
    note: () => buildNote(job.config.build !== undefined, buildMs, cache?.report),
  };
}

/** The job summary's line about the build on the runner and its cache. */
function buildNote(
  built: boolean,
  ms: number | undefined,
  cache: CacheReport | undefined,
): string | undefined {
  if (!built || ms === undefined) return undefined;
  const took = `Built on the runner in ${(ms / 1000).toFixed(1)} s`;
  if (cache?.restore === undefined) return `${took}; no dependency cache.`;
  const restored = {
    hit: `cache hit (\`${cache.matchedKey}\`)`,
    partial: `cache restored from \`${cache.matchedKey}\``,
    miss: 'cache miss (cold build)',
    unavailable: 'cache unavailable (cold build)',
  }[cache.restore];
  return `${took}; ${restored}${cache.saved ? ', saved for the next run' : ''}.`;
}

/** A deploy, reported as it goes: sticky PR comment, GitHub Deployment, outputs and summary. */
async function deployResolved(job: Job, resolution: DeployResolution): Promise<void> {
  const { environment, pr } = resolution;
  // Saying "deploying" (the comment, the Deployment) costs GitHub API round trips: they go out
  // while the build and the server work, and every later report waits for them, so they land
  // first. Should they fail, the run still fails, once the deploy is done.
  const announced = comment(job, resolution, { status: 'deploying' }).then(() =>
    startDeployment(job, resolution),
  );
  announced.catch(() => {});
  const build = runnerBuild(job);
  try {
    const result = await deploy(
      {
        ...job.common,
        environment,
        sourceDir: job.sourceDir,
        origin: `${job.ctx.serverUrl}/${job.ctx.owner}/${job.ctx.repo}`,
        commit: resolution.sha,
        ...(resolution.branch ? { branch: resolution.branch, ownedByBranch: true } : {}),
        ...(pr !== undefined ? { pr } : {}),
        overrides: job.overrides,
        force: job.inputs.force,
        fleet: fleetLogins(job.common.login, job.config),
        onLockAcquired: (token) => PostState.lockAcquired(token, environment),
        builder: build.builder,
      },
      build.sink,
    );
    await reportDeployed(job, resolution, await announced, result, build.note());
  } catch (error) {
    const deploymentId = await announced.catch(() => undefined);
    await reportFailed(job, resolution, deploymentId, error, build.note());
    throw error;
  }
}

/** The pull request's sticky comment, when there is a pull request and comments are on. */
async function comment(
  job: Job,
  resolution: DeployResolution,
  params: Omit<CommentParams, 'app' | 'environment' | 'at' | 'runUrl' | 'commit'>,
): Promise<void> {
  const { github, inputs, config, ctx } = job;
  if (!github || !inputs.comment || resolution.pr === undefined) return;
  await github.upsertComment(
    resolution.pr,
    commentMarker(config.app),
    commentBody({
      ...params,
      app: config.app,
      environment: resolution.environment,
      at: new Date(),
      runUrl: ctx.runUrl,
      commit: resolution.sha,
    }),
  );
}

/** A GitHub Deployment in progress, when deployments are on. */
async function startDeployment(
  job: Job,
  resolution: DeployResolution,
): Promise<number | undefined> {
  const { github, inputs, config, ctx } = job;
  if (!github || !inputs.deployment) return undefined;
  const { environment } = resolution;
  const id = await github.createDeployment({
    ref: resolution.sha,
    environment,
    production: isProduction(environment),
    description: `toss deploy of ${config.app} to ${environment}`,
  });
  setOutput(Output.DeploymentId, String(id));
  await github.setDeploymentStatus(id, 'in_progress', { logUrl: ctx.runUrl });
  return id;
}

async function reportDeployed(
  job: Job,
  resolution: DeployResolution,
  deploymentId: number | undefined,
  result: DeployResult,
  note: string | undefined,
): Promise<void> {
  setOutput(Output.Url, result.url);
  setOutput(Output.Release, result.release);
  const action = result.unchanged ? 'unchanged' : 'deployed';
  setOutput(Output.Action, action);
  if (deploymentId !== undefined) {
    await job.github!.setDeploymentStatus(deploymentId, 'success', {
      logUrl: job.ctx.runUrl,
      environmentUrl: result.url,
    });
  }
  // "live" only once Caddy answered over HTTPS; otherwise the URL is shown as pending.
  await comment(job, resolution, {
    status: result.confirmed ? 'live' : 'deploying',
    url: result.url,
    release: result.release,
    sleepAfter: result.sleepAfter,
    database: result.database,
    unchanged: result.unchanged,
  });
  await writeSummary(
    job.config.app,
    [
      {
        environment: resolution.environment,
        action,
        url: result.url,
        commit: resolution.sha,
        release: result.release,
        seconds: (performance.now() - job.started) / 1000,
      },
    ],
    note,
  );
}

/** A failed deploy, said everywhere it was announced; reporting never hides the failure. */
async function reportFailed(
  job: Job,
  resolution: DeployResolution,
  deploymentId: number | undefined,
  error: unknown,
  note: string | undefined,
): Promise<void> {
  const step = error instanceof StepError ? STEP_LABELS[error.step] : undefined;
  if (deploymentId !== undefined) {
    await job
      .github!.setDeploymentStatus(deploymentId, 'failure', {
        logUrl: job.ctx.runUrl,
        description: step ? `failed: ${step}` : 'failed',
      })
      .catch(() => undefined);
  }
  await comment(job, resolution, { status: 'failed', failedStep: step ?? 'deploy' }).catch(
    () => undefined,
  );
  await writeSummary(
    job.config.app,
    [
      {
        environment: resolution.environment,
        action: 'failed',
        commit: resolution.sha,
        seconds: (performance.now() - job.started) / 1000,
      },
    ],
    note,
  ).catch(() => undefined);
}

/** After a removal: the pull request's comment says so, and its GitHub environment goes inactive. */
async function afterRemove(job: Job, environment: string, pr?: number): Promise<void> {
  const { github, inputs, config, ctx } = job;
  if (!github) return;
  const number = pr ?? prNumberOf(environment);
  if (inputs.comment && number !== undefined) {
    await github.upsertComment(
      number,
      commentMarker(config.app),
      commentBody({
        app: config.app,
        environment,
        status: 'removed',
        at: new Date(),
        runUrl: ctx.runUrl,
      }),
    );
  }
  if (inputs.deployment) await github.deactivateEnvironment(environment, ctx.runUrl);
}

/** Previews of closed pull requests go too; a failed sweep is a warning, never the run's failure. */
async function sweepQuietly(job: Job, keep: string): Promise<void> {
  try {
    await sweepClosedPreviews({ ...job.common, isClosed: job.isClosed, keep }, job.sink);
  } catch (error) {
    resumeCommands();
    core.warning(`sweep of closed pull requests' previews failed: ${(error as Error).message}`);
  }
}

/**
 * The `secrets` input: every value (and each line of a multi-line one) masked before anything can
 * print it; returned as -s pairs. A parse error names lines and keys, never value text.
 */
function maskSecrets(text: string): string[] {
  if (!text.trim()) return [];
  const entries = parseEnvFile(text, 'input secrets');
  maskSecretValues(entries.values());
  return [...entries].map(([k, v]) => `${k}=${v}`);
}

/**
 * The key stays in memory: the SSH connection takes it as text and rsync tunnels through that
 * connection, so no file of it is ever needed (none in the workspace, RUNNER_TEMP or the upload).
 * Trust comes only from known-hosts.
 */
function prepareLogin(inputs: ActionInputs, config: TossConfig): Login {
  if (!inputs.sshKey) throw new TossError('the ssh-key input is empty');
  const server = parseServer(
    inputs.server || config.server,
    inputs.server ? 'input server' : 'server',
  );
  return {
    host: server.host,
    port: server.port,
    user: server.user,
    privateKey: inputs.sshKey.endsWith('\n') ? inputs.sshKey : `${inputs.sshKey}\n`,
    knownHosts: inputs.knownHosts,
  };
}

/** toss.json's other servers, logged in to with the same key and known-hosts as the first. */
function fleetLogins(first: Login, config: TossConfig): Login[] {
  return (config.servers ?? []).map((entry, i) => {
    const server = parseServer(entry.server, `servers[${i}].server`);
    return { ...first, host: server.host, port: server.port, user: server.user };
  });
}

/** Adds what to do to errors the action user can fix. */
function describeFailure(error: unknown, inputs: ActionInputs, login: Login): unknown {
  const cause = error instanceof StepError ? error.cause : error;
  if (cause instanceof HostKeyRefusedError && !inputs.knownHosts.trim()) {
    const line = cause.presented?.line;
    return new TossError(
      `the known-hosts input is empty, so ${login.host}'s host key cannot be verified.${line ? `\nThe server presented (UNVERIFIED):\n${line}` : ''}`,
      {
        hint: "compare that key with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server), then store the line as a secret and pass it as known-hosts",
      },
    );
  }
  return error;
}
