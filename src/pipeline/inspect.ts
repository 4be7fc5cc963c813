/**
 * Read-only looks at an app on the server: `toss list` and `toss status`. One connection, a
 * handful of reads; nothing changes and no lock is taken.
 */
import { isProduction } from '../config/env-name.js';
import type { TossConfig } from '../config/schema.js';
import {
  certificateWarning,
  countCertificates,
  type DomainCertificates,
  recentCertificatesArgv,
} from '../server/certificates.js';
import { databaseName, parseDatabaseList } from '../server/database.js';
import { byEnvironment, findDrift, type StatusWarning } from '../server/drift.js';
import { parseEnvFile } from '../server/env-file.js';
import { hostNameFor } from '../server/hostnames.js';
import { type Inventory, inventoryArgv, parseInventory } from '../server/inventory.js';
import { describeLock, isDeadProcessLock, isLockStale, type Lock } from '../server/lock.js';
import { envPaths } from '../server/paths.js';
import { environmentLimits, type Policy, trustedConfig } from '../server/policy.js';
import { foreignListenersOnceArgv } from '../server/port-listeners.js';
import { type ForeignListener, parseForeignListenersByPort } from '../server/port-owner.js';
import { foreignNames, type Registry, unitOwners } from '../server/registry.js';
import { type EnvironmentState, pendingDependencies, type State } from '../server/state.js';
import { listDatabases } from './database-step.js';
import { fleetDrift, fleetOf, readFleetReleases } from './fleet.js';
import { serverAddress } from './health.js';
import { isPidAlive } from './lock.js';
import type { Login } from './request.js';
import type { OpenServer, Server } from './server.js';
import { openServer } from './session.js';

/** One environment as `toss list --json` prints it; absent fields are null, never missing. */
export interface EnvironmentListing {
  name: string;
  url: string | null;
  ports: [number, number];
  livePort: number;
  release: string;
  previousRelease: string | null;
  /** releases kept on disk, oldest first */
  releases: string[];
  commit: string;
  deployedAt: string;
  by: string;
  runUrl: string | null;
  branch: string | null;
  pr: number | null;
  /** systemd ActiveState of the live instance: active, failed, inactive, activating, … */
  service: string;
  /** its PostgreSQL database (toss.json database), null when it has none */
  database: string | null;
}

export interface AppListing {
  version: 1;
  app: string;
  environments: EnvironmentListing[];
  /**
   * Production on several servers (toss.json `servers`): what each runs, the first server
   * first; release null: none, or (with `error`) the server could not be read. Absent on one.
   */
  servers?: {
    name: string;
    role: 'web' | 'worker';
    release: string | null;
    error: string | null;
  }[];
}

export interface LockStatus {
  environment: string;
  by: string;
  host: string;
  /** which machine (see machineIdentity); null for a lock of an older toss */
  machine: string | null;
  pid: number;
  startedAt: string;
  heartbeatAt: string | null;
  runUrl: string | null;
  /** no heartbeat for 2 minutes (or an old lock without heartbeats): anyone may break it */
  stale: boolean;
  description: string;
}

export interface AppStatus {
  version: 1;
  app: string;
  server: string;
  origin: string | null;
  config: {
    domain: string | null;
    previewDomain: string | null;
    tls: string;
    /** null for a static site */
    startCommand: string | null;
    /** the directory Caddy serves for a static site; null for an app */
    static: string | null;
    deployScript: string[];
    keepReleases: number;
    maxPreviews: number;
    persistentDirs: string[];
  };
  /**
   * What previews get (policy.ts): recorded by the last production deploy, whatever the local
   * toss.json says; null before any production deploy (previews get toss's defaults then).
   */
  previewPolicy: {
    recordedBy: string;
    recordedAt: string;
    previewDomain: string | null;
    authUser: string | null;
    maxPreviews: number;
    memory: string | null;
    cpu: string | null;
    buildTimeout: number;
  } | null;
  environments: Array<EnvironmentListing & { overrideKeys: string[] }>;
  lock: LockStatus | null;
  dependencies: Array<{
    name: string;
    command: string;
    appliedAt: string | null;
    pending: boolean;
  }>;
  /**
   * The app's PostgreSQL databases, its templates (`…__seed_…`) included; null when PostgreSQL
   * did not answer (not installed, or stopped)
   */
  databases: string[] | null;
  /** number of keys in each base secrets file; null when it does not exist */
  secrets: { production: number | null; preview: number | null };
  warnings: StatusWarning[];
  /**
   * Certificates Caddy obtained in the last 7 days, per registered domain, from its storage on
   * this server (every app's); `warning` when near the public CA's weekly limit. null when
   * Caddy's storage could not be read; absent where nothing asked for them.
   */
  certificates?: Array<DomainCertificates & { warning: string | null }> | null | undefined;
}

/** The recorded policy as `toss status` shows it (never the password hash). */
export function previewPolicyOf(policy: Policy | undefined): AppStatus['previewPolicy'] {
  if (policy === undefined) return null;
  const limits = environmentLimits({ resources: policy.resources }, 'preview');
  return {
    recordedBy: policy.release,
    recordedAt: policy.recordedAt,
    previewDomain:
      policy.previewDomain ?? (policy.domain === undefined ? null : `preview.${policy.domain}`),
    authUser: policy.previewAuth?.user ?? null,
    maxPreviews: policy.maxPreviews,
    memory: limits.memory ?? null,
    cpu: limits.cpu ?? null,
    buildTimeout: limits.buildTimeout,
  };
}

/** The environments of the state, production first, with their live instance's state. */
export function listingOf(
  app: string,
  state: State | undefined,
  services: Record<string, string>,
  urlFor: (environment: string) => string | null,
  databases: readonly string[] = [],
): AppListing {
  const present = new Set(databases);
  const environments = Object.entries(state?.environments ?? {})
    .sort(byEnvironment)
    .map(([name, env]): EnvironmentListing => {
      const database = databaseName(app, name);
      return {
        name,
        url: urlFor(name),
        ports: env.ports,
        livePort: env.livePort,
        release: env.release,
        previousRelease: env.previousRelease ?? null,
        releases: env.releases,
        commit: env.commit,
        deployedAt: env.deployedAt,
        by: env.by,
        runUrl: env.runUrl ?? null,
        branch: env.branch ?? null,
        pr: env.pr ?? null,
        // A static site has no instance: Caddy serves its files.
        service: env.staticSite ? 'static' : serviceState(app, name, env, services),
        database: present.has(database) ? database : null,
      };
    });
  return { version: 1, app, environments };
}

/**
 * The live instance's systemd state, or `sleeping`: a sleeping environment whose instance is
 * stopped while its wake socket listens (the next request starts it).
 */
function serviceState(
  app: string,
  name: string,
  env: EnvironmentState,
  services: Record<string, string>,
): string {
  const p = envPaths(app, name);
  const state = services[p.instanceUnit(env.livePort)] ?? 'unknown';
  if (env.sleepAfter === undefined || state === 'active' || state === 'failed') return state;
  return services[p.wakeSocketUnit(env.livePort)] === 'active' ? 'sleeping' : state;
}

export function lockStatusOf(lock: Lock | null | undefined, now: Date): LockStatus | null {
  if (lock == null) return null;
  return {
    environment: lock.environment,
    by: lock.by,
    host: lock.host,
    machine: lock.machine ?? null,
    pid: lock.pid,
    startedAt: lock.startedAt,
    heartbeatAt: lock.heartbeatAt ?? null,
    runUrl: lock.runUrl ?? null,
    stale: isLockStale(lock, now),
    description: describeLock(lock, now),
  };
}

/** A lock that `toss lock release` may drop without --force: stale, or its process is gone. */
export function isAbandonedLock(lock: Lock, now: Date, thisMachine: string): string | undefined {
  if (isLockStale(lock, now)) return 'it is stale (no heartbeat for over 2 minutes)';
  if (isDeadProcessLock(lock, thisMachine, isPidAlive)) {
    return `its process ${lock.pid} on ${lock.host} is gone`;
  }
  return undefined;
}

/** `https://<host name>/` as a deploy would serve it, or null when there is none to derive. */
export async function urlResolver(
  config: TossConfig,
  login: Login,
): Promise<(environment: string, policy?: Policy) => string | null> {
  const serverIp = await serverAddress(login.host);
  const scheme = config.tls === 'off' ? 'http' : 'https';
  // Every preview's names come from the same policy: worked out once, not per environment.
  const previews = new Map<Policy | undefined, TossConfig>();
  const namesOf = (environment: string, policy: Policy | undefined) => {
    if (isProduction(environment)) return trustedConfig(config, environment, policy).config;
    let names = previews.get(policy);
    if (names === undefined) {
      names = trustedConfig(config, environment, policy).config;
      previews.set(policy, names);
    }
    return names;
  };
  return (environment, policy) => {
    try {
      // A preview's names are the ones production recorded (policy.ts), as its deploy used.
      const names = namesOf(environment, policy);
      const hostName = hostNameFor({
        app: config.app,
        environment,
        domain: names.domain,
        previewDomain: names.previewDomain,
        serverIp,
        hostNames: names.previews.hostNames,
      });
      return `${scheme}://${hostName}/`;
    } catch {
      return null;
    }
  };
}

interface Snapshot {
  state: State | undefined;
  registry: Registry;
  inventory: Inventory;
  /** port → processes listening there that are not the environment's instances */
  listeners: Map<number, ForeignListener[]>;
  /** the app's databases; undefined when PostgreSQL did not answer (or is not installed) */
  databases: string[] | undefined;
  /** this week's certificates (status only; undefined for list) */
  certificates?: AppStatus['certificates'];
}

/**
 * What list and status read, each kind in one command whatever the number of environments, and
 * all at once: the inventory, the databases and the certificates need nothing from state.json, so
 * they go out with its read (one round trip for list). `listeners`: who else holds the
 * environments' ports, which only status reports (their ports come from state.json).
 */
async function snapshot(
  session: Server,
  options: { listeners: boolean; certificates?: boolean },
): Promise<Snapshot> {
  const inventoryRun = session.root(inventoryArgv(session.app));
  const databasesRun = listDatabases(session, session.app);
  const certificatesRun = options.certificates ? certificatesOf(session) : undefined;
  // Rejections are taken up below; until then they must not count as unhandled.
  for (const run of [inventoryRun, databasesRun, certificatesRun]) run?.catch(() => {});
  const [state, registry] = await Promise.all([session.readState(), session.readRegistry()]);
  // An environment whose names another app owns (see foreignNames) has no service of its own:
  // the unit of that name is the other app's, so its state is not kept.
  const owners = unitOwners(registry);
  const owned = Object.entries(state?.environments ?? {}).filter(
    ([name]) => foreignNames(registry, session.app, name, [], owners).length === 0,
  );
  // A sleeping environment's wake socket too: stopped instance and listening socket = asleep.
  const liveUnits = owned.flatMap(([name, env]) => {
    const p = envPaths(session.app, name);
    const instance = p.instanceUnit(env.livePort);
    return env.sleepAfter === undefined ? [instance] : [instance, p.wakeSocketUnit(env.livePort)];
  });
  // Both ports of every environment of this app: whatever else listens there is reported.
  const portChecks = owned.flatMap(([name, env]) =>
    env.ports.map((port) => ({ port, unit: envPaths(session.app, name).instanceUnit(port) })),
  );
  const listenersRun = async () => {
    if (!options.listeners || portChecks.length === 0) return undefined;
    const { argv, stdin } = foreignListenersOnceArgv(portChecks);
    return session.root(argv, { stdin, allowFailure: true });
  };
  const [inventoryDone, listenersResult, databasesDone, certificates] = await Promise.all([
    inventoryRun,
    listenersRun(),
    databasesRun,
    certificatesRun,
  ]);
  const inventory = parseInventory(inventoryDone.stdout, liveUnits);
  const listeners = parseForeignListenersByPort(listenersResult?.stdout ?? '');
  const databases =
    databasesDone.code === 0
      ? parseDatabaseList(databasesDone.stdout).map((d) => d.name)
      : undefined;
  return { state, registry, inventory, listeners, databases, certificates };
}

/**
 * The app's environments as state.json records them (read without the lock): what a door needs
 * to place a branch's preview (see routeBranchPreview) before it takes the lock.
 */
export async function recordedEnvironments(
  config: TossConfig,
  login: Login,
  connect?: OpenServer,
): Promise<State['environments']> {
  const session = await openServer({ login, connect }, config.app);
  try {
    return (await session.readState())?.environments ?? {};
  } finally {
    await session.close();
  }
}

export async function listApp(
  config: TossConfig,
  login: Login,
  fleet: Login[] = [],
  connect?: OpenServer,
): Promise<AppListing> {
  const urlFor = await urlResolver(config, login);
  const members = fleetOf(config, login, fleet);
  const releases = readFleetReleases(config.app, members.slice(1));
  const session = await openServer({ login, connect }, config.app);
  try {
    const { state, inventory, databases } = await snapshot(session, { listeners: false });
    const listing = listingOf(
      config.app,
      state,
      inventory.services,
      (env) => urlFor(env, state?.policy),
      databases,
    );
    if (members.length === 1) return listing;
    const first = state?.environments.production?.release ?? null;
    const others = await releases;
    const servers = members.map((member, i) => {
      const read = i === 0 ? { release: first, error: undefined } : others[i - 1]!;
      return {
        name: member.name,
        role: member.role,
        release: read.release ?? null,
        error: read.error ?? null,
      };
    });
    return { ...listing, servers };
  } finally {
    await session.close();
  }
}

export async function statusOfApp(
  config: TossConfig,
  login: Login,
  fleet: Login[] = [],
  connect?: OpenServer,
): Promise<AppStatus> {
  const urlFor = await urlResolver(config, login);
  // Production's other servers (toss.json `servers`) are read alongside, for their drift.
  const others = fleetOf(config, login, fleet).slice(1);
  const releases = readFleetReleases(config.app, others);
  const session = await openServer({ login, connect }, config.app);
  try {
    const { state, registry, inventory, listeners, databases, certificates } = await snapshot(
      session,
      { listeners: true, certificates: true },
    );
    const listing = listingOf(
      config.app,
      state,
      inventory.services,
      (env) => urlFor(env, state?.policy),
      databases,
    );
    const keys = await overrideKeys(
      session,
      listing.environments.map((env) => env.name),
      inventory.overrideFiles,
    );
    const environments = listing.environments.map((env) => ({
      ...env,
      overrideKeys: keys.get(env.name) ?? [],
    }));
    const pending = new Set(pendingDependencies(state ?? emptyDeps(), config.dependencies));
    const names = new Set([
      ...Object.keys(config.dependencies),
      ...Object.keys(state?.dependencies ?? {}),
    ]);
    return {
      version: 1,
      app: config.app,
      server: `${login.user}@${login.host}${login.port === 22 ? '' : `:${login.port}`}`,
      origin: state?.origin ?? null,
      config: {
        domain: config.domain ?? null,
        previewDomain: config.previewDomain ?? null,
        tls: config.tls,
        startCommand: config.startCommand ?? null,
        static: config.static ?? null,
        deployScript: config.deployScript,
        keepReleases: config.keepReleases,
        maxPreviews: config.maxPreviews,
        persistentDirs: config.persistentDirs,
      },
      previewPolicy: previewPolicyOf(state?.policy),
      environments,
      lock: lockStatusOf(state?.lock, new Date()),
      dependencies: [...names].sort().map((name) => {
        const applied = state?.dependencies[name];
        return {
          name,
          command: config.dependencies[name] ?? applied?.command ?? '',
          appliedAt: applied?.appliedAt ?? null,
          pending: pending.has(name),
        };
      }),
      secrets: inventory.secretKeys,
      databases: databases ?? null,
      warnings: [
        ...findDrift({ app: config.app, state, inventory, registry, listeners, databases }),
        ...fleetDrift(state?.environments.production?.release ?? null, await releases),
      ],
      certificates,
    };
  } finally {
    await session.close();
  }
}

/** This week's certificates in Caddy's storage; null when it could not be read. */
async function certificatesOf(session: Server): Promise<AppStatus['certificates']> {
  const run = await session.root(recentCertificatesArgv(), { allowFailure: true });
  if (run.code !== 0) return null;
  return countCertificates(run.stdout, new Date()).map((entry) => ({
    ...entry,
    warning: certificateWarning(entry) ?? null,
  }));
}

function emptyDeps(): State {
  return { version: 1, app: '', environments: {}, dependencies: {}, lock: null };
}

/**
 * The names of each environment's overrides; the values are read but never kept. Only the files
 * the inventory found are read, all in one command.
 */
async function overrideKeys(
  session: Server,
  environments: readonly string[],
  overrideFiles: readonly string[],
): Promise<Map<string, string[]>> {
  const present = new Set(overrideFiles);
  const names = environments.filter((name) => present.has(`${name}.env`));
  const files = names.map((name) => envPaths(session.app, name).overridesFile);
  const texts = files.length === 0 ? [] : await session.readFiles(files);
  const keys = new Map<string, string[]>();
  names.forEach((name, i) => {
    keys.set(name, keysOf(texts[i] ?? null, files[i] as string));
  });
  return keys;
}

function keysOf(text: string | null, file: string): string[] {
  if (text === null) return [];
  try {
    return [...parseEnvFile(text, file).keys()].sort();
  } catch {
    return [...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]!).sort();
  }
}
