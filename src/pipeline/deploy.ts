import { validateEnvName } from '../config/env-name.js';
import { RemoteCommandError, TossError } from '../errors.js';
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
import { checkOrigin, normalizeOrigin } from '../server/origin.js';
import { CADDYFILE, envPaths } from '../server/paths.js';
import { choosePorts, listeningPortsArgv, parseListeningPorts } from '../server/ports.js';
import {
  claimNames,
  environmentUnits,
  type Registry,
  serializeRegistry,
  setRegistryOrigin,
} from '../server/registry.js';
import {
  linkPersistentDirsArgv,
  openReleaseForBuildArgv,
  pointSlotArgv,
  removeReleasesArgv,
  sealReleaseArgv,
  switchCurrentArgv,
} from '../server/release-files.js';
import {
  listReleasesArgv,
  newReleaseId,
  parseReleaseList,
  releasesToPrune,
} from '../server/releases.js';
import {
  pendingDependencies,
  previewsByAge,
  recordDependency,
  recordDeploy,
  recordPruned,
  type State,
} from '../server/state.js';
import { stopInstanceArgv } from '../server/systemctl.js';
import { dependencyRunArgv, deployScriptRunArgv } from '../server/systemd-run.js';
import { buildUnitTemplate } from '../server/systemd-unit.js';
import { writeFileIfChangedArgv } from '../server/write-file.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink } from './events.js';
import { checkInstanceHealth, serverAddress } from './health.js';
import { acquireLock } from './lock.js';
import type { DeployRequest, DeployResult } from './request.js';
import { Session } from './session.js';
import { lineSplitter, step } from './step.js';
import { uploadRelease } from './upload.js';

const PREVIEW_KEEP = 2;
const CONFIRM_NEW_NAME_SECONDS = 60;
const CONFIRM_KNOWN_NAME_SECONDS = 15;

/**
 * Deploys the working tree to one environment (SPEC "Deploy, step by step"). Remote work is
 * batched: reads go out together, and consecutive guarded changes share one round trip, so a
 * redeploy costs about a dozen round trips over one connection plus rsync's own login.
 */
export async function deploy(request: DeployRequest, sink: EventSink): Promise<DeployResult> {
  const { config } = request;
  const environment = validateEnvName(request.environment, 'environment');
  const origin = normalizeOrigin(request.origin);
  const session = await step(
    sink,
    'connect',
    () => Session.open(request.login, config.app),
    () => `${request.login.user}@${request.login.host}`,
  );
  try {
    const lock = await step(
      sink,
      'lock',
      () =>
        acquireLock(
          session,
          {
            environment,
            actor: request.actor,
            lockWaitSeconds: request.lockWaitSeconds,
            token: request.lockToken,
            origin,
            onLockAcquired: request.onLockAcquired,
            // A repository with another origin never takes the lock, let alone deploys.
            verify: (state) => checkOrigin(config.app, state.origin, origin),
          },
          sink,
        ),
      () => 'origin verified',
    );
    let last: ((state: State) => State) | undefined;
    try {
      const done = await deployLocked(session, request, environment, origin, lock.state, sink);
      last = done.last;
      return done.result;
    } finally {
      await lock.release(last);
    }
  } finally {
    await session.close();
  }
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
}

async function readServer(session: Session, app: string, environment: string): Promise<ServerView> {
  const paths = envPaths(app, environment);
  const envFile = async (path: string) =>
    parseEnvFile((await session.conn.readFileIfExists(path)) ?? '', path);
  const [registry, ss, site, caddyfile, secrets, overrides, releases] = await Promise.all([
    session.readRegistry(),
    session.root(listeningPortsArgv()),
    session.conn.readFileIfExists(paths.siteFile),
    session.conn.readFileIfExists(CADDYFILE),
    envFile(paths.secretsFile),
    envFile(paths.overridesFile),
    session.root(listReleasesArgv(app, environment)),
  ]);
  return {
    registry,
    listening: parseListeningPorts(ss.stdout),
    site,
    caddyfile,
    secrets,
    overrides,
    onDisk: parseReleaseList(releases.stdout),
  };
}

async function deployLocked(
  session: Session,
  request: DeployRequest,
  environment: string,
  origin: string,
  lockedState: State,
  sink: EventSink,
): Promise<{ result: DeployResult; last?: (state: State) => State }> {
  const { config, actor } = request;
  const app = config.app;
  const isProduction = environment === 'production';
  const paths = envPaths(app, environment);
  let state = lockedState;
  const before = state.environments[environment];

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
        { hint: `remove some (toss remove ${oldest[0]}) or raise maxPreviews in toss.json` },
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
  // What Caddy routes to now is the live port, whatever state says (a crash may sit between).
  const routed = routedPort(view.site);
  const releaseId = newReleaseId(new Date());
  const releaseDir = paths.releaseDir(releaseId);
  const upload = () =>
    step(sink, 'upload', () =>
      uploadRelease(session, {
        sourceDir: request.sourceDir,
        releaseDir,
        linkDest: before ? paths.releaseDir(before.release) : undefined,
        excludes: config.exclude,
      }),
    );

  let started = false;
  let newPort = 0;
  let routedNew = false;
  const discardRelease = async () => {
    if (started) {
      await session.root(stopInstanceArgv(app, environment, newPort), { allowFailure: true });
    }
    await session.root(removeReleasesArgv(app, environment, [releaseId]), { allowFailure: true });
  };

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
              units: environmentUnits(app, environment),
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
          prepareEnvironmentArgv(app, environment, config.persistentDirs),
        ]);
        return ports;
      },
      (p) => `${hostName}, ports ${p[0]}/${p[1]}`,
    );
    // The releases directory exists from the first deploy on: upload while names are checked.
    const [ports] = before
      ? await settleBoth(claimStep, upload())
      : [await claimStep, await upload()];
    const livePort = routed ?? before?.livePort;
    newPort = livePort === ports[0] ? ports[1] : ports[0];

    await step(sink, 'prepare', async () => {
      const overrides = applyOverrideArgs(view.overrides, request.overrides);
      const overridesText = serializeEnvFile(overrides);
      if (overridesText !== serializeEnvFile(view.overrides)) {
        await session.guarded(writeFileIfChangedArgv({ path: paths.overridesFile, mode: 0o600 }), {
          stdin: overridesText,
        });
      }
      const env = mergeEnv(
        view.secrets,
        overrides,
        tossVariables({ app, environment, releaseId, port: newPort }),
      );
      // Secret values travel on stdin only; the one command reading it is the file writer.
      await session.batch(
        [
          linkPersistentDirsArgv(app, environment, releaseId, config.persistentDirs),
          writeFileIfChangedArgv({ path: paths.releaseEnvFile(releaseId), mode: 0o600 }),
          openReleaseForBuildArgv(app, environment, releaseId),
        ],
        { stdin: serializeEnvFile(env) },
      );
    });

    await step(
      sink,
      'deploy-script',
      async () => {
        for (const [index, command] of config.deployScript.entries()) {
          await runStreaming(
            session,
            'deploy-script',
            deployScriptRunArgv({ app, environment, releaseId, command }),
            sink,
            `deployScript[${index}] \`${command}\``,
          );
        }
      },
      () => `${config.deployScript.length} command(s)`,
    );

    await step(
      sink,
      'start',
      async () => {
        const unit = buildUnitTemplate({
          app,
          environment,
          startCommand: config.startCommand,
          resources: isProduction
            ? config.resources
            : { ...config.resources, ...config.resources?.previews },
        });
        started = true;
        await session.batch(
          [
            sealReleaseArgv(app, environment, releaseId),
            installUnitArgv(app, environment),
            pointSlotArgv(app, environment, newPort, releaseId),
            startInstanceArgv(app, environment, newPort),
          ],
          { stdin: unit },
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
      const withImport = ensureImportLine(view.caddyfile);
      if (withImport.changed) {
        await applyCaddyChange(() =>
          session.guarded(installCaddyFileArgv(CADDYFILE), { stdin: withImport.text }),
        );
      }
      const site = buildSiteFile({
        hostName,
        port: newPort,
        tls: config.tls,
        basicAuth: isProduction ? undefined : config.previewAuth,
        app,
        environment,
      });
      await applyCaddyChange(() =>
        session.guarded(installCaddyFileArgv(paths.siteFile), { stdin: site }),
      );
      routedNew = true;
    });

    await step(
      sink,
      'switch',
      async () => {
        const old = livePort !== undefined && livePort !== newPort ? livePort : undefined;
        await session.batch([
          switchCurrentArgv(app, environment, releaseId),
          retireInstanceArgv(app, environment, newPort, old),
        ]);
        state = await session.updateStateAsHolder((s) =>
          recordDeploy(s, environment, {
            release: releaseId,
            ports,
            livePort: newPort,
            commit: request.commit,
            deployedAt: new Date().toISOString(),
            by: actor.by,
            runUrl: actor.runUrl,
            branch: request.branch,
            pr: request.pr,
          }),
        );
      },
      () => releaseId,
    );
  } catch (error) {
    // Best effort: a cleanup that fails too (the connection is gone) must not hide the step
    // that failed and why; a re-run removes what is left (orphans are pruned).
    if (!routedNew) await discardRelease().catch(() => {});
    throw error;
  }

  const scheme = config.tls === 'off' ? 'http' : 'https';
  const url = `${scheme}://${hostName}/`;
  const env = state.environments[environment]!;
  const keep = isProduction ? config.keepReleases : PREVIEW_KEEP;
  const old = releasesToPrune(env.releases, {
    keep,
    live: env.release,
    previous: env.previousRelease,
  });
  const known = new Set(env.releases);
  // Leftovers of crashed deploys are on disk but not in state.
  const orphans = view.onDisk.filter((id) => !known.has(id) && id !== env.release);
  const doomed = [...old, ...orphans];

  // Confirming over HTTPS and pruning touch different things: one round trip for both.
  const [confirmed] = await Promise.all([
    step(
      sink,
      'confirm',
      () => confirmSite(session, hostName, url, config.tls, before === undefined, sink),
      (ok) => (ok ? url : 'not yet'),
    ),
    step(
      sink,
      'prune',
      async () => {
        if (doomed.length === 0) return 0;
        await session.guarded(removeReleasesArgv(app, environment, doomed));
        return doomed.length;
      },
      (n) => (n ? `${n} removed` : undefined),
    ),
  ]);

  return {
    result: { environment, url, release: releaseId, port: newPort, confirmed },
    // Recorded with the lock's release: one write instead of two.
    ...(old.length > 0 ? { last: (s: State) => recordPruned(s, environment, old) } : {}),
  };
}

/** Both results, once both are done: a failure never leaves the other running unwatched. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

/** Step 12: the site answers through Caddy on the server; a new name may wait for its certificate. */
async function confirmSite(
  session: Session,
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
  session: Session,
  stepName: 'deploy-script' | 'dependencies',
  argv: string[],
  sink: EventSink,
  label: string,
): Promise<void> {
  const out = lineSplitter((line) => sink({ type: 'output', step: stepName, line }));
  const tail: string[] = [];
  const collect = lineSplitter((line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  });
  const onData = (chunk: Buffer) => {
    out.push(chunk);
    collect.push(chunk);
  };
  const result = await session.guardedStart(argv, { onStdout: onData, onStderr: onData });
  out.flush();
  collect.flush();
  if (result.code !== 0) {
    // The transient unit may never have started: then the command is not to blame.
    await assertSystemdUsable(session);
    throw new RemoteCommandError(label, result.code, tail.join('\n'), {
      message: `${label} failed (exit ${result.code ?? 'signal'}); nothing live was touched${tail.length ? `:\n${tail.join('\n')}` : ''}`,
      hint: 'fix the command in toss.json deployScript (or the code it builds), then deploy again',
    });
  }
}

const SYSTEMD_STATES = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

/** Throws a TossError naming the cause when systemd on the server cannot run units at all. */
async function assertSystemdUsable(session: Session): Promise<void> {
  const check = await session.root(['systemctl', 'is-system-running'], { allowFailure: true });
  const state = check.stdout.trim();
  if (SYSTEMD_STATES.has(state)) return;
  const said = state || check.stderr.trim().split('\n')[0] || `exit ${check.code ?? 'signal'}`;
  throw new TossError(
    `systemd is not usable on the server (\`systemctl is-system-running\`: ${said}); toss runs deployScript and the app as systemd units; nothing live was touched`,
    { hint: 'deploy to a server that boots with systemd (Debian and Ubuntu do), or repair it' },
  );
}
