/**
 * The end of a deploy, once Caddy routes to the new release: switch `current` and retire the old
 * instance, prune releases, then record the deploy and release the lock in one write; meanwhile
 * the site is checked over HTTPS through Caddy on the server.
 */
import type { TossConfig } from '../config/schema.js';
import { siteCheckArgv } from '../server/health.js';
import type { EnvPaths } from '../server/paths.js';
import { policyFromConfig } from '../server/policy.js';
import { removeReleasesArgv, removeStagingArgv } from '../server/release-files.js';
import { releasesToPrune, staleStaging } from '../server/releases.js';
import {
  type DeployRecord,
  type EnvironmentState,
  recordDeploy,
  recordPolicy,
  recordPruned,
  type State,
} from '../server/state.js';
import { countIdleArgv, SLEEP_AGAIN_IN_USE, sleepIfQuietArgv } from '../server/wake.js';
import type { ServerView } from './deploy.js';
import type { EventSink } from './events.js';
import { switchTo } from './go-live.js';
import type { HeldLock } from './lock.js';
import type { DeployRequest } from './request.js';
import type { Server } from './server.js';
import { confirmTlsOf } from './server-files.js';
import { settleAll } from './settle.js';
import { step } from './step.js';

const PREVIEW_KEEP = 2;
const STALE_STAGING_MS = 60 * 60 * 1000;
const CONFIRM_NEW_NAME_SECONDS = 60;
const CONFIRM_KNOWN_NAME_SECONDS = 15;

/** The new release as it went live. */
export interface Routed {
  releaseId: string;
  ports: [number, number];
  /** the port it serves on */
  port: number;
  /** the port Caddy routed to before this deploy (undefined: none) */
  routedNow: number | undefined;
  before: EnvironmentState | undefined;
  hostName: string;
  url: string;
  /** a static site: Caddy serves the release's files, no instance runs */
  staticSite?: boolean;
  /** a sleeping environment: its idle time, and whether it slept when the deploy began */
  sleep?: { seconds: number; wasAsleep: boolean } | undefined;
  /** what the release was made from (fingerprint.ts) */
  fingerprint?: string | undefined;
  /** false: this server does not serve the site's name itself (a worker, or behind a front) */
  confirm?: boolean | undefined;
  /** the lock is released (with the record) only once this resolves (fleet.ts) */
  releaseAfter?: (() => Promise<void>) | undefined;
}

/**
 * Switch and prune side by side (they touch different things), then the record; the HTTPS check
 * only reads, so it runs alongside all of it. Resolves with whether the site answered.
 */
export async function finishDeploy(
  server: Server,
  request: DeployRequest,
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  lock: HeldLock,
  routed: Routed,
  sink: EventSink,
): Promise<boolean> {
  const record = deployRecord(request, view, routed);
  const keep = env.isProduction ? config.keepReleases : PREVIEW_KEEP;
  const doomed = releasesToRemove(lock.state, env, view, record, keep);
  const confirming =
    routed.confirm === false
      ? Promise.resolve(true)
      : step(
          sink,
          'confirm',
          () =>
            confirmSite(
              server,
              routed.hostName,
              routed.url,
              confirmTlsOf(config, env),
              !routed.before,
              sink,
            ),
          (ok) => (ok ? routed.url : 'not yet'),
        );
  const recording = (async () => {
    const target = { ...routed, sleeps: routed.sleep !== undefined };
    await settleAll([
      step(
        sink,
        'switch',
        // What served until now: where Caddy routed, or what state says if it routed nowhere.
        () => switchTo(server, env, target, servedUntilNow(routed), config.drainTimeout),
        () => routed.releaseId,
      ),
      prune(server, env, doomed, sink),
      // An environment that was awake counts its idle time from now: its proxy (for the new port,
      // which neither the switch nor the prune touches) starts beside them, not after.
      routed.sleep !== undefined && !routed.sleep.wasAsleep
        ? server.batch([countIdleArgv(env, routed.port)])
        : Promise.resolve(undefined),
    ] as const);
    await sleepAgain(server, env, routed, confirming, sink);
    await routed.releaseAfter?.();
    await lock.finish((state) => recordFinished(state, config, env, record, doomed.pruned));
  })();
  const [, confirmed] = await settleAll([recording, confirming] as const);
  return confirmed;
}

/**
 * A sleeping environment that slept when the deploy began goes back to sleep once the check
 * through Caddy (which woke it) is done, unless requests woke it meanwhile and are being served:
 * then it stays awake until its idle time (sleepIfQuietArgv). Under the lock, so no later
 * deploy's instance is put to sleep. (One that was awake started counting its idle time beside
 * the switch.)
 */
async function sleepAgain(
  server: Server,
  env: EnvPaths,
  routed: Routed,
  confirming: Promise<boolean>,
  sink: EventSink,
): Promise<void> {
  if (routed.sleep?.wasAsleep !== true) return;
  await confirming.catch(() => false);
  await step(
    sink,
    'sleep',
    () => server.batch([sleepIfQuietArgv(env, routed.port)]),
    (result) =>
      result.stdout.includes(SLEEP_AGAIN_IN_USE)
        ? 'woken by requests during the deploy: awake until idle'
        : 'asleep again, as before the deploy',
  );
}

function servedUntilNow(routed: Routed): number | undefined {
  return routed.routedNow ?? routed.before?.livePort;
}

function deployRecord(request: DeployRequest, view: ServerView, routed: Routed): DeployRecord {
  const record: DeployRecord = {
    release: routed.releaseId,
    ports: routed.ports,
    livePort: routed.port,
    commit: request.commit,
    deployedAt: new Date().toISOString(),
    by: request.actor.by,
    runUrl: request.actor.runUrl,
    branch: request.branch,
    branchPreview: request.ownedByBranch === true,
    pr: request.pr,
    staticSite: routed.staticSite,
    sleepAfter: routed.sleep?.seconds,
    fingerprint: routed.fingerprint,
  };
  // What served until now, if state does not know it (a run killed after routing).
  const replaced =
    routed.routedNow === undefined ? undefined : view.links.get(String(routed.routedNow));
  if (
    replaced !== undefined &&
    replaced !== routed.before?.release &&
    view.onDisk.includes(replaced)
  ) {
    record.replaced = replaced;
  }
  return record;
}

/** What to remove once the deploy is recorded: pruned releases, orphans and stale staging. */
function releasesToRemove(
  state: State,
  env: EnvPaths,
  view: ServerView,
  record: DeployRecord,
  keep: number,
): { pruned: string[]; releases: string[]; staging: string[] } {
  // What state will say once recorded: which releases stay.
  const recorded = recordDeploy(state, env.environment, record).environments[env.environment]!;
  const pruned = releasesToPrune(recorded.releases, {
    keep,
    live: recorded.release,
    previous: recorded.previousRelease,
  });
  // Leftovers of crashed deploys are on disk but not in state (the release that served until
  // now is in it: see `replaced`).
  const known = new Set(recorded.releases);
  const orphans = view.onDisk.filter((id) => !known.has(id));
  // A staging directory that old is a crashed run's: uploads take seconds, not an hour.
  const staging = staleStaging(view.staging, new Date(), STALE_STAGING_MS);
  return { pruned, releases: [...pruned, ...orphans], staging };
}

/** The `prune` step. */
function prune(
  server: Server,
  env: EnvPaths,
  doomed: { releases: string[]; staging: string[] },
  sink: EventSink,
): Promise<number> {
  const { releases, staging } = doomed;
  return step(
    sink,
    'prune',
    async () => {
      if (releases.length + staging.length === 0) return 0;
      await server.batch([
        ...(releases.length ? [removeReleasesArgv(env, releases)] : []),
        ...(staging.length ? [removeStagingArgv(env, staging)] : []),
      ]);
      return releases.length + staging.length;
    },
    (n) => (n ? `${n} removed` : undefined),
  );
}

/** The deploy's record; production's also records what previews may do from now on. */
function recordFinished(
  state: State,
  config: TossConfig,
  env: EnvPaths,
  record: DeployRecord,
  pruned: string[],
): State {
  const next = recordPruned(recordDeploy(state, env.environment, record), env.environment, pruned);
  return env.isProduction
    ? recordPolicy(next, policyFromConfig(config, record.release, new Date()))
    : next;
}

/** The `confirm` step: the site answers through Caddy on the server; a new name may wait. */
async function confirmSite(
  server: Server,
  hostName: string,
  url: string,
  tls: 'auto' | 'internal' | 'off',
  newName: boolean,
  sink: EventSink,
): Promise<boolean> {
  const result = await server.root(
    siteCheckArgv({
      hostName,
      tls,
      timeoutSec: newName ? CONFIRM_NEW_NAME_SECONDS : CONFIRM_KNOWN_NAME_SECONDS,
    }),
    { allowFailure: true },
  );
  if (result.code === 0) return true;
  const caddyLog = await server.root(
    ['journalctl', '--no-pager', '-u', 'caddy', '-n', '200', '-o', 'cat'],
    { allowFailure: true },
  );
  const line = caddyLog.stdout
    .split('\n')
    .filter((l) => l.includes(hostName))
    .pop();
  sink({
    type: 'warning',
    message: `${url} did not answer through Caddy yet (the certificate may still be on its way): ${line ?? result.stderr.trim()}`,
  });
  return false;
}
