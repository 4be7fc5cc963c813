/**
 * `toss deploy <env>`: the working tree becomes the environment's live release, health-gated and
 * without downtime. `deployLocked` reads as the list of its steps; each step is a function below
 * (or in build.ts and go-live.ts) with its inputs and outputs in its signature.
 *
 * Remote work is batched: reads go out together, and consecutive guarded changes share one round
 * trip, so a redeploy costs about a dozen round trips over one connection, rsync's data included.
 */
import type { NativeFile } from '../artifact/native-check.js';
import { isProduction, validateEnvName } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import { LockError, TossError } from '../errors.js';
import { ensureAdminSocket } from '../server/caddy-admin.js';
import { applyOverrideArgs, parseEnvFile } from '../server/env-file.js';
import { usesSslip } from '../server/hostnames.js';
import { routedPort } from '../server/instances.js';
import { checkOrigin, normalizeOrigin } from '../server/origin.js';
import { CADDYFILE, type EnvPaths, envPaths } from '../server/paths.js';
import { policyNotice, sleepSecondsOf, trustedConfig } from '../server/policy.js';
import { listeningPortsArgv, parseListeningPorts } from '../server/ports.js';
import type { Registry } from '../server/registry.js';
import { removeReleasesArgv, removeStagingArgv } from '../server/release-files.js';
import {
  listReleasesArgv,
  newReleaseId,
  parseReleaseLinks,
  parseReleaseList,
  parseStagingList,
} from '../server/releases.js';
import {
  type EnvironmentState,
  isBranchPreviewOf,
  previewsByAge,
  type State,
} from '../server/state.js';
import { buildWakeUnits } from '../server/wake.js';
import { dependenciesStep, runBuild } from './build.js';
import { assertMemoryForPreview } from './capacity-check.js';
import { databaseStep } from './database-step.js';
import { finishDeploy } from './deploy-finish.js';
import {
  linkFromProduction,
  placeRelease,
  prepareIncoming,
  removeUploadArgv,
  type StartedUpload,
  startUpload,
} from './deploy-place.js';
import { type EventSink, secretsEvent } from './events.js';
import { fingerprintOf, unchangedDeploy } from './fingerprint.js';
import {
  connectAll,
  fleetOf,
  holdRouted,
  isFleetDeploy,
  membersToDeploy,
  runFleet,
  type ServerPart,
} from './fleet.js';
import {
  checkStaticAndRoute,
  idlePort,
  type Launch,
  type Routing,
  startCheckRoute,
} from './go-live.js';
import { explainHealthFailure, type HealthFailure, serverAddress } from './health.js';
import { buildHere } from './local-build.js';
import { type HeldLock, withLockedSession } from './lock.js';
import { assertRunsOnServer, platformArgv, scanBuiltTree } from './native-step.js';
import type { DeployRequest, DeployResult } from './request.js';
import type { OpenServer, Server } from './server.js';
import { hostNameOf, needsOnDemandAsk, siteFor, unitFor, urlOf } from './server-files.js';
import { openServer } from './session.js';
import { step } from './step.js';
import { treeHashOf } from './tree-hash.js';

/**
 * Deploys the working tree to one environment: built here first when toss.json says `build`
 * (nothing on the server changes before that succeeded), then placed, started and switched.
 */
export async function deploy(request: DeployRequest, sink: EventSink): Promise<DeployResult> {
  const env = envPaths(request.config.app, validateEnvName(request.environment, 'environment'));
  const origin = normalizeOrigin(request.origin);
  if (isFleetDeploy(request.config, env)) return deployToFleet(request, env, origin, sink);
  const early = connectDuringBuild(request);
  const built = await buildHere({ ...request, host: request.login.host }, env, sink).catch(
    async (error: unknown) => {
      await early?.close();
      throw error;
    },
  );
  try {
    const natives = scanBuiltTree(request.config, request.sourceDir);
    const connect = early?.connect ?? request.connect;
    return await deployBuilt({ ...request, connect }, env, origin, natives, sink);
  } finally {
    await built.finish();
  }
}

/**
 * With a build to run here first, the connection is opened while it runs (a login changes
 * nothing on the server; the lock is taken only once the build is done), so the handshake is
 * off the deploy's path. If that attempt failed meanwhile (the network blinked during a long
 * build), the connect step tries once more, and says why if that fails too. A build that fails
 * closes the connection unused.
 */
function connectDuringBuild(
  request: DeployRequest,
): { connect: OpenServer; close: () => Promise<void> } | undefined {
  if (request.config.build === undefined) return undefined;
  const opening = openServer(request, request.config.app);
  opening.catch(() => {});
  return {
    connect: () => opening.catch(() => openServer(request, request.config.app)),
    close: async () => {
      const server = await opening.catch(() => undefined);
      await server?.close();
    },
  };
}

/**
 * Production on several servers (fleet.ts): built here once, every server connected before
 * anything changes, then each server's deploy runs in the rollout's order.
 */
async function deployToFleet(
  request: DeployRequest,
  env: EnvPaths,
  origin: string,
  sink: EventSink,
): Promise<DeployResult> {
  const { config } = request;
  const members = membersToDeploy(
    fleetOf(config, request.login, request.fleet ?? []),
    request.skipServers ?? [],
  );
  const built = await buildHere({ ...request, host: request.login.host }, env, sink);
  try {
    const natives = scanBuiltTree(config, request.sourceDir);
    const servers = await step(
      sink,
      'connect',
      () => connectAll(members, config.app, request.connect),
      () => members.map((m) => m.name).join(', '),
    );
    const hostName = hostNameOf(config, env, await serverAddress(request.login.host));
    const shared = {
      releaseId: newReleaseId(new Date()),
      hostName,
      files: uploadTreeHash(request),
    };
    const results = await runFleet(
      request,
      env,
      members,
      servers,
      shared,
      sink,
      (own, part, sink) =>
        // Every server deploys, so that none is left on another release (fleet.ts).
        deployBuilt({ ...own, force: true }, env, origin, natives, sink, part),
    );
    return {
      ...results[0]!,
      confirmed: results.every((r) => r.confirmed),
      servers: members.map((m) => m.name),
    };
  } finally {
    await built.finish();
  }
}

/**
 * The upload's file list, hashed (tree-hash.ts): the hash the CLI began before the checks when it
 * was made for this tree and these filters; once for every server.
 */
function uploadTreeHash(request: DeployRequest): Promise<string | undefined> {
  return treeHashOf(request.treeHash, request.sourceDir, {
    excludes: request.config.exclude,
    built: request.config.build !== undefined,
  });
}

function deployBuilt(
  request: DeployRequest,
  env: EnvPaths,
  origin: string,
  natives: Promise<NativeFile[]> | undefined,
  sink: EventSink,
  part?: ServerPart,
): Promise<DeployResult> {
  const { app } = request.config;
  // The upload's file list, hashed while connecting (fingerprint.ts).
  const files = part?.files ?? uploadTreeHash(request);
  // The environment's first deploy, as the state read before the lock shows it (the upload then
  // stages where no directory of the environment's is needed: deploy-place.ts).
  let first = false;
  let linkFrom: string | undefined;
  // A new environment's upload goes to INCOMING_DIR, made ready beside the state read.
  let prepared: Promise<unknown> | undefined;
  const unchanged = {
    request,
    env,
    origin,
    files,
    verify: (before: EnvironmentState) => assertBranchOwns(request, env, before),
    sleepAfter: (config: TossConfig, before: EnvironmentState) =>
      sleepSecondsOf(config, env.environment, isBranchPreview(request, before)),
    known: (state: State | undefined) => {
      first = state?.environments[env.environment] === undefined;
      linkFrom = first ? linkFromProduction(env, state) : undefined;
    },
  };
  return withLockedSession(
    request,
    sink,
    {
      checks: {
        origin,
        // A preview yields to production until its build is done.
        preemptible: !env.isProduction,
        // A repository with another origin never takes the lock, let alone deploys.
        verify: (state) => checkOrigin(app, state.origin, origin),
      },
      // Nothing changed since the live release, and it is healthy: nothing to do (fingerprint.ts).
      before: request.force
        ? undefined
        : (server) => {
            prepared = prepareIncoming(server);
            return unchangedDeploy(server, unchanged, sink);
          },
      // The upload needs no lock: it fills a staging directory no other run looks at, which
      // becomes the release only under the lock. So it runs while the lock is taken.
      alongside: {
        start: (server) => startUpload(server, request, env, { first, linkFrom, prepared }),
        abandon: abandonUpload,
      },
      explain: async (server, lock, error) =>
        (await preempted(server, env, lock.token, error)) ?? error,
      order: part?.order,
    },
    async (server, lock, upload) => {
      try {
        return await deployLocked(
          server,
          request,
          env,
          { origin, natives, files, part },
          lock,
          upload,
          sink,
        );
      } catch (error) {
        // The other servers stop now, before this one's cleanup (fleet.ts).
        part?.failed(error);
        throw error;
      }
    },
  );
}

/** The deploy under the lock, step by step. */
async function deployLocked(
  server: Server,
  request: DeployRequest,
  env: EnvPaths,
  {
    origin,
    natives,
    files,
    part,
  }: {
    origin: string;
    natives: Promise<NativeFile[]> | undefined;
    files: Promise<string | undefined>;
    part?: ServerPart | undefined;
  },
  lock: HeldLock,
  upload: StartedUpload,
  sink: EventSink,
): Promise<DeployResult> {
  const trusted = trustedConfigOf(request.config, env, lock.state, sink);
  const config = part ? part.config(trusted) : trusted;
  const before = lock.state.environments[env.environment];
  assertBranchOwns(request, env, before);
  const state = await dependenciesStep(server, config, env, lock.state, sink);
  assertRoomForPreview(config, env, state, before);
  const hostName =
    part?.hostName ?? (await hostNameFor(config, env, request.login.host, before, sink));
  // A new preview is refused before anything changes when it would eat into the memory kept
  // for production (capacity-check.ts); read alongside the rest.
  const [view] = await Promise.all([
    readServer(server, env, natives !== undefined),
    before === undefined ? assertMemoryForPreview(server, config, env) : undefined,
  ]);
  announceSecrets(view, request.overrides, sink);
  const fingerprint = await fingerprintFor(files, config, hostName, view, request.overrides);
  const releaseId = part?.releaseId ?? newReleaseId(new Date());
  const routedNow = routedPort(view.site);
  const livePort = routedNow ?? before?.livePort;
  const url = urlOf(config, hostName);
  const leftovers = [
    removeReleasesArgv(env, [releaseId]),
    removeStagingArgv(env, [upload.id]),
    ...(upload.incoming ? [removeUploadArgv(upload)] : []),
  ];
  // Native code for another machine is refused while nothing is placed: the upload, which may
  // still be running, is what withLockedSession abandons (stopped and settled, then removed).
  if (natives) await step(sink, 'platform', () => assertRunsOnServer(natives, view.platform));
  // From here a failure's cleanup (leftovers) removes the staging copy, wherever it is.
  upload.handedOver = true;
  const { placed: ports, db } = await undoOnFailure(server, leftovers, async () => {
    const linkFrom = before ? undefined : linkFromProduction(env, lock.state);
    const claim = { hostName, url, origin, before, livePort, releaseId, linkFrom };
    const placed = await placeRelease(server, request, config, env, view, claim, upload, sink);
    const db = await databaseStep(server, config, env, request.sourceDir, releaseId, sink);
    await runBuild(server, config, env, releaseId, sink);
    return { placed, db };
  });
  const port = idlePort(ports, livePort);
  const sleepAfter = sleepSecondsOf(config, env.environment, isBranchPreview(request, before));
  const wake = sleepAfter !== undefined;
  const routing = routingOf(config, env, view, hostName, releaseId, wake);
  const live = { releaseId, ports, port, sleepAfter, routing, leftovers };
  await putLive(server, sink, config, env, view, live, part);
  const staticSite = config.static !== undefined;
  const sleep =
    sleepAfter === undefined
      ? undefined
      : { seconds: sleepAfter, wasAsleep: wasAsleep(view, before, livePort) };
  const finish = {
    ...{ releaseId, ports, port, routedNow, before, hostName, url, staticSite, sleep },
    fingerprint,
    ...(part ? { confirm: part.confirm, releaseAfter: part.order.releaseAfter } : {}),
  };
  const confirmed = await finishDeploy(server, request, config, env, view, lock, finish, sink);
  const database = db === undefined ? undefined : { name: db.name, from: db.from };
  return {
    environment: env.environment,
    url,
    release: releaseId,
    port,
    confirmed,
    sleepAfter,
    database,
  };
}

/**
 * The release goes live on this server: an app's instance started, checked and routed (one
 * server of several: in its batch's turn, then held until every server is routed); a static
 * site checked and routed.
 */
async function putLive(
  server: Server,
  sink: EventSink,
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  live: {
    releaseId: string;
    ports: [number, number];
    port: number;
    sleepAfter: number | undefined;
    routing: Routing;
    leftovers: string[][];
  },
  part: ServerPart | undefined,
): Promise<void> {
  const { releaseId, ports, port, sleepAfter, routing, leftovers } = live;
  if (config.static === undefined) {
    const launch = freshRelease(config, env, view, releaseId, ports, port, sleepAfter);
    const health = {
      check: config.healthCheck,
      failed: (failure: HealthFailure) => healthFailure(failure, config.readOnly),
      worker: part?.member.role === 'worker',
    };
    if (part === undefined) {
      await startCheckRoute(server, sink, launch, health, routing, leftovers);
    } else {
      // Every server starts the release at once (nothing routes to it yet); its health check
      // and route wait for its batch's turn, once the batch before it is routed (fleet.ts).
      const site = part.site;
      const wake = sleepAfter !== undefined;
      const own = site && { ...routing, site: (p: number) => site(p, routing.site, wake) };
      await startCheckRoute(server, sink, launch, health, own, leftovers, part.turn);
      await holdRouted(server, sink, part, launch, view.site, leftovers);
    }
  } else {
    const launch = { env, releaseId, dir: config.static, healthPath: config.healthCheck?.path };
    await checkStaticAndRoute(server, sink, launch, routing, leftovers);
  }
}

/** The new release as it starts: sealed first, its unit installed if it changed. */
function freshRelease(
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  releaseId: string,
  ports: [number, number],
  port: number,
  sleepAfter: number | undefined,
): Launch {
  const unit = unitFor(config, env, ports);
  const wake =
    sleepAfter === undefined
      ? undefined
      : {
          units: buildWakeUnits(env, {
            sleepSeconds: sleepAfter,
            startSeconds: config.healthCheck?.timeout ?? 30,
          }),
          installed: view.wakeUnits,
        };
  return {
    env,
    releaseId,
    port,
    seal: { writable: !config.readOnly },
    unit,
    installedUnit: view.unit,
    wake,
    detail:
      sleepAfter === undefined ? `port ${port}` : `port ${port}, sleeps after ${sleepAfter} s idle`,
  };
}

/** Whether the environment is a branch's own preview (this deploy's say, or state's). */
function isBranchPreview(request: DeployRequest, before: EnvironmentState | undefined): boolean {
  return request.ownedByBranch === true || before?.branchPreview === true;
}

/**
 * A sleeping environment whose instance did not listen when the deploy began was asleep: the
 * deploy leaves it asleep (an awake one keeps counting its idle time from the deploy's end).
 */
function wasAsleep(
  view: ServerView,
  before: EnvironmentState | undefined,
  livePort: number | undefined,
): boolean {
  return (
    before?.sleepAfter !== undefined && livePort !== undefined && !view.listening.has(livePort)
  );
}

/** How Caddy reaches the environment's host name, from what the server has now. */
function routingOf(
  config: TossConfig,
  env: EnvPaths,
  view: ServerView,
  hostName: string,
  releaseId: string,
  wake: boolean,
): Routing {
  const site = (port: number) => siteFor(config, env, hostName, port, releaseId, { wake });
  const onDemandAsk = needsOnDemandAsk(config, env);
  return { caddyfile: view.caddyfile, site, onDemandAsk };
}

/** A preview's limits come from what production recorded, never from its own toss.json. */
function trustedConfigOf(
  config: TossConfig,
  env: EnvPaths,
  state: State,
  sink: EventSink,
): TossConfig {
  const trusted = trustedConfig(config, env.environment, state.policy);
  if (trusted.overridden.length > 0) {
    sink({ type: 'notice', message: policyNotice(config.app, env.environment, trusted) });
  }
  return trusted.config;
}

/** A branch's preview never replaces an environment state gives to another branch or to none. */
function assertBranchOwns(
  request: DeployRequest,
  env: EnvPaths,
  before: EnvironmentState | undefined,
): void {
  if (!request.ownedByBranch || before === undefined) return;
  if (request.branch !== undefined && isBranchPreviewOf(before, request.branch)) return;
  const owner =
    before.branch === undefined
      ? 'no branch (a named environment)'
      : `branch ${JSON.stringify(before.branch)}`;
  throw new TossError(
    `refusing to deploy branch ${JSON.stringify(request.branch)}'s preview into ${env.environment}: state says it belongs to ${owner}`,
    { hint: 'rename the branch, or map it to its own environment in toss.json branches' },
  );
}

/** A new preview is refused once the app has maxPreviews of them. */
function assertRoomForPreview(
  config: TossConfig,
  env: EnvPaths,
  state: State,
  before: EnvironmentState | undefined,
): void {
  if (env.isProduction || before !== undefined) return;
  const previews = previewsByAge(state);
  if (previews.length < config.maxPreviews) return;
  const oldest = previews.slice(0, 3).map(([name]) => name);
  throw new TossError(
    `${config.app} already has ${previews.length} previews (maxPreviews is ${config.maxPreviews}); oldest: ${oldest.join(', ')}`,
    {
      hint: `remove some (toss remove ${oldest[0]}), or raise maxPreviews in toss.json and deploy production`,
    },
  );
}

/** The environment's host name; a first deploy on a shared sslip.io name is warned about. */
async function hostNameFor(
  config: TossConfig,
  env: EnvPaths,
  host: string,
  before: EnvironmentState | undefined,
  sink: EventSink,
): Promise<string> {
  const hostName = hostNameOf(config, env, await serverAddress(host));
  if (usesSslip(hostName) && before === undefined) {
    sink({
      type: 'warning',
      message: `no domain in toss.json: serving on ${hostName}; shared sslip.io certificates can be rate-limited`,
    });
  }
  return hostName;
}

/** What the server has now, read in one go right after the lock is taken. */
export interface ServerView {
  registry: Registry;
  listening: Set<number>;
  site: string | null;
  caddyfile: string | null;
  secrets: Map<string, string>;
  overrides: Map<string, string>;
  onDisk: string[];
  /** what `current` and each port's slot point at (`current`, `3000` → release id) */
  links: Map<string, string>;
  /** the environment's unit template as installed */
  unit: string | null;
  /** its wake templates as installed (see wake.ts) */
  wakeUnits: { socket: string | null; service: string | null };
  /** staging directories (by release id) */
  staging: string[];
  /** what the server says of its processor and C library (read for a built tree only) */
  platform?: string | undefined;
}

async function readServer(
  server: Server,
  env: EnvPaths,
  withPlatform: boolean,
): Promise<ServerView> {
  const [registry, ss, files, releases, platform] = await Promise.all([
    server.readRegistry(),
    server.root(listeningPortsArgv()),
    server.readFiles([
      env.siteFile,
      CADDYFILE,
      env.secretsFile,
      env.overridesFile,
      env.unitTemplateFile,
      env.wakeSocketTemplateFile,
      env.wakeServiceTemplateFile,
    ]),
    server.root(listReleasesArgv(env)),
    withPlatform ? server.root(platformArgv()) : undefined,
  ]);
  const [site = null, caddyfile = null, secrets = null, overrides = null, unit = null] = files;
  const [, , , , , socket = null, service = null] = files;
  // A Caddyfile whose admin endpoint toss cannot make private is refused before anything starts.
  if (caddyfile !== null) ensureAdminSocket(caddyfile);
  return {
    registry,
    listening: parseListeningPorts(ss.stdout),
    site,
    caddyfile,
    secrets: parseEnvFile(secrets ?? '', env.secretsFile),
    overrides: parseEnvFile(overrides ?? '', env.overridesFile),
    onDisk: parseReleaseList(releases.stdout),
    links: parseReleaseLinks(releases.stdout),
    unit,
    wakeUnits: { socket, service },
    staging: parseStagingList(releases.stdout),
    platform: platform?.stdout,
  };
}

/** The release's fingerprint, recorded with it; undefined when the file list could not be made. */
async function fingerprintFor(
  files: Promise<string | undefined>,
  config: TossConfig,
  hostName: string,
  view: ServerView,
  overrides: string[],
): Promise<string | undefined> {
  const hash = await files;
  if (hash === undefined) return undefined;
  return fingerprintOf({
    files: hash,
    config,
    hostName,
    secrets: view.secrets,
    overrides: applyOverrideArgs(view.overrides, overrides),
  });
}

/** Every secret value is masked before anything can print what the build or journal says. */
function announceSecrets(view: ServerView, overrides: string[], sink: EventSink): void {
  sink(
    secretsEvent(
      view.secrets.values(),
      view.overrides.values(),
      applyOverrideArgs(new Map(), overrides).values(),
    ),
  );
}

/** Runs `work`; when it fails, `undo` runs (while this run holds the lock) before the error. */
async function undoOnFailure<T>(
  server: Server,
  undo: string[][],
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    // Best effort: a cleanup that fails too (the connection is gone) must not hide the step that
    // failed and why; a re-run removes what is left (orphans are pruned).
    await server.cleanUpAsHolder(undo).catch(() => false);
    throw error;
  }
}

/** The hint fixes the cause the server's evidence shows; `readOnly` is toss.json's. */
function healthFailure(failure: HealthFailure, readOnly: boolean): TossError {
  const { details, fix } = explainHealthFailure(failure, { readOnly });
  return new TossError(
    `the new release did not pass its health check; it never received traffic.\n${details}`,
    { hint: `${fix}, then deploy again` },
  );
}

/**
 * No lock, or a deploy that failed before its upload became the release: the upload stops, and
 * what it copied (all or part) goes again.
 */
async function abandonUpload(server: Server, upload: StartedUpload): Promise<void> {
  if (upload.handedOver) return;
  upload.abort.abort();
  await upload.early;
  await server.root(removeUploadArgv(upload), { allowFailure: true }).catch(() => {});
}

/**
 * A preview deploy's lost lock, when a production deploy took it (before the preview's build
 * was done, the only time it may): said as such.
 */
async function preempted(
  server: Server,
  env: EnvPaths,
  token: string,
  error: unknown,
): Promise<LockError | undefined> {
  if (!(error instanceof LockError) || env.isProduction) return undefined;
  const holder = await server.readState().then(
    (state) => state?.lock,
    () => undefined,
  );
  if (!holder || !isProduction(holder.environment) || holder.token === token) {
    return undefined;
  }
  return new LockError(
    `a production deploy took the lock and stopped ${env.environment}'s deploy before its build was done; nothing of ${env.environment} changed`,
    { hint: `deploy ${env.environment} again once production's deploy is done` },
  );
}
