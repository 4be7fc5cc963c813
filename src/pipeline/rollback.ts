/**
 * `toss rollback <env> [release]`: under the lock, a kept release goes live again the way a
 * deploy's release does (go-live.ts: start on the idle port, health check, route, switch), with
 * the unit and site rendered from toss.json the way a deploy renders them (server-files.ts);
 * there is no upload and no build.
 */
import { validateEnvName } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { parseEnvFile, tossVariables } from '../server/env-file.js';
import { routedPort } from '../server/instances.js';
import { CADDYFILE, type EnvPaths, envPaths } from '../server/paths.js';
import { trustedConfig } from '../server/policy.js';
import { listReleasesArgv, parseReleaseList } from '../server/releases.js';
import { type EnvironmentState, recordDeploy, type State } from '../server/state.js';
import { stopRunUnitArgv } from '../server/systemctl.js';
import { buildWakeUnits, countIdleArgv } from '../server/wake.js';
import { type EventSink, secretsEvent } from './events.js';
import {
  connectAll,
  fleetOf,
  holdRouted,
  isFleetDeploy,
  runFleet,
  type ServerPart,
} from './fleet.js';
import {
  checkStaticAndRoute,
  idlePort,
  type Launch,
  startCheckRoute,
  switchTo,
} from './go-live.js';
import { explainHealthFailure, type HealthFailure } from './health.js';
import { urlResolver } from './inspect.js';
import { type HeldLock, withLockedSession } from './lock.js';
import type { TargetRequest } from './request.js';
import { lockLost, type Server } from './server.js';
import { needsOnDemandAsk, siteFor, unitFor, urlOf } from './server-files.js';
import { openServer } from './session.js';
import { step } from './step.js';

export interface RollbackRequest extends TargetRequest {
  /** the kept release to go back to; default: the newest kept one older than the live one */
  release?: string | undefined;
}

export interface RollbackResult {
  environment: string;
  release: string;
  /** the release that was live before */
  from: string;
  url: string | null;
  port: number;
}

export interface KeptRelease {
  id: string;
  live: boolean;
  previous: boolean;
}

/** Releases in state that are still on disk with their env file, oldest first. */
export function keptReleases(env: EnvironmentState, onDisk: readonly string[]): KeptRelease[] {
  const disk = new Set(onDisk);
  return [...new Set([...env.releases, env.release])]
    .filter((id) => disk.has(id))
    .sort()
    .map((id) => ({ id, live: id === env.release, previous: id === env.previousRelease }));
}

/**
 * The release to roll back to: the named one, or the newest kept release older than the live
 * one. Refuses (listing the choices) an unknown release, the live one, or going past the oldest.
 */
export function chooseRollbackTarget(
  environment: string,
  env: EnvironmentState,
  kept: readonly KeptRelease[],
  wanted: string | undefined,
): string {
  const choices = kept.filter((r) => !r.live).map((r) => r.id);
  const list = choices.length === 0 ? 'none' : choices.join(', ');
  const hint =
    choices.length === 0
      ? `${environment} has no other kept release; deploy instead (toss deploy ${environment})`
      : `roll back to one of: ${list} (toss rollback ${environment} <release>; toss releases ${environment} lists them)`;
  if (wanted !== undefined) {
    if (wanted === env.release) {
      throw new TossError(`${wanted} is already live on ${environment}`, { hint });
    }
    if (!choices.includes(wanted)) {
      throw new TossError(
        `${environment} has no kept release ${wanted}; it can be rolled back to: ${list}`,
        { hint },
      );
    }
    return wanted;
  }
  const older = choices.filter((id) => id < env.release);
  const target = older[older.length - 1];
  if (target === undefined) {
    throw new TossError(
      `${env.release} is the oldest kept release of ${environment}: there is nothing older to roll back to; it can be rolled back to: ${list}`,
      { hint },
    );
  }
  return target;
}

export function rollback(request: RollbackRequest, sink: EventSink): Promise<RollbackResult> {
  const { app } = request.config;
  const env = envPaths(app, validateEnvName(request.environment, 'environment'));
  if (isFleetDeploy(request.config, env)) return rollbackFleet(request, env, sink);
  return rollbackOne(request, env, sink);
}

/**
 * Production on several servers (fleet.ts): the release the first server picks (or the one
 * named) goes live again on every server, in the same order as a deploy: started and checked
 * everywhere, then routed batch by batch, switched once all are routed, routed back when any
 * fails.
 */
async function rollbackFleet(
  request: RollbackRequest,
  env: EnvPaths,
  sink: EventSink,
): Promise<RollbackResult> {
  const { config } = request;
  const members = fleetOf(config, request.login, request.fleet ?? []);
  const servers = await step(
    sink,
    'connect',
    () => connectAll(members, config.app, request.connect),
    () => members.map((m) => m.name).join(', '),
  );
  let handed = false;
  try {
    const first = servers[0]!;
    const state = await first.readState();
    const live = state?.environments[env.environment];
    if (live === undefined) throw noEnvironment(config.app, env);
    const onDisk = parseReleaseList((await first.root(listReleasesArgv(env))).stdout);
    const release = chooseRollbackTarget(
      env.environment,
      live,
      keptReleases(live, onDisk),
      request.release,
    );
    const url = (await urlResolver(config, request.login))(env.environment, state?.policy);
    if (url === null) throw new TossError(`no host name for ${env.app}/${env.environment}`);
    const shared = { releaseId: release, hostName: new URL(url).hostname };
    handed = true;
    const results = await runFleet(
      { ...request, release },
      env,
      members,
      servers,
      shared,
      sink,
      (own, part, serverSink) => rollbackOne(own, env, serverSink, part),
    );
    return { ...results[0]!, url };
  } finally {
    if (!handed) await Promise.all(servers.map((s) => s.close().catch(() => {})));
  }
}

function noEnvironment(app: string, env: EnvPaths): TossError {
  return new TossError(`${app} has no environment ${env.environment} on this server`, {
    hint: 'toss list shows the environments there are',
  });
}

function rollbackOne(
  request: RollbackRequest,
  env: EnvPaths,
  sink: EventSink,
  part?: ServerPart,
): Promise<RollbackResult> {
  const { app } = request.config;
  return withLockedSession(
    request,
    sink,
    {
      before: async (server) => {
        if ((await server.readState())?.environments[env.environment] === undefined) {
          throw noEnvironment(app, env);
        }
        return undefined;
      },
      order: part?.order,
    },
    async (server, lock) => {
      try {
        // A preview comes back with the limits production recorded, like any preview deploy.
        const trusted = trustedConfig(request.config, env.environment, lock.state.policy).config;
        const config = part ? part.config(trusted) : trusted;
        const url = part
          ? urlOf(config, part.hostName)
          : (await urlResolver(request.config, request.login))(env.environment, lock.state.policy);
        // The lock was taken on the state read then: a deploy that finished meanwhile is in it.
        const live = lock.state.environments[env.environment];
        if (live === undefined) throw new TossError(`${env.environment} was removed meanwhile`);
        const target = { config, env, live, url };
        return await rollbackLocked(server, request, target, lock, sink, part);
      } catch (error) {
        // The other servers stop now, before this one's cleanup (fleet.ts).
        part?.failed(error);
        throw error;
      }
    },
  );
}

/** What a rollback works on: the trusted config, the environment as state has it, its URL. */
interface RollbackTarget {
  config: TossConfig;
  env: EnvPaths;
  live: EnvironmentState;
  url: string | null;
}

async function rollbackLocked(
  server: Server,
  request: RollbackRequest,
  { config, env, live, url }: RollbackTarget,
  lock: HeldLock,
  sink: EventSink,
  part?: ServerPart,
): Promise<RollbackResult> {
  const view = await readRollbackView(server, env, live, request.release);
  const { target } = view;
  announceSecrets(view, env, live, sink);
  const routedNow = routedPort(view.site);
  const livePort = routedNow ?? live.livePort;
  const port = idlePort(live.ports, livePort);
  if (url === null) throw new TossError(`no host name for ${env.app}/${env.environment}`);
  const hostName = new URL(url).hostname;
  // A long step of an earlier run must not be left behind the instance we start (and once this
  // run's lock is broken, the unit may be the new holder's: guarded).
  if (!(await server.cleanUpAsHolder([stopRunUnitArgv(env)]))) throw lockLost();
  // A sleeping environment stays one, with the idle time its last deploy recorded.
  const sleepAfter = config.static === undefined ? live.sleepAfter : undefined;
  const wake = sleepAfter !== undefined;
  const publicSite = (p: number) => siteFor(config, env, hostName, p, target, { wake });
  const own = part?.site;
  const routing = {
    caddyfile: view.caddyfile,
    site: own ? (p: number) => own(p, publicSite, wake) : publicSite,
    onDemandAsk: needsOnDemandAsk(config, env),
  };
  if (config.static !== undefined) {
    const launch = {
      env,
      releaseId: target,
      dir: config.static,
      healthPath: config.healthCheck?.path,
    };
    await checkStaticAndRoute(server, sink, launch, routing, []);
  } else {
    const launch = {
      env,
      releaseId: target,
      port,
      seal: undefined,
      unit: unitFor(config, env, live.ports),
      installedUnit: view.unit,
      wake: wakeOf(config, env, sleepAfter, view),
      detail: `${target} on port ${port}`,
    };
    const health = {
      ...rollbackHealth(config, target, live),
      worker: part?.member.role === 'worker',
    };
    if (part === undefined) {
      await startCheckRoute(server, sink, launch, health, routing);
    } else {
      // One server of several: started and checked at once, routed in its batch's turn, held
      // until every server is routed (fleet.ts); a worker gets no site.
      const routed = part.site === undefined ? undefined : routing;
      await startCheckRoute(server, sink, launch, health, routed, [], part.turn);
      await holdRouted(server, sink, part, launch, view.site, []);
    }
  }
  await step(
    sink,
    'switch',
    async () => {
      const staticSite = config.static !== undefined;
      await switchTo(
        server,
        env,
        { releaseId: target, port, staticSite, sleeps: wake },
        livePort,
        config.drainTimeout,
      );
      // Rolled back by someone who is looking: awake, counting its idle time from now.
      if (wake) await server.batch([countIdleArgv(env, port)]);
      // The first server of several records last (fleet.ts).
      await part?.order.releaseAfter();
      await lock.finish((s) => recordRollback(s, env, live, target, port, request));
    },
    () => target,
  );
  return { environment: env.environment, release: target, from: live.release, url, port };
}

/** A sleeping environment's wake templates to install, and the ones installed now. */
function wakeOf(
  config: TossConfig,
  env: EnvPaths,
  sleepAfter: number | undefined,
  view: RollbackView,
): Launch['wake'] {
  if (sleepAfter === undefined) return undefined;
  const startSeconds = config.healthCheck?.timeout ?? 30;
  return {
    units: buildWakeUnits(env, { sleepSeconds: sleepAfter, startSeconds }),
    installed: view.wakeUnits,
  };
}

/** The rollback's health check: a failure keeps what is live and says how to go on. */
function rollbackHealth(config: TossConfig, target: string, live: EnvironmentState) {
  return {
    check: config.healthCheck,
    failed: (failure: HealthFailure) => {
      const { details, fix } = explainHealthFailure(failure, { readOnly: config.readOnly });
      return new TossError(
        `release ${target} did not pass its health check; it never received traffic and ${live.release} stays live.\n${details}`,
        {
          hint: `roll back to another release (toss releases lists them), or deploy a fix: ${fix}`,
        },
      );
    },
  };
}

/** The rollback's target and the files it needs, read at once. */
interface RollbackView {
  target: string;
  site: string | null;
  caddyfile: string | null;
  unit: string | null;
  wakeUnits: { socket: string | null; service: string | null };
  secrets: string | null;
  overrides: string | null;
  releaseEnv: string;
}

async function readRollbackView(
  server: Server,
  env: EnvPaths,
  live: EnvironmentState,
  wanted: string | undefined,
): Promise<RollbackView> {
  const onDisk = parseReleaseList((await server.root(listReleasesArgv(env))).stdout);
  const target = chooseRollbackTarget(env.environment, live, keptReleases(live, onDisk), wanted);
  const files = await server.readFiles([
    env.siteFile,
    CADDYFILE,
    env.unitTemplateFile,
    env.secretsFile,
    env.overridesFile,
    env.releaseEnvFile(target),
    env.wakeSocketTemplateFile,
    env.wakeServiceTemplateFile,
  ]);
  const [site = null, caddyfile = null, unit = null, secrets = null, overrides = null] = files;
  const [, , , , , releaseEnv, socket = null, service = null] = files;
  if (releaseEnv === null || releaseEnv === undefined) {
    throw new TossError(`release ${target} has lost its env file ${env.releaseEnvFile(target)}`, {
      hint: `deploy instead (toss deploy ${env.environment})`,
    });
  }
  return {
    target,
    site,
    caddyfile,
    unit,
    wakeUnits: { socket, service },
    secrets,
    overrides,
    releaseEnv,
  };
}

/**
 * Before the health check can print the journal of an instance started with these values: the
 * secrets as they are now and as the release was given them (toss's own variables are not).
 */
function announceSecrets(
  view: RollbackView,
  env: EnvPaths,
  live: EnvironmentState,
  sink: EventSink,
): void {
  const own = tossVariables({
    app: env.app,
    environment: env.environment,
    releaseId: view.target,
    port: live.ports[0],
    // Only the keys count here: the release's own TOSS_URL (and its database's names) are no
    // secrets.
    url: '',
    database: true,
  });
  sink(
    secretsEvent(
      parseEnvFile(view.secrets ?? '', env.secretsFile).values(),
      parseEnvFile(view.overrides ?? '', env.overridesFile).values(),
      [...parseEnvFile(view.releaseEnv, env.releaseEnvFile(view.target))]
        .filter(([key]) => !own.has(key))
        .map(([, value]) => value),
    ),
  );
}

/** State after the rollback: the target is live on `port`, with the commit it was built from. */
function recordRollback(
  state: State,
  env: EnvPaths,
  live: EnvironmentState,
  target: string,
  port: number,
  request: RollbackRequest,
): State {
  const now = state.environments[env.environment] ?? live;
  return recordDeploy(state, env.environment, {
    release: target,
    ports: now.ports,
    livePort: port,
    commit: now.commits?.[target] ?? `unknown (rolled back to ${target})`,
    deployedAt: new Date().toISOString(),
    by: request.actor.by,
    runUrl: request.actor.runUrl,
    branch: now.branch,
    branchPreview: now.branchPreview,
    pr: now.pr,
    staticSite: now.staticSite,
    sleepAfter: now.sleepAfter,
  });
}

/** `toss releases <env>`: the kept releases, marking the live and the previous one. */
export async function readKeptReleases(
  login: TargetRequest['login'],
  app: string,
  environment: string,
): Promise<KeptRelease[]> {
  const env = validateEnvName(environment, 'environment');
  const session = await openServer({ login }, app);
  try {
    const state = (await session.readState())?.environments[env];
    if (state === undefined) {
      throw new TossError(`${app} has no environment ${env} on this server`, {
        hint: 'toss list shows the environments there are',
      });
    }
    const onDisk = parseReleaseList(
      (await session.root(listReleasesArgv(envPaths(app, env)))).stdout,
    );
    return keptReleases(state, onDisk);
  } finally {
    await session.close();
  }
}
