import { resolve } from 'node:path';
import * as core from '@actions/core';
import { loadConfig } from '../config/load.js';
import type { TossConfig } from '../config/schema.js';
import { parseServer } from '../config/server.js';
import { resolveSourceDir } from '../config/source-dir.js';
import { TossError } from '../errors.js';
import { deploy } from '../pipeline/deploy.js';
import { STEP_LABELS } from '../pipeline/events.js';
import { recordedEnvironments } from '../pipeline/inspect.js';
import { remove } from '../pipeline/remove.js';
import type { Actor, Login } from '../pipeline/request.js';
import type { OpenServer } from '../pipeline/server.js';
import { StepError } from '../pipeline/step.js';
import { sweepClosedPreviews } from '../pipeline/sweep.js';
import { HostKeyRefusedError } from '../remote/host-key-policy.js';
import { parseEnvFile } from '../server/env-file.js';
import { routeBranchPreview } from './branch-match.js';
import { type CommentParams, commentBody, commentMarker } from './comment.js';
import { GitHubApi } from './github.js';
import { type ActionInputs, readInputs } from './inputs.js';
import { actionReporter, maskSecretValues, resumeCommands } from './reporter.js';
import { type Resolution, refusedEvent, resolveRun } from './resolve.js';
import { type RunnerContext, readRunnerContext } from './runner.js';
import { State } from './state.js';
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
  if (refused !== undefined) {
    core.setOutput('action', 'skipped');
    core.notice(`toss: skipped: ${refused}`);
    await writeSummary(`${ctx.owner}/${ctx.repo}`, [], `Skipped: ${refused}`);
    return;
  }
  const inputs = readInputs();
  const secretOverrides = maskSecrets(inputs.secrets);
  const configPath = resolve(ctx.workspace, inputs.workingDirectory, inputs.config);
  const config = await loadConfig(configPath);
  const resolved = resolveRun(
    { name: ctx.eventName, payload: ctx.payload, ref: ctx.ref, sha: ctx.sha },
    inputs,
    config,
  );
  core.setOutput('action', 'skipped');
  if (resolved.kind === 'skip') {
    core.notice(`toss: skipped: ${resolved.reason}`);
    await writeSummary(config.app, [], `Skipped: ${resolved.reason}`);
    return;
  }
  // A root leading out of the checkout is refused before the server is reached.
  const sourceDir =
    resolved.kind === 'deploy'
      ? resolveSourceDir(resolve(ctx.workspace, inputs.workingDirectory), config.root, configPath)
      : '';

  const login = prepareLogin(inputs, config);
  const resolution = await placeBranchPreview(resolved, config, login, deps.connect).catch(
    (error: unknown) => {
      State.mainFinished();
      throw describeFailure(error, inputs, login);
    },
  );
  if ('environment' in resolution) core.setOutput('environment', resolution.environment);
  const actor: Actor = {
    by: `${ctx.actor} via GitHub Actions`,
    ...(ctx.runUrl ? { runUrl: ctx.runUrl } : {}),
  };
  const github = inputs.githubToken
    ? GitHubApi.create(inputs.githubToken, { owner: ctx.owner, repo: ctx.repo }, ctx.apiUrl)
    : undefined;
  const common = { config, login, actor, lockWaitSeconds: inputs.lockWait, connect: deps.connect };
  const reporter = actionReporter();
  const started = performance.now();
  const isClosed = async (pr: number) => (github ? github.isPullClosed(pr) : undefined);

  try {
    if (resolution.kind === 'sweep') {
      const removed = await sweepClosedPreviews({ ...common, isClosed }, reporter.sink);
      for (const environment of removed)
        await afterRemove(github, inputs, config, environment, ctx);
      core.setOutput('action', removed.length ? 'removed' : 'skipped');
      await writeSummary(
        config.app,
        removed.map((environment) => ({ environment, action: 'removed', seconds: 0 })),
        removed.length
          ? undefined
          : 'Sweep: no preview of a closed pull request was left on the server.',
      );
      return;
    }
    if (resolution.kind === 'remove') {
      if (resolution.environment === 'production') {
        throw new TossError('the action never removes production');
      }
      const result = await remove(
        {
          ...common,
          environment: resolution.environment,
          force: false,
          ...(resolution.branch !== undefined ? { branch: resolution.branch } : {}),
          onLockAcquired: (t) => State.lockAcquired(t, resolution.environment),
        },
        reporter.sink,
      );
      await afterRemove(github, inputs, config, resolution.environment, ctx, resolution.pr);
      core.setOutput('action', 'removed');
      await writeSummary(config.app, [
        {
          environment: resolution.environment,
          action: result.removed ? 'removed' : 'skipped',
          seconds: (performance.now() - started) / 1000,
        },
      ]);
      await sweepQuietly(common, isClosed, resolution.environment, reporter.sink);
      return;
    }
    await deployResolved(
      resolution,
      sourceDir,
      inputs,
      config,
      ctx,
      github,
      common,
      secretOverrides,
      reporter,
      started,
    );
    await sweepQuietly(common, isClosed, resolution.environment, reporter.sink);
  } catch (error) {
    throw describeFailure(error, inputs, login);
  } finally {
    // Reached on success and on failure, never when the runner kills the step: then post recovers.
    State.mainFinished();
  }
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

async function deployResolved(
  resolution: Extract<Resolution, { kind: 'deploy' }>,
  /** the checkout's real directory to upload (resolveSourceDir) */
  sourceDir: string,
  inputs: ActionInputs,
  config: TossConfig,
  ctx: RunnerContext,
  github: GitHubApi | undefined,
  common: Common,
  overrides: string[],
  reporter: ReturnType<typeof actionReporter>,
  started: number,
): Promise<void> {
  const { environment, pr } = resolution;
  const production = environment === 'production';
  const comment = async (
    params: Omit<CommentParams, 'app' | 'environment' | 'at' | 'runUrl' | 'commit'>,
  ) => {
    if (!github || !inputs.comment || pr === undefined) return;
    await github.upsertComment(
      pr,
      commentMarker(config.app),
      commentBody({
        ...params,
        app: config.app,
        environment,
        at: new Date(),
        runUrl: ctx.runUrl,
        commit: resolution.sha,
      }),
    );
  };
  await comment({ status: 'deploying' });
  let deploymentId: number | undefined;
  if (github && inputs.deployment) {
    deploymentId = await github.createDeployment({
      ref: resolution.sha,
      environment,
      production,
      description: `toss deploy of ${config.app} to ${environment}`,
    });
    core.setOutput('deployment-id', String(deploymentId));
    await github.setDeploymentStatus(deploymentId, 'in_progress', { logUrl: ctx.runUrl });
  }
  try {
    const result = await deploy(
      {
        ...common,
        environment,
        sourceDir,
        origin: `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}`,
        commit: resolution.sha,
        ...(resolution.branch ? { branch: resolution.branch, ownedByBranch: true } : {}),
        ...(pr !== undefined ? { pr } : {}),
        overrides,
        onLockAcquired: (token) => State.lockAcquired(token, environment),
      },
      reporter.sink,
    );
    core.setOutput('url', result.url);
    core.setOutput('release', result.release);
    core.setOutput('action', 'deployed');
    if (deploymentId !== undefined) {
      await github!.setDeploymentStatus(deploymentId, 'success', {
        logUrl: ctx.runUrl,
        environmentUrl: result.url,
      });
    }
    // "live" only once Caddy answered over HTTPS (step 12); otherwise the URL is shown as pending.
    await comment({
      status: result.confirmed ? 'live' : 'deploying',
      url: result.url,
      release: result.release,
    });
    await writeSummary(config.app, [
      {
        environment,
        action: 'deployed',
        url: result.url,
        commit: resolution.sha,
        release: result.release,
        seconds: (performance.now() - started) / 1000,
      },
    ]);
  } catch (error) {
    const step = error instanceof StepError ? STEP_LABELS[error.step] : undefined;
    if (deploymentId !== undefined) {
      await github!
        .setDeploymentStatus(deploymentId, 'failure', {
          logUrl: ctx.runUrl,
          description: step ? `failed: ${step}` : 'failed',
        })
        .catch(() => undefined);
    }
    await comment({ status: 'failed', failedStep: step ?? 'deploy' }).catch(() => undefined);
    await writeSummary(config.app, [
      {
        environment,
        action: 'failed',
        commit: resolution.sha,
        seconds: (performance.now() - started) / 1000,
      },
    ]).catch(() => undefined);
    throw error;
  }
}

async function afterRemove(
  github: GitHubApi | undefined,
  inputs: ActionInputs,
  config: TossConfig,
  environment: string,
  ctx: RunnerContext,
  pr?: number,
): Promise<void> {
  if (!github) return;
  const number = pr ?? (/^pr-(\d+)$/.exec(environment) ? Number(environment.slice(3)) : undefined);
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

async function sweepQuietly(
  common: Common,
  isClosed: (pr: number) => Promise<boolean | undefined>,
  keep: string,
  sink: ReturnType<typeof actionReporter>['sink'],
): Promise<void> {
  try {
    await sweepClosedPreviews({ ...common, isClosed, keep }, sink);
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
