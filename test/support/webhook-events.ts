/**
 * Real webhook payloads from @octokit/webhooks-examples, and payloads derived from them by
 * setting a few listed fields, never written whole by hand. Every helper returns a fresh clone.
 */
import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';

export type EventName = WebhookDefinition['name'];
export type Payload<N extends EventName> = WebhookDefinition<N>['examples'][number];
type PullRequestPayload = Payload<'pull_request'>;
type PushPayload = Payload<'push'>;
type DeletePayload = Payload<'delete'>;

const definitions = createRequire(import.meta.url)(
  '@octokit/webhooks-examples/api.github.com/index.json',
) as WebhookDefinition[];

/**
 * The first real example of `name` whose `action` equals `match` (a string) or that satisfies
 * `match` (a predicate); any example when `match` is left out.
 */
export function example<N extends EventName>(
  name: N,
  match?: string | ((payload: Payload<N>) => boolean),
): Payload<N> {
  const definition = definitions.find((d) => d.name === name) as WebhookDefinition<N> | undefined;
  if (!definition) throw new Error(`@octokit/webhooks-examples has no ${name} event`);
  const found = definition.examples.find((payload) =>
    match === undefined
      ? true
      : typeof match === 'string'
        ? (payload as { action?: string }).action === match
        : match(payload),
  );
  if (!found)
    throw new Error(`@octokit/webhooks-examples has no ${name} example matching ${match}`);
  return structuredClone(found);
}

/** The real push of a branch (refs/heads/master, the example repository's default branch). */
export function branchPushExample(): PushPayload {
  return example('push', (p) => p.ref.startsWith('refs/heads/') && !p.deleted);
}

/** Sets: head.repo.fork, head.repo.full_name, head.repo.owner.login, head.label. */
export function forkPr<P extends PullRequestPayload>(base: P, owner = 'someone'): P {
  const payload = structuredClone(base);
  const head = payload.pull_request.head;
  if (!head.repo) throw new Error('forkPr: the example has no head repository');
  head.repo.fork = true;
  head.repo.full_name = `${owner}/${head.repo.name}`;
  head.repo.owner.login = owner;
  head.label = `${owner}:${head.ref}`;
  return payload;
}

/** Sets: head.repo = null (GitHub's payload once the fork is deleted). */
export function deletedForkPr<P extends PullRequestPayload>(base: P): P {
  const payload = structuredClone(base);
  payload.pull_request.head.repo = null;
  return payload;
}

/** Sets: merged = true, merged_at = closed_at (every real closed example is unmerged). */
export function mergedClose<P extends PullRequestPayload>(base: P): P {
  const payload = structuredClone(base);
  const pr = payload.pull_request as { merged: boolean | null; merged_at: string | null };
  pr.merged = true;
  pr.merged_at = payload.pull_request.closed_at ?? '2019-05-15T15:21:18Z';
  return payload;
}

/** Sets: ref = refs/tags/<tag>, base_ref = null. */
export function tagPush(push: PushPayload, tag = 'v1.0.0'): PushPayload {
  const payload = structuredClone(push);
  payload.ref = `refs/tags/${tag}`;
  payload.base_ref = null;
  return payload;
}

/** Sets: ref = refs/heads/<branch>. */
export function branchPush(push: PushPayload, branch: string): PushPayload {
  const payload = structuredClone(push);
  payload.ref = `refs/heads/${branch}`;
  return payload;
}

/**
 * A branch delete from the real (tag) delete example. Sets: ref = the short branch name,
 * ref_type = 'branch' (pusher_type is already 'user').
 */
export function deletePayload(base: DeletePayload, branch: string): DeletePayload {
  const payload = structuredClone(base);
  payload.ref = branch;
  payload.ref_type = 'branch';
  return payload;
}

/**
 * The package has no schedule example; derived from workflow_dispatch (same repository,
 * organization, sender, workflow). Deletes: inputs, ref. Sets: schedule.
 */
export function schedulePayload(cron = '0 4 * * *'): Record<string, unknown> {
  const { inputs: _inputs, ref: _ref, ...rest } = example('workflow_dispatch');
  return { ...rest, schedule: cron };
}

/**
 * A workflow_run after a fork's pull_request run, from the real `requested` example. Sets:
 * workflow_run.event = 'pull_request', head_branch, head_repository.full_name,
 * head_repository.owner.login, head_repository.fork (pull_requests is already empty, as GitHub
 * sends it for a fork's head).
 */
export function forkWorkflowRun(owner = 'someone', branch = 'patch-1'): Payload<'workflow_run'> {
  const payload = example('workflow_run', 'requested');
  const run = payload.workflow_run;
  run.event = 'pull_request';
  run.head_branch = branch;
  run.head_repository.full_name = `${owner}/${run.head_repository.name}`;
  run.head_repository.owner.login = owner;
  run.head_repository.fork = true;
  return payload;
}
