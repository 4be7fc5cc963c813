import { z } from 'zod';
import { isProduction, prNumberEnv, validateEnvName } from '../config/env-name.js';
import { formatPath, formatValue } from '../config/errors-format.js';
import type { TossConfig } from '../config/schema.js';
import { ConfigError, TossError } from '../errors.js';
import { targetForBranch } from './branch-match.js';
import type { ActionInputs } from './inputs.js';

/** The run as the runner describes it. */
export interface RunEvent {
  /** GITHUB_EVENT_NAME */
  name: string;
  /** the parsed JSON at GITHUB_EVENT_PATH */
  payload: unknown;
  /** GITHUB_REF (for pull_request: refs/pull/<n>/merge) */
  ref: string;
  /** GITHUB_SHA (for pull_request: the merge commit, never deployed) */
  sha: string;
}

/**
 * What this run does. `pr` and `branch` name the pull request or branch that owns the environment
 * (pr-<n>, or a preview named after a branch); the sweep and state key on them, so they are left
 * out when the environment input names another environment.
 */
export type Resolution =
  | {
      kind: 'deploy';
      environment: string;
      ref?: string;
      /** the commit deployed; for pull requests the head commit, not GITHUB_SHA's merge commit */
      sha: string;
      pr?: number;
      branch?: string;
    }
  | { kind: 'remove'; environment: string; pr?: number; branch?: string }
  | { kind: 'sweep' }
  | { kind: 'skip'; reason: string };

export type ResolveInputs = Pick<ActionInputs, 'command' | 'environment' | 'sshKey'>;

/** The event payload lacks a field GitHub always sends: the run was not started by GitHub as expected. */
export class EventPayloadError extends TossError {
  override name = 'EventPayloadError';
}

/** What the event alone asks for, before inputs; `reason` says why nothing (or no environment) resolved. */
interface Intent {
  kind: 'deploy' | 'remove' | 'sweep' | 'skip';
  environment?: string;
  reason?: string;
  /** a skip no input lifts: forks (threat model), deleted pushes */
  final?: boolean;
  ref?: string;
  sha?: string;
  pr?: number;
  branch?: string;
}

/**
 * The events whose runs carry code that someone with write access chose (a run deploys that code
 * with the server key, so no one else may choose it):
 * pushes, pull requests from the repository itself (forks are refused in fromPullRequest),
 * branch deletions, and schedules and dispatches, which run a branch's own workflow. Every other
 * event is refused before any input is read, toss.json loaded or the server contacted.
 */
const TRUSTED_EVENTS = new Set(['push', 'pull_request', 'delete', 'workflow_dispatch', 'schedule']);
const TRUSTED_LIST = 'push, same-repository pull_request, delete, workflow_dispatch and schedule';

const REVIEW_WHY =
  'anyone who can comment on a pull request starts it, the pull request may come from a fork, and the run gets the secrets (deploy from pull_request)';

/** Why the events people most often try are refused; the rest get the general reason. */
const REFUSED_WHY = new Map<string, string>(
  Object.entries({
    pull_request_target:
      "it gives a fork's code the repository's secrets, which hands the server to strangers (use pull_request; fork pull requests are skipped there)",
    workflow_run:
      "it runs with the repository's secrets after any workflow, a fork's pull request run included, and the commit, branch and artifacts it names may be that fork's (deploy from the push or pull_request run itself)",
    issue_comment:
      'anyone who can comment starts it, the pull request it names may come from a fork, and the run gets the secrets (deploy from pull_request, or from workflow_dispatch run by someone with write access)',
    pull_request_review: REVIEW_WHY,
    pull_request_review_comment: REVIEW_WHY,
    merge_group:
      "its commit combines queued pull requests that are not merged yet, forks' included (production deploys from the push once the queue has merged)",
  }),
);

/**
 * Why a run of `eventName` must never deploy, remove or sweep, whatever its inputs; undefined for
 * the trusted events. A sweep is refused too: it needs the key as much as a deploy does, and the
 * next trusted run sweeps anyway, so refusing it costs nothing and keeps the rule one line long.
 */
export function refusedEvent(eventName: string): string | undefined {
  if (TRUSTED_EVENTS.has(eventName)) return undefined;
  const why =
    REFUSED_WHY.get(eventName) ??
    `toss acts only on ${TRUSTED_LIST}, whose code someone with write access chose (to deploy a tag, run on its push with the environment input)`;
  return `${shown(eventName)} events never deploy or remove, whatever the inputs: ${why}`;
}

const PR_DEPLOY_ACTIONS = new Set(['opened', 'synchronize', 'reopened']);

const commitSha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'expected a commit SHA');
const repository = z.object({ default_branch: z.string().min(1) });
const repoName = z.object({ full_name: z.string().min(1) });

const pushPayload = z.object({
  ref: z.string().min(1),
  after: commitSha,
  deleted: z.boolean(),
  repository,
});
const pullRequestPayload = z.object({
  action: z.string(),
  pull_request: z.object({
    number: z.number().int().positive(),
    // head.repo is null once a fork is deleted
    head: z.object({ ref: z.string().min(1), sha: commitSha, repo: repoName.nullable() }),
    base: z.object({ repo: repoName }),
  }),
});
const deletePayload = z.object({
  ref: z.string().min(1),
  ref_type: z.enum(['branch', 'tag']),
  repository,
});
const dispatchPayload = z.object({ repository });

/**
 * Decides from the event, the inputs and toss.json `branches` what the action does. Pure: the
 * caller reads the runner's environment, renders `skip` reasons as notices, and runs the rest.
 * Throws ConfigError for a bad input or mapping, EventPayloadError for a malformed payload.
 */
export function resolveRun(
  event: RunEvent,
  inputs: ResolveInputs,
  config: Pick<TossConfig, 'branches'>,
): Resolution {
  // An untrusted event is refused before its inputs are even validated: no input may lift it.
  const refused = refusedEvent(event.name);
  if (refused !== undefined) return skip(refused);
  // Checked before the event is read so a bad input fails every trusted run, not only the ones that deploy.
  const override = inputs.environment
    ? validateEnvName(inputs.environment, 'input environment')
    : undefined;
  const intent = fromEvent(event, config);
  if (intent.kind === 'skip' && intent.final) return skip(intent.reason);

  const { command } = inputs;
  const kind = command === 'auto' ? intent.kind : command;
  if (kind === 'skip') return skip(intent.reason);
  if (kind === 'sweep') return requireKey(inputs, { kind: 'sweep' }, 'swept');

  const forced = command !== 'auto';
  const environment = override ?? intent.environment;
  if (!environment) return withoutEnvironment(event, command, intent);

  const meta = ownership(override, intent);
  if (kind === 'remove') return resolveRemove(event, inputs, forced, { environment, ...meta });
  const ref = intent.ref ?? (event.ref || undefined);
  const sha = intent.sha ?? event.sha;
  return requireKey(
    inputs,
    { kind: 'deploy', environment, ...defined({ ref }), sha, ...meta },
    'deployed',
  );
}

/**
 * A deploy or remove that resolved to no environment: a notice when the event chose the command,
 * a ConfigError when the command input forced it.
 */
function withoutEnvironment(
  event: RunEvent,
  command: ResolveInputs['command'],
  intent: Intent,
): Resolution {
  if (command === 'auto') return skip(intent.reason);
  throw new ConfigError([
    `input command: ${command} needs an environment, and this ${event.name} event resolves to none${intent.reason ? ` (${intent.reason})` : ''}: set the environment input`,
  ]);
}

/**
 * The pull request or branch that owns the environment, when it is the event's own. An
 * environment named by the input is not the PR's or branch's own: never let a sweep claim it.
 */
function ownership(override: string | undefined, intent: Intent): Pick<Intent, 'pr' | 'branch'> {
  const owned = override === undefined || override === intent.environment;
  return owned ? defined({ pr: intent.pr, branch: intent.branch }) : {};
}

/** Removes `target.environment`, except production, which the action refuses to remove. */
function resolveRemove(
  event: RunEvent,
  inputs: ResolveInputs,
  forced: boolean,
  target: { environment: string; pr?: number; branch?: string },
): Resolution {
  if (isProduction(target.environment)) {
    const why =
      'production is never removed by the action (from a terminal: toss remove production --force)';
    if (forced) throw new ConfigError([`input command: remove: ${why}`]);
    return skip(`${event.name}: ${why}`);
  }
  return requireKey(inputs, { kind: 'remove', ...target }, 'removed');
}

function fromEvent(event: RunEvent, config: Pick<TossConfig, 'branches'>): Intent {
  switch (event.name) {
    case 'pull_request':
      return fromPullRequest(event);
    case 'push':
      return fromPush(event, config);
    case 'delete':
      return fromDelete(event, config);
    case 'workflow_dispatch':
      return fromDispatch(event, config);
    case 'schedule':
      return { kind: 'sweep' };
    default:
      // resolveRun refuses every other event first; kept final in case the two lists drift apart.
      return { kind: 'skip', final: true, reason: refusedEvent(event.name) };
  }
}

function fromPullRequest(event: RunEvent): Intent {
  const { action, pull_request: pr } = parsePayload(pullRequestPayload, event);
  const subject = `pull request #${pr.number}`;
  const headRepo = pr.head.repo;
  // Compared by name, not by `head.repo.fork`: that flag is also true for same-repository PRs in a forked repository.
  if (headRepo === null || headRepo.full_name !== pr.base.repo.full_name) {
    const from = headRepo === null ? 'a deleted fork' : `a fork (${shown(headRepo.full_name)})`;
    const why =
      action === 'closed'
        ? 'forks never deploy, so there is no preview to remove'
        : 'forks never deploy, their runs get no secrets';
    return { kind: 'skip', final: true, reason: `${subject} from ${from}: ${why}` };
  }
  const environment = prNumberEnv(pr.number);
  const target = {
    environment,
    pr: pr.number,
    ref: `refs/heads/${pr.head.ref}`,
    sha: pr.head.sha,
  };
  if (PR_DEPLOY_ACTIONS.has(action)) return { kind: 'deploy', ...target };
  if (action === 'closed') return { kind: 'remove', ...target };
  return {
    kind: 'skip',
    ...target,
    reason: `${subject} ${shown(action)}: only opened, synchronize and reopened deploy ${environment}, and closed removes it`,
  };
}

function fromPush(event: RunEvent, config: Pick<TossConfig, 'branches'>): Intent {
  const push = parsePayload(pushPayload, event);
  if (push.deleted) {
    return {
      kind: 'skip',
      final: true,
      reason: `push deleting ${shown(push.ref)}: nothing to deploy (the delete event removes a branch's preview)`,
    };
  }
  const intent: Intent = { kind: 'deploy', ref: push.ref, sha: push.after };
  const branch = branchOf(push.ref);
  if (branch === undefined) {
    const why = push.ref.startsWith('refs/tags/')
      ? 'tags are not deployed (set the environment input to deploy them)'
      : 'not a branch';
    return { ...intent, reason: `push to ${shown(push.ref)}: ${why}` };
  }
  return {
    ...intent,
    ...fromBranch(`push to ${shown(branch)}`, branch, config, push.repository.default_branch),
  };
}

function fromDelete(event: RunEvent, config: Pick<TossConfig, 'branches'>): Intent {
  const deleted = parsePayload(deletePayload, event);
  if (deleted.ref_type === 'tag') {
    return {
      kind: 'skip',
      reason: `delete of tag ${shown(deleted.ref)}: tags have no environments`,
    };
  }
  // The delete payload's ref is the short branch name; GITHUB_REF is the default branch.
  const branch = deleted.ref;
  const subject = `delete of branch ${shown(branch)}`;
  const target = targetForBranch(config.branches, branch, deleted.repository.default_branch);
  const intent: Intent = { kind: 'remove' };
  if (target?.preview) return { ...intent, environment: target.environment, branch };
  if (target === undefined) {
    return {
      ...intent,
      reason: `${subject}: no preview is mapped to this branch in toss.json branches`,
    };
  }
  const why = isProduction(target.environment)
    ? 'it maps to production, which the action never removes'
    : `it maps to ${target.environment}, a named environment, which a branch delete never removes (from a terminal: toss remove ${target.environment})`;
  return { ...intent, reason: `${subject}: ${why}` };
}

function fromDispatch(event: RunEvent, config: Pick<TossConfig, 'branches'>): Intent {
  const dispatch = parsePayload(dispatchPayload, event);
  const intent: Intent = { kind: 'deploy', ref: event.ref, sha: event.sha };
  const branch = branchOf(event.ref);
  const hint = 'set the environment input to choose one';
  if (branch === undefined) {
    return {
      ...intent,
      reason: `workflow_dispatch on ${shown(event.ref)}: only branches map to environments (${hint})`,
    };
  }
  const resolved = fromBranch(
    `workflow_dispatch on ${shown(branch)}`,
    branch,
    config,
    dispatch.repository.default_branch,
  );
  return {
    ...intent,
    ...resolved,
    ...(resolved.reason ? { reason: `${resolved.reason}; ${hint}` } : {}),
  };
}

/** The environment `branch` maps to, or a reason naming `subject` when none does. */
function fromBranch(
  subject: string,
  branch: string,
  config: Pick<TossConfig, 'branches'>,
  defaultBranch: string,
): Pick<Intent, 'environment' | 'branch' | 'reason'> {
  const target = targetForBranch(config.branches, branch, defaultBranch);
  // Only a preview named after the branch belongs to it; production or staging do not.
  if (target) return { environment: target.environment, ...(target.preview ? { branch } : {}) };
  const fallback = config.branches
    ? ''
    : ` (default: only the default branch ${shown(defaultBranch)} deploys, to production)`;
  return {
    reason: `${subject}: no environment is mapped to this branch in toss.json branches${fallback}`,
  };
}

function branchOf(ref: string): string | undefined {
  const prefix = 'refs/heads/';
  return ref.startsWith(prefix) && ref.length > prefix.length
    ? ref.slice(prefix.length)
    : undefined;
}

/** A run that would touch the server needs the key; without it, a notice instead of a failure. */
function requireKey(inputs: ResolveInputs, resolution: Resolution, done: string): Resolution {
  if (inputs.sshKey.trim()) return resolution;
  return skip(
    `no ssh-key input: nothing ${done} (add the secret to run deploys: the server's private key, passed as ssh-key)`,
  );
}

function skip(reason: string | undefined): Resolution {
  return { kind: 'skip', reason: reason ?? 'nothing to do for this event' };
}

function parsePayload<T>(schema: z.ZodType<T>, event: RunEvent): T {
  const result = schema.safeParse(event.payload);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length ? formatPath(issue.path) : '(payload)'}: ${issue.message}`,
  );
  throw new EventPayloadError(
    `the ${event.name} event payload (GITHUB_EVENT_PATH) is not what GitHub sends: ${problems.join('; ')}`,
  );
}

/** Names from outside (branches, refs) as they appear in a notice: bare when plain, else quoted and escaped. */
function shown(name: string): string {
  return /^[\x21-\x7e]{1,100}$/.test(name) ? name : formatValue(name);
}

function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
