/**
 * The sweep: previews nobody needs any more go, so neither a lost `closed` event nor a forgotten
 * branch keeps one on the server for good. A preview goes when its pull request is closed, or
 * when its last deploy is older than production's `previews.ttl` (read from the policy the last
 * production deploy recorded, never from a preview's toss.json).
 */
import { isProduction, prNumberOf } from '../config/env-name.js';
import { durationSeconds } from '../config/schema.js';
import type { EnvironmentState, State } from '../server/state.js';
import type { EventSink } from './events.js';
import { remove } from './remove.js';
import type { TargetRequest } from './request.js';
import { openServer } from './session.js';

export interface SweepRequest extends Omit<TargetRequest, 'environment'> {
  /** whether pull request n is closed; undefined when unknown (then it is kept) */
  isClosed: (pr: number) => Promise<boolean | undefined>;
  /** an environment the current run just deployed: never swept */
  keep?: string | undefined;
  /** the time previews' ages are measured at (default: now) */
  now?: Date | undefined;
}

/** A preview past its time to live: why it goes. */
export interface ExpiredPreview {
  environment: string;
  deployedAt: string;
  ageSeconds: number;
}

/**
 * A pull request's preview (`pr-<n>`, or one that recorded its pull request) or a branch's own
 * preview. Environments deployed by name (staging, a demo) are someone's choice: the ttl leaves
 * them alone, however old.
 */
export function isDisposablePreview(name: string, env: EnvironmentState): boolean {
  if (isProduction(name)) return false;
  return env.pr !== undefined || prNumberOf(name) !== undefined || env.branchPreview === true;
}

/**
 * Previews whose last deploy is older than the recorded policy's `previews.ttl`, oldest first;
 * none when production recorded no ttl.
 */
export function expiredPreviews(
  state: State,
  now: Date,
  keep: string | undefined = undefined,
): ExpiredPreview[] {
  const ttl = state.policy?.previews?.ttl;
  if (ttl === undefined) return [];
  const ttlSeconds = durationSeconds(ttl);
  return Object.entries(state.environments)
    .filter(([name, env]) => name !== keep && isDisposablePreview(name, env))
    .map(([environment, env]) => ({
      environment,
      deployedAt: env.deployedAt,
      ageSeconds: Math.floor((now.getTime() - Date.parse(env.deployedAt)) / 1000),
    }))
    .filter((preview) => preview.ageSeconds > ttlSeconds)
    .sort((a, b) => b.ageSeconds - a.ageSeconds);
}

/** "15 days", "3 hours", "40 minutes", "12 seconds": an age as people say it. */
export function describeAge(seconds: number): string {
  const units: Array<[string, number]> = [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [name, size] of units) {
    if (seconds >= 2 * size) return `${Math.floor(seconds / size)} ${name}s`;
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

interface Candidates {
  expired: ExpiredPreview[];
  ttl: string | undefined;
  /** pull request previews not expired, to ask GitHub about */
  pulls: Array<[string, number]>;
}

async function readCandidates(request: SweepRequest, now: Date): Promise<Candidates> {
  const session = await openServer(request, request.config.app);
  try {
    const state = await session.readState();
    if (state === undefined) return { expired: [], ttl: undefined, pulls: [] };
    const expired = expiredPreviews(state, now, request.keep);
    const gone = new Set(expired.map((preview) => preview.environment));
    const pulls = Object.entries(state.environments)
      .map(([name, env]): [string, number | undefined] => [name, env.pr ?? prNumberOf(name)])
      .filter((c): c is [string, number] => c[1] !== undefined && c[0] !== request.keep)
      .filter(([name]) => !gone.has(name));
    return { expired, ttl: state.policy?.previews?.ttl, pulls };
  } finally {
    await session.close();
  }
}

/**
 * Removes previews past production's `previews.ttl` and previews whose pull request is closed,
 * saying why each one goes; returns the environments removed.
 */
export async function sweepClosedPreviews(
  request: SweepRequest,
  sink: EventSink,
): Promise<string[]> {
  const { expired, ttl, pulls } = await readCandidates(request, request.now ?? new Date());
  const removed: string[] = [];
  const removeOne = async (environment: string, why: string) => {
    sink({ type: 'notice', message: `sweep: ${why}, removing ${environment}` });
    const result = await remove({ ...request, environment, force: false }, sink);
    if (result.removed) removed.push(environment);
  };
  for (const preview of expired) {
    const age = describeAge(preview.ageSeconds);
    await removeOne(
      preview.environment,
      `${preview.environment} was last deployed ${age} ago (${preview.deployedAt}), longer than previews.ttl (${ttl})`,
    );
  }
  for (const [environment, pr] of pulls) {
    if ((await request.isClosed(pr)) !== true) continue;
    await removeOne(environment, `pull request #${pr} is closed`);
  }
  return removed;
}

/** The same sweep under the name that says all it does. */
export const sweepPreviews = sweepClosedPreviews;
