import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
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
import { healthCheckArgv, siteCheckArgv } from '../server/health.js';
import { hostNameFor, usesSslip } from '../server/hostnames.js';
import { retireInstanceArgv, routedPort, startInstanceArgv } from '../server/instances.js';
import { ensureUsersArgv, prepareEnvironmentArgv } from '../server/layout.js';
import { checkOrigin, normalizeOrigin } from '../server/origin.js';
import { CADDYFILE, envPaths } from '../server/paths.js';
import { choosePorts, listeningPortsArgv, parseListeningPorts } from '../server/ports.js';
import { claimNames, environmentUnits, setRegistryOrigin } from '../server/registry.js';
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
import { daemonReloadArgv, journalArgv, stopInstanceArgv } from '../server/systemctl.js';
import { dependencyRunArgv, deployScriptRunArgv } from '../server/systemd-run.js';
import { buildUnitTemplate } from '../server/systemd-unit.js';
import { CHANGED, writeFileIfChangedArgv } from '../server/write-file.js';
import type { EventSink } from './events.js';
import { acquireLock } from './lock.js';
import type { DeployRequest, DeployResult } from './request.js';
import { Session } from './session.js';
import { lineSplitter, step } from './step.js';
import { uploadRelease } from './upload.js';

const PREVIEW_KEEP = 2;
const JOURNAL_TAIL = 30;
const CONFIRM_NEW_NAME_SECONDS = 60;
const CONFIRM_KNOWN_NAME_SECONDS = 15;

/** Deploys the working tree to one environment (SPEC "Deploy, step by step"). */
export async function deploy(request: DeployRequest, sink: EventSink): Promise<DeployResult> {
  const { config } = request;
  const environment = validateEnvName(request.environment, 'environment');
  const isProduction = environment === 'production';
  const origin = normalizeOrigin(request.origin);
  const session = await step(
    sink,
    'connect',
    () => Session.open(request.login, config.app),
    () => `${request.login.user}@${request.login.host}`,
  );
  try {
    await step(sink, 'origin', async () => {
      const state = await session.readState();
      checkOrigin(config.app, state?.origin, origin);
    });
    const lock = await step(sink, 'lock', () =>
      acquireLock(
        session,
        {
          environment,
          actor: request.actor,
          lockWaitSeconds: request.lockWaitSeconds,
          token: request.lockToken,
          origin,
          onLockAcquired: request.onLockAcquired,
        },
        sink,
      ),
    );
    try {
      return await deployLocked(session, request, environment, isProduction, origin, sink);
    } finally {
      await lock.release();
    }
  } finally {
    await session.close();
  }
}

async function deployLocked(
  session: Session,
  request: DeployRequest,
  environment: string,
  isProduction: boolean,
  origin: string,
  sink: EventSink,
): Promise<DeployResult> {
  const { config, actor } = request;
  const app = config.app;
  const paths = envPaths(app, environment);
  let state = await session.updateStateAsHolder((s) => {
    // The lock was taken after the origin check; check again on what we now hold.
    checkOrigin(app, s.origin, origin);
    return s.origin === undefined ? { ...s, origin } : s;
  });
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

  const ports = await step(
    sink,
    'names',
    async () => {
      const listening = parseListeningPorts((await session.root(listeningPortsArgv())).stdout);
      let claimed: [number, number] | undefined;
      await session.updateRegistry((registry) => {
        const existing = registry.apps[app]?.environments[environment];
        claimed = existing?.ports ?? before?.ports ?? choosePorts(registry, listening);
        const next = claimNames(registry, app, environment, {
          ports: claimed,
          hostNames: [hostName],
          units: environmentUnits(app, environment),
        });
        return setRegistryOrigin(next, app, origin);
      });
      await session.guarded(ensureUsersArgv(app));
      await session.guarded(prepareEnvironmentArgv(app, environment, config.persistentDirs));
      return claimed!;
    },
    (p) => `${hostName}, ports ${p[0]}/${p[1]}`,
  );

  // What Caddy routes to now is the live port, whatever state says (a crash may sit between).
  const siteNow = await session.conn.readFileIfExists(paths.siteFile);
  const livePort = routedPort(siteNow) ?? before?.livePort;
  const newPort = livePort === ports[0] ? ports[1] : ports[0];
  const releaseId = newReleaseId(new Date());
  const releaseDir = paths.releaseDir(releaseId);
  let started = false;
  let routed = false;

  const discardRelease = async () => {
    if (started)
      await session.root(stopInstanceArgv(app, environment, newPort), { allowFailure: true });
    await session.root(removeReleasesArgv(app, environment, [releaseId]), { allowFailure: true });
  };

  try {
    await step(sink, 'upload', () =>
      uploadRelease(session, {
        sourceDir: request.sourceDir,
        releaseDir,
        linkDest: before ? paths.releaseDir(before.release) : undefined,
        excludes: config.exclude,
      }),
    );

    await step(sink, 'prepare', async () => {
      await session.guarded(
        linkPersistentDirsArgv(app, environment, releaseId, config.persistentDirs),
      );
      const base = await readEnvFile(session, paths.secretsFile);
      const overridesBefore = await readEnvFile(session, paths.overridesFile);
      const overrides = applyOverrideArgs(overridesBefore, request.overrides);
      if (serializeEnvFile(overrides) !== serializeEnvFile(overridesBefore)) {
        await session.guarded(writeFileIfChangedArgv({ path: paths.overridesFile, mode: 0o600 }), {
          stdin: serializeEnvFile(overrides),
        });
      }
      const env = mergeEnv(
        base,
        overrides,
        tossVariables({ app, environment, releaseId, port: newPort }),
      );
      await session.guarded(
        writeFileIfChangedArgv({ path: paths.releaseEnvFile(releaseId), mode: 0o600 }),
        {
          stdin: serializeEnvFile(env),
        },
      );
      await session.guarded(openReleaseForBuildArgv(app, environment, releaseId));
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
        await session.guarded(sealReleaseArgv(app, environment, releaseId));
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
        const written = await session.guarded(
          writeFileIfChangedArgv({ path: paths.unitTemplateFile, mode: 0o644 }),
          { stdin: unit },
        );
        if (written.stdout.trim() === CHANGED) await session.root(daemonReloadArgv());
        await session.guarded(pointSlotArgv(app, environment, newPort, releaseId));
        started = true;
        await session.guarded(startInstanceArgv(app, environment, newPort));
      },
      () => `port ${newPort}`,
    );

    await step(sink, 'health', async () => {
      const result = await session.root(
        healthCheckArgv({
          port: newPort,
          path: config.healthCheck?.path,
          timeoutSec: config.healthCheck?.timeout ?? 30,
        }),
        { allowFailure: true },
      );
      if (result.code !== 0) {
        const journal = await session.root(
          journalArgv({ app, environment, port: newPort, lines: JOURNAL_TAIL }),
          { allowFailure: true },
        );
        throw new TossError(
          `the new release did not pass its health check; it never received traffic.\n${result.stderr.trim()}\n--- last ${JOURNAL_TAIL} lines of ${paths.instanceUnit(newPort)} ---\n${journal.stdout.trim()}`,
          {
            hint: 'fix the app so it listens on $PORT (and answers healthCheck.path), then deploy again',
          },
        );
      }
    });

    await step(sink, 'route', async () => {
      const caddyfile = await session.conn.readFileIfExists(CADDYFILE);
      if (caddyfile === null) {
        throw new TossError(`${CADDYFILE} does not exist: Caddy is not installed on the server`, {
          hint: 'run `toss init` to provision the server (it installs Caddy)',
        });
      }
      const withImport = ensureImportLine(caddyfile);
      if (withImport.changed) {
        await session.guarded(installCaddyFileArgv(CADDYFILE), { stdin: withImport.text });
      }
      const site = buildSiteFile({
        hostName,
        port: newPort,
        tls: config.tls,
        basicAuth: isProduction ? undefined : config.previewAuth,
        app,
        environment,
      });
      await session.guarded(installCaddyFileArgv(paths.siteFile), { stdin: site });
      routed = true;
    });
  } catch (error) {
    if (!routed) await discardRelease();
    throw error;
  }

  await step(
    sink,
    'switch',
    async () => {
      await session.guarded(switchCurrentArgv(app, environment, releaseId));
      await session.guarded(
        retireInstanceArgv(
          app,
          environment,
          newPort,
          livePort !== undefined && livePort !== newPort ? livePort : undefined,
        ),
      );
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

  const scheme = config.tls === 'off' ? 'http' : 'https';
  const url = `${scheme}://${hostName}/`;
  const confirmed = await step(
    sink,
    'confirm',
    async () => {
      const result = await session.root(
        siteCheckArgv({
          hostName,
          tls: config.tls,
          timeoutSec: before === undefined ? CONFIRM_NEW_NAME_SECONDS : CONFIRM_KNOWN_NAME_SECONDS,
        }),
        { allowFailure: true },
      );
      if (result.code === 0) return true;
      const caddyLog = await session.root(
        ['journalctl', '--no-pager', '-u', 'caddy', '-n', '200', '-o', 'cat'],
        {
          allowFailure: true,
        },
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
    },
    (ok) => (ok ? url : 'not yet'),
  );

  await step(
    sink,
    'prune',
    async () => {
      const env = state.environments[environment]!;
      const keep = isProduction ? config.keepReleases : PREVIEW_KEEP;
      const onDisk = parseReleaseList(
        (await session.root(listReleasesArgv(app, environment))).stdout,
      );
      const known = new Set(env.releases);
      // Leftovers of crashed deploys are on disk but not in state.
      const orphans = onDisk.filter((id) => !known.has(id) && id !== env.release);
      const old = releasesToPrune(env.releases, {
        keep,
        live: env.release,
        previous: env.previousRelease,
      });
      const doomed = [...old, ...orphans];
      if (doomed.length === 0) return 0;
      await session.guarded(removeReleasesArgv(app, environment, doomed));
      state = await session.updateStateAsHolder((s) => recordPruned(s, environment, old));
      return doomed.length;
    },
    (n) => (n ? `${n} removed` : undefined),
  );

  return { environment, url, release: releaseId, port: newPort, confirmed };
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
    throw new RemoteCommandError(label, result.code, tail.join('\n'), {
      message: `${label} failed (exit ${result.code ?? 'signal'}); nothing live was touched${tail.length ? `:\n${tail.join('\n')}` : ''}`,
      hint: 'fix the command in toss.json deployScript (or the code it builds), then deploy again',
    });
  }
}

async function readEnvFile(session: Session, path: string) {
  const text = await session.conn.readFileIfExists(path);
  return parseEnvFile(text ?? '', path);
}

async function serverAddress(host: string): Promise<string | undefined> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    return undefined;
  }
}

export type { State };
