/**
 * How a deploy puts its release in place: the upload that starts before the lock, then, side by
 * side under the lock, the environment's names, ports and env files on one hand and the release
 * directory (renamed from staging, its persistent dirs linked, opened to the build) on the other.
 */
import { PRODUCTION } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import {
  applyOverrideArgs,
  mergeEnv,
  serializeEnvFile,
  tossVariables,
} from '../server/env-file.js';
import { ensureUsersArgv, prepareEnvironmentArgv } from '../server/layout.js';
import { type EnvPaths, envPaths, INCOMING_DIR, incomingDir, SRV_ROOT } from '../server/paths.js';
import { choosePorts } from '../server/ports.js';
import {
  claimNames,
  environmentUnits,
  type Registry,
  serializeRegistry,
  setRegistryOrigin,
} from '../server/registry.js';
import {
  adoptStagingArgv,
  linkPersistentDirsArgv,
  openReleaseForBuildArgv,
  prepareIncomingArgv,
  removeIncomingArgv,
  removeStagingArgv,
} from '../server/release-files.js';
import { newReleaseId } from '../server/releases.js';
import type { EnvironmentState, State } from '../server/state.js';
import { writeFileIfChangedArgv } from '../server/write-file.js';
import type { ServerView } from './deploy.js';
import type { EventSink } from './events.js';
import { idlePort } from './go-live.js';
import type { DeployRequest } from './request.js';
import type { Server } from './server.js';
import { settleAll } from './settle.js';
import { step, stepSince } from './step.js';

/** The upload as it began alongside the lock: its staging id, when, and whether it went through. */
export interface StartedUpload {
  env: EnvPaths;
  id: string;
  started: number;
  abort: AbortController;
  /** false when it could not run before the lock (the environment's first deploy) or failed */
  early: Promise<boolean>;
  /**
   * A first upload's directory under INCOMING_DIR (the environment had no directories to stage
   * in); undefined when staging is `releases/.incoming-<id>`.
   */
  incoming: string | undefined;
  /** set once the deploy's own cleanup covers the staging directory (abandon leaves it then) */
  handedOver: boolean;
}

/**
 * What a preview's first upload hard-links unchanged files from: production's live release of the
 * same app on this server, as `state` shows it. A pull request's tree is mostly its base branch's,
 * so a new preview sends what it changed, not the whole tree. Undefined for production itself and
 * when the server has no production release.
 *
 * Nothing of production's can change through the links: rsync links only files that are root's
 * (`--chown=root:root`, see rsync.ts), which no app can write, and no symlink on the way to them
 * is followed (`confineTo` SRV_ROOT, see no-follow.ts). Production's files are only read.
 */
export function linkFromProduction(env: EnvPaths, state: State | undefined): string | undefined {
  if (env.isProduction) return undefined;
  const release = state?.environments[PRODUCTION]?.release;
  return release === undefined ? undefined : envPaths(env.app, PRODUCTION).releaseDir(release);
}

/**
 * Starts uploading into a staging directory before the lock is held. Its name says when it began
 * (for clearing a crashed run's); the release id comes with the lock, so release ids sort in the
 * order releases were made. `first`: the state read before the lock has no such environment, so
 * it has no releases directory to stage in (its directories are made under the lock): the upload
 * goes to a directory of its own under INCOMING_DIR instead, renamed into place under the lock,
 * its unchanged files linked from `linkFrom` (linkFromProduction) when there is one, once
 * INCOMING_DIR is `prepared` (prepareIncoming, begun beside the state read).
 */
export function startUpload(
  server: Server,
  request: DeployRequest,
  env: EnvPaths,
  staging: {
    first: boolean;
    linkFrom?: string | undefined;
    prepared?: Promise<unknown> | undefined;
  },
): StartedUpload {
  const { first, linkFrom, prepared } = staging;
  const id = newReleaseId(new Date());
  const abort = new AbortController();
  const started = performance.now();
  const incoming = first ? incomingDir(env.app, env.environment, id) : undefined;
  const params = {
    sourceDir: request.sourceDir,
    excludes: request.config.exclude,
    built: request.config.build !== undefined,
    signal: abort.signal,
  };
  const upload =
    incoming === undefined
      ? server.upload({
          ...params,
          releaseDir: env.stagingDir(id),
          // Unchanged files become hard links to whatever is live (rsync follows the link).
          linkDest: env.currentLink,
          confineTo: env.releasesDir,
        })
      : (prepared ?? prepareIncoming(server)).then(() =>
          server.upload({
            ...params,
            releaseDir: incoming,
            ...firstUploadLinks(INCOMING_DIR, linkFrom),
          }),
        );
  // Without a releases directory (a first deploy the state did not show as one) rsync fails at
  // once; then the upload runs again under the lock and reports for itself.
  const early = upload.then(
    () => true,
    () => false,
  );
  return { env, id, started, abort, early, incoming, handedOver: false };
}

/**
 * Makes INCOMING_DIR ready for a first upload. A deploy starts this beside its first state read,
 * before it knows whether the environment is new: one short command in parallel, and a new
 * environment's upload then starts as soon as the read says it is new. INCOMING_DIR is root's
 * and holds nothing of an environment's until its upload fills a directory of its own there.
 */
export function prepareIncoming(server: Server): Promise<unknown> {
  const prepared = server.root(prepareIncomingArgv());
  // A failure is the upload's to report, when there is one.
  prepared.catch(() => {});
  return prepared;
}

/**
 * Where a first upload links from, and the directory no symlink is followed under: the staging
 * directory's own (`within`) without a release to link from; otherwise SRV_ROOT, the one mount
 * that holds both (a hard link cannot cross mounts, and each bind mount is one).
 */
function firstUploadLinks(
  within: string,
  linkFrom: string | undefined,
): { linkDest: string | undefined; confineTo: string } {
  return linkFrom === undefined
    ? { linkDest: undefined, confineTo: within }
    : { linkDest: linkFrom, confineTo: SRV_ROOT };
}

/** Removes what the upload made, wherever it staged (after a failure, or with no lock). */
export function removeUploadArgv(upload: StartedUpload): string[] {
  return upload.incoming === undefined
    ? removeStagingArgv(upload.env, [upload.id])
    : removeIncomingArgv(upload.incoming);
}

/** What the environment is to be known by, decided before anything is placed. */
export interface Claim {
  hostName: string;
  /** the environment's public URL, for TOSS_URL */
  url: string;
  origin: string;
  before: EnvironmentState | undefined;
  /** the port Caddy routes to now (what state says, if Caddy routes nowhere) */
  livePort: number | undefined;
  releaseId: string;
  /** a first upload's release to link from (linkFromProduction), read under the lock */
  linkFrom: string | undefined;
}

/**
 * Names, ports and env files side by side with the release directory; resolves with the
 * environment's two ports once both are done (a failure never leaves the other unwatched).
 */
export async function placeRelease(
  server: Server,
  request: DeployRequest,
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  claim: Claim,
  upload: StartedUpload,
  sink: EventSink,
): Promise<[number, number]> {
  const claimed = claimNamesAndPorts(server, config, env, view, claim, sink);
  const [ports] = await settleAll([
    claimed.then(async (ports) => {
      const port = idlePort(ports, claim.livePort);
      const database = config.database !== undefined;
      await writeEnvFiles(server, env, view, request.overrides, claim, port, database, sink);
      return ports;
    }),
    finishUpload(server, request, env, claim, upload, claimed, sink),
  ] as const);
  return ports;
}

/**
 * The `names` step: the host name, ports and unit names in the registry (a redeploy claims what
 * it has: no write), the app's users and the environment's directories.
 */
function claimNamesAndPorts(
  server: Server,
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  claim: Claim,
  sink: EventSink,
): Promise<[number, number]> {
  return step(
    sink,
    'names',
    async () => {
      // Ports are chosen from the registry the claim is made in (read under its lock), not the one
      // read earlier: another app's first deploy may have claimed the ports that looked free.
      const portsIn = (registry: Registry) =>
        registry.apps[env.app]?.environments[env.environment]?.ports ??
        claim.before?.ports ??
        choosePorts(registry, view.listening);
      const claimed = (registry: Registry) =>
        setRegistryOrigin(
          claimNames(registry, env.app, env.environment, {
            ports: portsIn(registry),
            hostNames: [claim.hostName],
            units: environmentUnits(env),
          }),
          env.app,
          claim.origin,
        );
      let registry = view.registry;
      if (serializeRegistry(claimed(registry)) !== serializeRegistry(registry)) {
        registry = await server.updateRegistry(claimed);
      }
      const ports = portsIn(registry);
      await server.batch([
        ensureUsersArgv(env.app),
        prepareEnvironmentArgv(env, config.persistentDirs, {
          staticSite: config.static !== undefined,
        }),
      ]);
      return ports;
    },
    (p) => `${claim.hostName}, ports ${p[0]}/${p[1]}`,
  );
}

/**
 * The `prepare` step: the environment's overrides and the release's env file (secrets, overrides
 * and toss's own variables for the port it starts on, its database's when it has one). Secret values travel on stdin only; the
 * one command reading it is the file writer.
 */
function writeEnvFiles(
  server: Server,
  env: EnvPaths,
  view: ServerView,
  overrideArgs: string[],
  claim: Claim,
  port: number,
  database: boolean,
  sink: EventSink,
): Promise<void> {
  const { releaseId, url } = claim;
  return step(sink, 'prepare', async () => {
    const overrides = applyOverrideArgs(view.overrides, overrideArgs);
    const overridesText = serializeEnvFile(overrides);
    const variables = tossVariables({
      app: env.app,
      environment: env.environment,
      releaseId,
      port,
      url,
      database,
    });
    const releaseEnv = mergeEnv(view.secrets, overrides, variables);
    await settleAll([
      overridesText === serializeEnvFile(view.overrides)
        ? Promise.resolve(undefined)
        : server.guarded(writeFileIfChangedArgv({ path: env.overridesFile, mode: 0o600 }), {
            stdin: overridesText,
          }),
      server.guarded(writeFileIfChangedArgv({ path: env.releaseEnvFile(releaseId), mode: 0o600 }), {
        stdin: serializeEnvFile(releaseEnv),
      }),
    ] as const);
  });
}

/**
 * The `upload` step, timed from when the upload began: once the names are claimed (they made the
 * environment's directories), the copy that could not run before the lock runs now; then the
 * staging directory becomes the release, its persistent dirs linked and opened to the build.
 */
function finishUpload(
  server: Server,
  request: DeployRequest,
  env: EnvPaths,
  claim: Claim,
  upload: StartedUpload,
  claimed: Promise<unknown>,
  sink: EventSink,
): Promise<string | undefined> {
  return stepSince(
    upload.started,
    sink,
    'upload',
    async () => {
      const alongside = await upload.early;
      // A refused claim fails the deploy on its own; the staging copy goes with the cleanup.
      const claimedOk = await claimed.then(
        () => true,
        () => false,
      );
      if (!claimedOk) return 'not placed';
      if (!alongside) {
        await server.upload({
          sourceDir: request.sourceDir,
          releaseDir: env.stagingDir(upload.id),
          ...(claim.before
            ? { linkDest: env.releaseDir(claim.before.release), confineTo: env.releasesDir }
            : firstUploadLinks(env.releasesDir, claim.linkFrom)),
          excludes: request.config.exclude,
          built: request.config.build !== undefined,
        });
      }
      const staged = alongside ? (upload.incoming ?? env.stagingDir(upload.id)) : undefined;
      await server.batch([
        adoptStagingArgv(env, upload.id, claim.releaseId, staged),
        // A first upload that failed before the lock: what it left in INCOMING_DIR goes.
        ...(!alongside && upload.incoming ? [removeIncomingArgv(upload.incoming)] : []),
        linkPersistentDirsArgv(env, claim.releaseId, request.config.persistentDirs),
        openReleaseForBuildArgv(env, claim.releaseId),
      ]);
      return alongside ? 'alongside the lock' : undefined;
    },
    (d) => d,
  );
}
