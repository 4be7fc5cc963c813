/**
 * `toss rollback <env> [release]` (SPEC "Rollback"): under the lock, start a kept release on the
 * idle port, health-check it, route Caddy to it, switch `current`, retire the old instance and
 * record it — steps 9–11 of a deploy, without an upload or a build.
 */
import { validateEnvName } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import { TossError } from '../errors.js';
import { installCaddyFileArgv } from '../server/caddy-apply.js';
import { buildSiteFile } from '../server/caddy-site.js';
import { parseEnvFile, tossVariables } from '../server/env-file.js';
import { retireInstanceArgv, routedPort, startInstanceArgv } from '../server/instances.js';
import { envPaths } from '../server/paths.js';
import { environmentLimits, trustedConfig } from '../server/policy.js';
import { portGuardArgv } from '../server/port-owner.js';
import { pointSlotArgv, switchCurrentArgv } from '../server/release-files.js';
import { listReleasesArgv, parseReleaseList } from '../server/releases.js';
import { type EnvironmentState, recordDeploy } from '../server/state.js';
import { daemonReloadArgv, stopInstanceArgv, stopRunUnitArgv } from '../server/systemctl.js';
import { buildUnitTemplate } from '../server/systemd-unit.js';
import { CHANGED, writeFileIfChangedArgv } from '../server/write-file.js';
import { applyCaddyChange } from './caddy-errors.js';
import { type EventSink, secretsEvent } from './events.js';
import { checkInstanceHealth, withPortGuard } from './health.js';
import { urlResolver } from './inspect.js';
import { lockForRequest } from './lock.js';
import type { TargetRequest } from './request.js';
import type { Server } from './server.js';
import { lockLost, openServer, Session } from './session.js';
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

export async function rollback(request: RollbackRequest, sink: EventSink): Promise<RollbackResult> {
  const { config } = request;
  const app = config.app;
  const environment = validateEnvName(request.environment, 'environment');
  const session = await step(
    sink,
    'connect',
    () => openServer(request, app),
    () => `${request.login.user}@${request.login.host}`,
  );
  try {
    const before = (await session.readState())?.environments[environment];
    if (before === undefined) {
      throw new TossError(`${app} has no environment ${environment} on this server`, {
        hint: 'toss list shows the environments there are',
      });
    }
    const lock = await lockForRequest(session, request, environment, sink);
    try {
      // A preview comes back with the limits production recorded, like any preview deploy.
      const trusted = trustedConfig(config, environment, lock.state.policy).config;
      const url = (await urlResolver(config, request.login))(environment, lock.state.policy);
      // The lock was taken on the state read then: a deploy that finished meanwhile is in it.
      const env = lock.state.environments[environment];
      if (env === undefined) throw new TossError(`${environment} was removed meanwhile`);
      return await rollbackLocked(session, request, trusted, environment, env, url, sink);
    } finally {
      await lock.release();
    }
  } finally {
    await session.close();
  }
}

async function rollbackLocked(
  session: Server,
  request: RollbackRequest,
  config: TossConfig,
  environment: string,
  env: EnvironmentState,
  url: string | null,
  sink: EventSink,
): Promise<RollbackResult> {
  const app = config.app;
  const paths = envPaths(app, environment);
  const onDisk = parseReleaseList((await session.root(listReleasesArgv(paths))).stdout);
  const target = chooseRollbackTarget(environment, env, keptReleases(env, onDisk), request.release);
  const [siteNow = null, secrets = null, overrides = null, releaseEnv = null] =
    await session.readFiles([
      paths.siteFile,
      paths.secretsFile,
      paths.overridesFile,
      paths.releaseEnvFile(target),
    ]);
  if (releaseEnv === null) {
    throw new TossError(`release ${target} has lost its env file ${paths.releaseEnvFile(target)}`, {
      hint: `deploy instead (toss deploy ${environment})`,
    });
  }
  // Before the health check can print the journal of an instance started with these values: the
  // secrets as they are now and as the release was given them (toss's own variables are not).
  const own = tossVariables({ app, environment, releaseId: target, port: env.ports[0] });
  sink(
    secretsEvent(
      parseEnvFile(secrets ?? '', paths.secretsFile).values(),
      parseEnvFile(overrides ?? '', paths.overridesFile).values(),
      [...parseEnvFile(releaseEnv, paths.releaseEnvFile(target))]
        .filter(([key]) => !own.has(key))
        .map(([, value]) => value),
    ),
  );
  const livePort = routedPort(siteNow) ?? env.livePort;
  const newPort = livePort === env.ports[0] ? env.ports[1] : env.ports[0];
  let started = false;
  let routed = false;
  try {
    await step(
      sink,
      'start',
      async () => {
        // A long step of an earlier run must not be left behind the instance we start (and once
        // this run's lock is broken, the unit may be the new holder's: guarded).
        if (!(await session.cleanUpAsHolder([stopRunUnitArgv(paths)]))) {
          throw lockLost();
        }
        const unit = buildUnitTemplate({
          paths,
          startCommand: config.startCommand,
          ports: env.ports,
          resources: environmentLimits(config, environment),
        });
        const written = await session.guarded(
          writeFileIfChangedArgv({ path: paths.unitTemplateFile, mode: 0o644 }),
          { stdin: unit },
        );
        if (written.stdout.trim() === CHANGED) await session.root(daemonReloadArgv());
        await session.guarded(pointSlotArgv(paths, newPort, target));
        started = true;
        // Nothing else may listen on the port the instance starts on (see port-owner.ts).
        await withPortGuard({ app, environment, port: newPort }, () =>
          session.batch([
            portGuardArgv('free', newPort, paths.instanceUnit(newPort)),
            startInstanceArgv(paths, newPort),
          ]),
        );
      },
      () => `${target} on port ${newPort}`,
    );

    await step(sink, 'health', async () => {
      const failure = await checkInstanceHealth(session, {
        app,
        environment,
        port: newPort,
        healthCheck: config.healthCheck,
      });
      if (failure !== undefined) {
        throw new TossError(
          `release ${target} did not pass its health check; it never received traffic and ${env.release} stays live.\n${failure}`,
          { hint: 'roll back to another release (toss releases lists them) or deploy a fix' },
        );
      }
    });

    await step(sink, 'route', async () => {
      const hostName = url === null ? undefined : new URL(url).hostname;
      if (hostName === undefined) {
        throw new TossError(`no host name for ${app}/${environment}`);
      }
      const site = buildSiteFile({
        hostName,
        port: newPort,
        tls: config.tls,
        basicAuth: environment === 'production' ? undefined : config.previewAuth,
        app,
        environment,
      });
      await applyCaddyChange(() =>
        session.guarded(installCaddyFileArgv(paths.siteFile), { stdin: site }),
      );
      routed = true;
    });
  } catch (error) {
    // Not once the lock was broken: the port may be serving the new holder's instance by now.
    if (started && !routed) {
      await session.cleanUpAsHolder([stopInstanceArgv(paths, newPort)]).catch(() => false);
    }
    throw error;
  }

  await step(
    sink,
    'switch',
    async () => {
      await session.guarded(switchCurrentArgv(paths, target));
      await session.guarded(
        retireInstanceArgv(paths, newPort, livePort !== newPort ? livePort : undefined),
      );
      await session.updateStateAsHolder((s) => {
        const now = s.environments[environment] ?? env;
        return recordDeploy(s, environment, {
          release: target,
          ports: now.ports,
          livePort: newPort,
          commit: now.commits?.[target] ?? `unknown (rolled back to ${target})`,
          deployedAt: new Date().toISOString(),
          by: request.actor.by,
          runUrl: request.actor.runUrl,
          branch: now.branch,
          branchPreview: now.branchPreview,
          pr: now.pr,
        });
      });
    },
    () => target,
  );
  return { environment, release: target, from: env.release, url, port: newPort };
}

/** `toss releases <env>`: the kept releases, marking the live and the previous one. */
export async function readKeptReleases(
  login: TargetRequest['login'],
  app: string,
  environment: string,
): Promise<KeptRelease[]> {
  const env = validateEnvName(environment, 'environment');
  const session = await Session.open(login, app);
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
