import { PRODUCTION, validateEnvName } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import { LockError, RemoteCommandError, TossError } from '../errors.js';
import { ensureAdminSocket } from '../server/caddy-admin.js';
import { installCaddyFileArgv } from '../server/caddy-apply.js';
import { buildSiteFile, ensureImportLine } from '../server/caddy-site.js';
import {
  applyOverrideArgs,
  mergeEnv,
  parseEnvFile,
  serializeEnvFile,
  tossVariables,
} from '../server/env-file.js';
import { siteCheckArgv } from '../server/health.js';
import { hostNameFor, usesSslip } from '../server/hostnames.js';
import {
  installUnitArgv,
  retireInstanceArgv,
  routedPort,
  startInstanceArgv,
} from '../server/instances.js';
import { ensureUsersArgv, prepareEnvironmentArgv } from '../server/layout.js';
import { withPreemptible } from '../server/lock.js';
import { checkOrigin, normalizeOrigin } from '../server/origin.js';
import { CADDYFILE, envPaths } from '../server/paths.js';
import {
  environmentLimits,
  policyFromConfig,
  policyNotice,
  trustedConfig,
} from '../server/policy.js';
import { portGuardArgv } from '../server/port-owner.js';
import { choosePorts, listeningPortsArgv, parseListeningPorts } from '../server/ports.js';
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
  pointSlotArgv,
  removeReleasesArgv,
  removeStagingArgv,
  sealReleaseArgv,
  switchCurrentArgv,
} from '../server/release-files.js';
import {
  listReleasesArgv,
  newReleaseId,
  parseReleaseLinks,
  parseReleaseList,
  parseStagingList,
  releasesToPrune,
  staleStaging,
} from '../server/releases.js';
import {
  type DeployRecord,
  isBranchPreviewOf,
  pendingDependencies,
  previewsByAge,
  recordDependency,
  recordDeploy,
  recordPolicy,
  recordPruned,
  setLock,
} from '../server/state.js';
import { stopInstanceArgv } from '../server/systemctl.js';
import {
  dependencyRunArgv,
  deployScriptFailure,
  deployScriptRunArgv,
} from '../server/systemd-run.js';
import { buildUnitTemplate } from '../server/systemd-unit.js';
import { writeFileIfChangedArgv } from '../server/write-file.js';
import { applyCaddyChange } from './caddy-errors.js';
import { type EventSink, secretsEvent } from './events.js';
import { checkInstanceHealth, serverAddress, withPortGuard } from './health.js';
import { type HeldLock, lockForRequest } from './lock.js';
import type { DeployRequest, DeployResult } from './request.js';
import type { Server } from './server.js';
import { openServer } from './session.js';
import { lineSplitter, step, stepSince } from './step.js';

const PREVIEW_KEEP = 2;
const STALE_STAGING_MS = 60 * 60 * 1000;
const CONFIRM_NEW_NAME_SECONDS = 60;
const CONFIRM_KNOWN_NAME_SECONDS = 15;

/**
 * Deploys the working tree to one environment (SPEC "Deploy, step by step"). Remote work is
 * batched: reads go out together, and consecutive guarded changes share one round trip, so a
 * redeploy costs about a dozen round trips over one connection, rsync's data included.
 */
export async function deploy(request: DeployRequest, sink: EventSink): Promise<DeployResult> {
  const { config } = request;
  const environment = validateEnvName(request.environment, 'environment');
  const origin = normalizeOrigin(request.origin);
  const session = await step(
    sink,
    'connect',
    () => openServer(request, config.app),
    () => `${request.login.user}@${request.login.host}`,
  );
  try {
    // The upload needs no lock: it fills a staging directory no other run looks at, which becomes
    // the release only under the lock. So it runs while the lock is taken and the server read.
    // (Its name says when it began, for clearing a crashed run's; the release id comes with the
    // lock, so release ids sort in the order releases were made.)
    const stagingId = newReleaseId(new Date());
    const uploadStarted = performance.now();
    const abort = new AbortController();
    const early = uploadEarly(session, request, environment, stagingId, abort.signal);
    const lock = await lockForRequest(session, request, environment, sink, {
      origin,
      // A preview yields to production until its build is done.
      preemptible: environment !== 'production',
      // A repository with another origin never takes the lock, let alone deploys.
      verify: (state) => checkOrigin(config.app, state.origin, origin),
    }).catch(async (error: unknown) => {
      // No lock, no deploy: the upload stops and what it copied (all or part) goes again.
      abort.abort();
      await early;
      await session
        .root(removeStagingArgv(envPaths(config.app, environment), [stagingId]), {
          allowFailure: true,
        })
        .catch(() => {});
      throw error;
    });
    try {
      const upload = { id: stagingId, started: uploadStarted, early };
      return await deployLocked(session, request, environment, origin, lock, upload, sink);
    } catch (error) {
      throw (await preempted(session, environment, lock.token, error)) ?? error;
    } finally {
      // After a failed step; a deploy that went through released the lock with its record.
      await lock.release();
    }
  } finally {
    await session.close();
  }
}

/**
 * A preview deploy's lost lock, when a production deploy took it (before the preview's build
 * was done, the only time it may): said as such.
 */
async function preempted(
  session: Server,
  environment: string,
  token: string,
  error: unknown,
): Promise<LockError | undefined> {
  if (!(error instanceof LockError) || environment === 'production') return undefined;
  const holder = await session.readState().then(
    (state) => state?.lock,
    () => undefined,
  );
  if (holder?.environment !== 'production' || holder.token === token) return undefined;
  return new LockError(
    `a production deploy took the lock and stopped ${environment}'s deploy before its build was done; nothing of ${environment} changed`,
    { hint: `deploy ${environment} again once production's deploy is done` },
  );
}

/**
 * Uploads into the staging directory before the lock is held; false (and nothing reported) when
 * the environment has no releases directory yet (its first deploy) or the copy failed: then the
 * upload runs again under the lock and reports for itself.
 */
async function uploadEarly(
  session: Server,
  request: DeployRequest,
  environment: string,
  stagingId: string,
  signal: AbortSignal,
): Promise<boolean> {
  const paths = envPaths(request.config.app, environment);
  try {
    // Without a releases directory (the environment's first deploy) rsync fails at once.
    await session.upload({
      sourceDir: request.sourceDir,
      releaseDir: paths.stagingDir(stagingId),
      // Unchanged files become hard links to whatever is live (rsync follows the link).
      linkDest: paths.currentLink,
      confineTo: paths.releasesDir,
      excludes: request.config.exclude,
      signal,
    });
    return true;
  } catch {
    return false;
  }
}

/** The upload as deploy() started it: its staging id, when, and whether it went through. */
interface EarlyUpload {
  id: string;
  started: number;
  early: Promise<boolean>;
}

/** What the server has now, read in one go right after the lock is taken. */
interface ServerView {
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
  /** staging directories (by release id) */
  staging: string[];
}

async function readServer(session: Server, app: string, environment: string): Promise<ServerView> {
  const paths = envPaths(app, environment);
  const [registry, ss, files, releases] = await Promise.all([
    session.readRegistry(),
    session.root(listeningPortsArgv()),
    session.readFiles([
      paths.siteFile,
      CADDYFILE,
      paths.secretsFile,
      paths.overridesFile,
      paths.unitTemplateFile,
    ]),
    session.root(listReleasesArgv(paths)),
  ]);
  const [site = null, caddyfile = null, secrets = null, overrides = null, unit = null] = files;
  return {
    registry,
    listening: parseListeningPorts(ss.stdout),
    site,
    caddyfile,
    secrets: parseEnvFile(secrets ?? '', paths.secretsFile),
    overrides: parseEnvFile(overrides ?? '', paths.overridesFile),
    onDisk: parseReleaseList(releases.stdout),
    links: parseReleaseLinks(releases.stdout),
    unit,
    staging: parseStagingList(releases.stdout),
  };
}

async function deployLocked(
  session: Server,
  request: DeployRequest,
  environment: string,
  origin: string,
  lock: HeldLock,
  early: EarlyUpload,
  sink: EventSink,
): Promise<DeployResult> {
  const { actor } = request;
  let state = lock.state;
  // A preview's limits come from what production recorded, never from its own toss.json.
  const trusted = trustedConfig(request.config, environment, state.policy);
  const config = trusted.config;
  if (trusted.overridden.length > 0) {
    sink({ type: 'notice', message: policyNotice(config.app, environment, trusted) });
  }
  const app = config.app;
  const isProduction = environment === 'production';
  const paths = envPaths(app, environment);
  const before = state.environments[environment];
  // A branch's preview never replaces an environment state gives to another branch or to none.
  if (
    request.ownedByBranch &&
    before !== undefined &&
    (request.branch === undefined || !isBranchPreviewOf(before, request.branch))
  ) {
    throw new TossError(
      `refusing to deploy branch ${JSON.stringify(request.branch)}'s preview into ${environment}: state says it belongs to ${before.branch === undefined ? 'no branch (a named environment)' : `branch ${JSON.stringify(before.branch)}`}`,
      { hint: 'rename the branch, or map it to its own environment in toss.json branches' },
    );
  }

  await step(
    sink,
    'dependencies',
    async () => {
      const pending = pendingDependencies(state, config.dependencies);
      if (pending.length === 0) return 'none pending';
      if (!isProduction) {
        throw new TossError(
          `server dependencies not applied yet: ${pending.join(', ')}; previews never apply them`,
          { hint: 'deploy production (or run toss init) first: it applies dependencies as root' },
        );
      }
      for (const name of pending) {
        const command = config.dependencies[name]!;
        await runStreaming(
          session,
          'dependencies',
          dependencyRunArgv({ app, command }),
          sink,
          `dependency ${name}`,
        );
        state = await session.updateStateAsHolder((s) =>
          recordDependency(s, name, command, new Date().toISOString()),
        );
      }
      return `applied ${pending.join(', ')}`;
    },
    (d) => d,
  );

  if (!isProduction && before === undefined) {
    const previews = previewsByAge(state);
    if (previews.length >= config.maxPreviews) {
      const oldest = previews.slice(0, 3).map(([name]) => name);
      throw new TossError(
        `${app} already has ${previews.length} previews (maxPreviews is ${config.maxPreviews}); oldest: ${oldest.join(', ')}`,
        {
          hint: `remove some (toss remove ${oldest[0]}), or raise maxPreviews in toss.json and deploy production`,
        },
      );
    }
  }

  const serverIp = await serverAddress(request.login.host);
  const hostName = hostNameFor({
    app,
    environment,
    domain: config.domain,
    previewDomain: config.previewDomain,
    serverIp,
  });
  if (usesSslip(hostName) && before === undefined) {
    sink({
      type: 'warning',
      message: `no domain in toss.json: serving on ${hostName}; shared sslip.io certificates can be rate-limited`,
    });
  }

  const view = await readServer(session, app, environment);
  // Before anything can print what the build or the journal says.
  sink(
    secretsEvent(
      view.secrets.values(),
      view.overrides.values(),
      applyOverrideArgs(new Map(), request.overrides).values(),
    ),
  );
  // A Caddyfile whose admin endpoint toss cannot make private is refused before anything starts.
  if (view.caddyfile !== null) ensureAdminSocket(view.caddyfile);
  // What Caddy routes to now is the live port, whatever state says (a crash may sit between).
  const routed = routedPort(view.site);
  const releaseId = newReleaseId(new Date());
  const stagingId = early.id;
  // The upload ends with the release in place: renamed from staging, its persistent dirs linked
  // and opened to the build user (once the environment's directories are sure to exist).
  const upload = (claimed: Promise<unknown>) =>
    stepSince(
      early.started,
      sink,
      'upload',
      async () => {
        const alongside = await early.early;
        // A refused claim fails the deploy on its own; the staging copy goes with the cleanup.
        if (
          !(await claimed.then(
            () => true,
            () => false,
          ))
        )
          return 'not placed';
        // Not copied alongside the lock (the environment's first deploy): now that the claim has
        // made its directories.
        if (!alongside) {
          await session.upload({
            sourceDir: request.sourceDir,
            releaseDir: paths.stagingDir(stagingId),
            linkDest: before ? paths.releaseDir(before.release) : undefined,
            confineTo: paths.releasesDir,
            excludes: config.exclude,
          });
        }
        await session.batch([
          adoptStagingArgv(paths, stagingId, releaseId),
          linkPersistentDirsArgv(paths, releaseId, config.persistentDirs),
          openReleaseForBuildArgv(paths, releaseId),
        ]);
        return alongside ? 'alongside the lock' : undefined;
      },
      (d) => d,
    );

  const scheme = config.tls === 'off' ? 'http' : 'https';
  const url = `${scheme}://${hostName}/`;
  let started = false;
  let newPort = 0;
  let routedNew = false;
  let confirmed = false;
  // Only while this run holds the lock: a run whose lock was broken leaves the port it started on
  // (now perhaps the new holder's instance) alone; its release and staging copy are pruned later.
  const discardRelease = () =>
    session.cleanUpAsHolder([
      ...(started ? [stopInstanceArgv(paths, newPort)] : []),
      removeReleasesArgv(paths, [releaseId]),
      removeStagingArgv(paths, [stagingId]),
    ]);

  try {
    const claimStep = step(
      sink,
      'names',
      async () => {
        const existing = view.registry.apps[app]?.environments[environment];
        const ports =
          existing?.ports ?? before?.ports ?? choosePorts(view.registry, view.listening);
        const claim = (registry: Registry) =>
          setRegistryOrigin(
            claimNames(registry, app, environment, {
              ports,
              hostNames: [hostName],
              units: environmentUnits(paths),
            }),
            app,
            origin,
          );
        // A redeploy claims what it already has: no write, no extra round trip.
        if (serializeRegistry(claim(view.registry)) !== serializeRegistry(view.registry)) {
          await session.updateRegistry(claim);
        }
        await session.batch([
          ensureUsersArgv(app),
          prepareEnvironmentArgv(paths, config.persistentDirs),
        ]);
        return ports;
      },
      (p) => `${hostName}, ports ${p[0]}/${p[1]}`,
    );
    const livePort = routed ?? before?.livePort;
    // The env files go in while the upload runs (they need the ports, not the files).
    const prepare = async (ports: [number, number]) => {
      newPort = livePort === ports[0] ? ports[1] : ports[0];
      await step(sink, 'prepare', async () => {
        const overrides = applyOverrideArgs(view.overrides, request.overrides);
        const overridesText = serializeEnvFile(overrides);
        const env = mergeEnv(
          view.secrets,
          overrides,
          tossVariables({ app, environment, releaseId, port: newPort }),
        );
        // Secret values travel on stdin only; the one command reading it is the file writer.
        await settleAll([
          overridesText === serializeEnvFile(view.overrides)
            ? Promise.resolve(undefined)
            : session.guarded(writeFileIfChangedArgv({ path: paths.overridesFile, mode: 0o600 }), {
                stdin: overridesText,
              }),
          session.guarded(
            writeFileIfChangedArgv({ path: paths.releaseEnvFile(releaseId), mode: 0o600 }),
            {
              stdin: serializeEnvFile(env),
            },
          ),
        ] as const);
      });
      return ports;
    };
    const [ports] = await settleAll([claimStep.then(prepare), upload(claimStep)] as const);

    await step(
      sink,
      'deploy-script',
      () => runBuild(session, config, environment, releaseId, sink),
      () => `${config.deployScript.length} command(s)`,
    );

    await step(
      sink,
      'start',
      async () => {
        const unit = buildUnitTemplate({
          paths,
          startCommand: config.startCommand,
          ports,
          resources: environmentLimits(config, environment),
        });
        started = true;
        // The template is written (and systemd reloaded) only when it changed.
        const install = view.unit !== unit;
        // Nothing else may listen on the port the instance starts on (see port-owner.ts).
        await withPortGuard({ app, environment, port: newPort }, () =>
          session.batch(
            [
              sealReleaseArgv(paths, releaseId),
              ...(install ? [installUnitArgv(paths)] : []),
              pointSlotArgv(paths, newPort, releaseId),
              portGuardArgv('free', newPort, paths.instanceUnit(newPort)),
              startInstanceArgv(paths, newPort),
            ],
            install ? { stdin: unit } : {},
          ),
        );
      },
      () => `port ${newPort}`,
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
          `the new release did not pass its health check; it never received traffic.\n${failure}`,
          {
            hint: 'fix the app so it listens on $PORT (and answers healthCheck.path), then deploy again',
          },
        );
      }
    });

    await step(sink, 'route', async () => {
      if (view.caddyfile === null) {
        throw new TossError(`${CADDYFILE} does not exist: Caddy is not installed on the server`, {
          hint: 'run `toss init` to provision the server (it installs Caddy)',
        });
      }
      // The import line and the private admin socket (see caddy-admin.ts): a Caddyfile that
      // moves the admin endpoint is loaded through the old endpoint (see caddy-apply.ts).
      const withImport = ensureImportLine(ensureAdminSocket(view.caddyfile).text);
      if (withImport.text !== view.caddyfile) {
        await applyCaddyChange(() =>
          session.guarded(installCaddyFileArgv(CADDYFILE), { stdin: withImport.text }),
        );
      }
      const siteFor = (port: number) =>
        buildSiteFile({
          hostName,
          port,
          tls: config.tls,
          basicAuth: isProduction ? undefined : config.previewAuth,
          app,
          environment,
        });
      const site = siteFor(newPort);
      // Caddy runs the live site file already: one that differs only in the port needs no new
      // validation (the reload itself is atomic; a failure restores the file).
      const validate = routed === undefined || view.site !== siteFor(routed);
      await applyCaddyChange(() =>
        session.guarded(installCaddyFileArgv(paths.siteFile, { validate }), { stdin: site }),
      );
      routedNew = true;
    });

    const record: DeployRecord = {
      release: releaseId,
      ports,
      livePort: newPort,
      commit: request.commit,
      deployedAt: new Date().toISOString(),
      by: actor.by,
      runUrl: actor.runUrl,
      branch: request.branch,
      branchPreview: request.ownedByBranch === true,
      pr: request.pr,
    };
    // What served until now, if state does not know it (a run killed after routing).
    const replaced = routed === undefined ? undefined : view.links.get(String(routed));
    if (replaced !== undefined && replaced !== before?.release && view.onDisk.includes(replaced)) {
      record.replaced = replaced;
    }
    // What state will say once recorded: which releases stay (SPEC keepReleases).
    const env = recordDeploy(state, environment, record).environments[environment]!;
    const keep = isProduction ? config.keepReleases : PREVIEW_KEEP;
    const pruned = releasesToPrune(env.releases, {
      keep,
      live: env.release,
      previous: env.previousRelease,
    });
    // Leftovers of crashed deploys are on disk but not in state (the release that served until
    // now is in it: see `replaced`).
    const known = new Set(env.releases);
    const orphans = view.onDisk.filter((id) => !known.has(id));
    // A staging directory that old is a crashed run's: uploads take seconds, not an hour.
    const stale = staleStaging(view.staging, new Date(), STALE_STAGING_MS);
    const doomed = [...pruned, ...orphans];
    const old = livePort !== undefined && livePort !== newPort ? livePort : undefined;

    // Traffic goes to the new release now. The switch and the pruning touch different things, and
    // then one write records the deploy and releases the lock; the HTTPS check only reads: all
    // of it at once.
    const confirming = step(
      sink,
      'confirm',
      () => confirmSite(session, hostName, url, config.tls, before === undefined, sink),
      (ok) => (ok ? url : 'not yet'),
    );
    const recording = (async () => {
      await settleAll([
        step(
          sink,
          'switch',
          () =>
            session.batch([
              switchCurrentArgv(paths, releaseId),
              retireInstanceArgv(paths, newPort, old),
            ]),
          () => releaseId,
        ),
        step(
          sink,
          'prune',
          async () => {
            if (doomed.length + stale.length === 0) return 0;
            await session.batch([
              ...(doomed.length ? [removeReleasesArgv(paths, doomed)] : []),
              ...(stale.length ? [removeStagingArgv(paths, stale)] : []),
            ]);
            return doomed.length + stale.length;
          },
          (n) => (n ? `${n} removed` : undefined),
        ),
      ] as const);
      await lock.finish((s) => {
        const next = recordPruned(recordDeploy(s, environment, record), environment, pruned);
        // What previews may do is what production was last deployed with.
        return isProduction
          ? recordPolicy(next, policyFromConfig(config, releaseId, new Date()))
          : next;
      });
    })();
    [, confirmed] = await settleAll([recording, confirming] as const);
  } catch (error) {
    // Best effort: a cleanup that fails too (the connection is gone) must not hide the step
    // that failed and why; a re-run removes what is left (orphans are pruned).
    if (!routedNew) await discardRelease().catch(() => {});
    throw error;
  }

  return { environment, url, release: releaseId, port: newPort, confirmed };
}

/**
 * deployScript, command by command, as the environment's user within its trusted limits; the
 * time limit bounds the whole script. A preview's lock yields to production until this is done
 * (see decideAcquire); then it stops yielding, and a build production stopped says so.
 */
async function runBuild(
  session: Server,
  config: TossConfig,
  environment: string,
  releaseId: string,
  sink: EventSink,
): Promise<void> {
  const app = config.app;
  const { buildTimeout, memory, cpu } = environmentLimits(config, environment);
  const deadline = performance.now() + buildTimeout * 1000;
  let failure: unknown;
  try {
    for (const [index, command] of config.deployScript.entries()) {
      const timeoutSec = Math.max(1, Math.ceil((deadline - performance.now()) / 1000));
      await runStreaming(
        session,
        'deploy-script',
        deployScriptRunArgv({
          paths: envPaths(app, environment),
          releaseId,
          command,
          limits: { memory, cpu, timeoutSec },
        }),
        sink,
        `deployScript[${index}] \`${command}\``,
        buildTimeout,
      );
    }
  } catch (error) {
    failure = error;
  }
  // Past the build, the run is short and touches shared state: it no longer yields. A build
  // stopped for production may even look finished (SIGTERM ends `sleep` cleanly).
  if (environment !== PRODUCTION) {
    const held = await session
      .updateStateAsHolder((s) => setLock(s, withPreemptible(s.lock!, false)))
      .then(
        () => true,
        (error: unknown) => (error instanceof LockError ? false : Promise.reject(error)),
      );
    if (!held) {
      throw new LockError(
        `a production deploy took the lock and stopped ${environment}'s build; nothing of ${environment} changed`,
        { hint: `deploy ${environment} again once production's deploy is done` },
      );
    }
  }
  if (failure !== undefined) throw failure;
}

/** Every result, once all are done: a failure never leaves another step running unwatched. */
async function settleAll<T extends readonly unknown[]>(
  promises: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const settled = await Promise.allSettled(promises);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** Step 12: the site answers through Caddy on the server; a new name may wait for its certificate. */
async function confirmSite(
  session: Server,
  hostName: string,
  url: string,
  tls: 'auto' | 'internal' | 'off',
  newName: boolean,
  sink: EventSink,
): Promise<boolean> {
  const result = await session.root(
    siteCheckArgv({
      hostName,
      tls,
      timeoutSec: newName ? CONFIRM_NEW_NAME_SECONDS : CONFIRM_KNOWN_NAME_SECONDS,
    }),
    { allowFailure: true },
  );
  if (result.code === 0) return true;
  const caddyLog = await session.root(
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

/** Runs a long step, streaming its output as events; the error carries the step's output. */
async function runStreaming(
  session: Server,
  stepName: 'deploy-script' | 'dependencies',
  argv: string[],
  sink: EventSink,
  label: string,
  timeoutSec?: number,
): Promise<void> {
  const out = lineSplitter((line) => sink({ type: 'output', step: stepName, line }));
  const tail: string[] = [];
  const collect = lineSplitter((line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  });
  let stderr = '';
  const onData = (chunk: Buffer) => {
    out.push(chunk);
    collect.push(chunk);
  };
  const onStderr = (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    onData(chunk);
  };
  const result = await session.guardedStart(argv, { onStdout: onData, onStderr });
  out.flush();
  collect.flush();
  if (result.code !== 0) {
    const failure = deployScriptFailure(label, result.code, stderr, timeoutSec);
    // The transient unit may never have started: then the command is not to blame.
    if (!failure.timedOut) await assertSystemdUsable(session);
    throw new RemoteCommandError(label, result.code, tail.join('\n'), {
      message: `${failure.message}; nothing live was touched${tail.length ? `:\n${tail.join('\n')}` : ''}`,
      hint: failure.timedOut
        ? 'make the build faster, or raise resources.buildTimeout (resources.previews.buildTimeout for previews) in toss.json and deploy production'
        : 'fix the command in toss.json deployScript (or the code it builds), then deploy again',
    });
  }
}

const SYSTEMD_STATES = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

/** Throws a TossError naming the cause when systemd on the server cannot run units at all. */
async function assertSystemdUsable(session: Server): Promise<void> {
  const check = await session.root(['systemctl', 'is-system-running'], { allowFailure: true });
  const state = check.stdout.trim();
  if (SYSTEMD_STATES.has(state)) return;
  const said = state || check.stderr.trim().split('\n')[0] || `exit ${check.code ?? 'signal'}`;
  throw new TossError(
    `systemd is not usable on the server (\`systemctl is-system-running\`: ${said}); toss runs deployScript and the app as systemd units; nothing live was touched`,
    { hint: 'deploy to a server that boots with systemd (Debian and Ubuntu do), or repair it' },
  );
}
