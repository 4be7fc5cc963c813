/**
 * Where everything lives on the server. Every path, unit and file name toss uses is built here,
 * from an app and environment name checked again on the way in (defence in depth: they end up in
 * paths, unit names and Caddy file names).
 */
import { ENV_NAME_PATTERN, type EnvName, isEnvName, isProduction } from '../config/env-name.js';
import { TossError } from '../errors.js';

export const SRV_ROOT = '/srv';
export const REGISTRY_DIR = '/var/lib/toss';
export const REGISTRY_FILE = '/var/lib/toss/registry.json';
export const REGISTRY_LOCK_FILE = '/var/lib/toss/registry.lock';
export const SYSTEMD_DIR = '/etc/systemd/system';
export const CADDYFILE = '/etc/caddy/Caddyfile';
export const CADDY_SITES_DIR = '/etc/caddy/toss';
export const CADDY_IMPORT_LINE = 'import /etc/caddy/toss/*.caddy';

const APP_MAX_LENGTH = 40;

export type EnvironmentClass = 'production' | 'preview';

/** `production` is production; every other environment is preview-class. */
export function environmentClass(environment: string): EnvironmentClass {
  return isProduction(environment) ? 'production' : 'preview';
}

export function assertAppName(app: string): string {
  if (typeof app === 'string' && app.length <= APP_MAX_LENGTH && ENV_NAME_PATTERN.test(app)) {
    return app;
  }
  throw new TossError(`invalid app name ${JSON.stringify(app)}`);
}

export function assertEnvName(environment: string): EnvName {
  if (isEnvName(environment)) return environment;
  throw new TossError(`invalid environment name ${JSON.stringify(environment)}`);
}

export function assertPort(port: number): number {
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  throw new TossError(`invalid port ${JSON.stringify(port)}`);
}

/** The app-wide paths: `/srv/<app>` and its `.toss/` (state, lock file, secrets). */
export function appPaths(app: string) {
  const appDir = `${SRV_ROOT}/${assertAppName(app)}`;
  const tossDir = `${appDir}/.toss`;
  const secretsDir = `${tossDir}/secrets`;
  return {
    appDir,
    tossDir,
    stateFile: `${tossDir}/state.json`,
    stateLockFile: `${tossDir}/state.lock`,
    secretsDir,
    overridesDir: `${secretsDir}/overrides`,
    /** Base secrets of an environment class: production.env or preview.env. */
    secretsFile: (cls: EnvironmentClass) => `${secretsDir}/${cls}.env`,
  };
}

/** Staging directories (`releases/.incoming-<id>`): never a release id, so never pruned as one. */
export const STAGING_PREFIX = '.incoming-';

/**
 * Where an environment's first upload goes while the lock is being taken: root's alone (0700),
 * beside the apps on the same filesystem (so adopting it is a rename), never an app's name (app
 * names have no dot). The environment's own directories are made only under the lock, so a first
 * deploy refused there leaves nothing of the environment behind.
 */
export const INCOMING_DIR = `${SRV_ROOT}/.toss-incoming`;

/** `/srv/.toss-incoming/<app>.<env>.<id>`: one first upload's staging directory. */
export function incomingDir(app: string, environment: string, stagingId: string): string {
  return `${INCOMING_DIR}/${assertAppName(app)}.${assertEnvName(environment)}.${assertReleaseId(stagingId)}`;
}

/** The paths and names of one environment of an app. */
export function envPaths(app: string, environment: string) {
  const a = appPaths(app);
  const appName = assertAppName(app);
  const env = assertEnvName(environment);
  const envDir = `${a.appDir}/${env}`;
  const releasesDir = `${envDir}/releases`;
  const envFilesDir = `${envDir}/env`;
  const slotsDir = `${envDir}/slots`;
  // `<app>-<env>` is what unit and site names share; ports.ts guards against two apps producing it.
  const stem = `${appName}-${env}`;
  return {
    app: appName,
    environment: env,
    environmentClass: environmentClass(env),
    isProduction: isProduction(env),
    envDir,
    releasesDir,
    currentLink: `${envDir}/current`,
    preserveDir: `${envDir}/preserve`,
    cacheDir: `${envDir}/cache`,
    envFilesDir,
    slotsDir,
    secretsFile: a.secretsFile(environmentClass(env)),
    overridesFile: `${a.overridesDir}/${env}.env`,
    releaseDir: (releaseId: string) => `${releasesDir}/${assertReleaseId(releaseId)}`,
    /** Where a release is uploaded before the lock is taken; renamed to releaseDir under it. */
    stagingDir: (releaseId: string) =>
      `${releasesDir}/${STAGING_PREFIX}${assertReleaseId(releaseId)}`,
    releaseEnvFile: (releaseId: string) => `${envFilesDir}/${assertReleaseId(releaseId)}.env`,
    /** `slots/<port>` → `../releases/<id>`: the release the instance on that port runs. */
    slotLink: (port: number) => `${slotsDir}/${assertPort(port)}`,
    /** `env/slot-<port>.env` → `<id>.env`: the env file of the instance on that port. */
    slotEnvFile: (port: number) => `${envFilesDir}/slot-${assertPort(port)}.env`,
    /** `toss-<app>-<env>@.service` */
    unitTemplate: `toss-${stem}@.service`,
    unitTemplateFile: `${SYSTEMD_DIR}/toss-${stem}@.service`,
    /** `toss-<app>-<env>@<port>.service` */
    instanceUnit: (port: number) => `toss-${stem}@${assertPort(port)}.service`,
    /** A sleeping environment's socket (Caddy connects there) and proxy (see wake.ts). */
    wakeSocketTemplate: `toss-wake-${stem}@.socket`,
    wakeServiceTemplate: `toss-wake-${stem}@.service`,
    wakeSocketTemplateFile: `${SYSTEMD_DIR}/toss-wake-${stem}@.socket`,
    wakeServiceTemplateFile: `${SYSTEMD_DIR}/toss-wake-${stem}@.service`,
    wakeSocketUnit: (port: number) => `toss-wake-${stem}@${assertPort(port)}.socket`,
    wakeServiceUnit: (port: number) => `toss-wake-${stem}@${assertPort(port)}.service`,
    /** Transient unit of long steps (deployScript, dependencies). */
    runUnit: `toss-run-${stem}.service`,
    siteFile: `${CADDY_SITES_DIR}/${stem}.caddy`,
  };
}

export type EnvPaths = ReturnType<typeof envPaths>;

// Kept here rather than in releases.ts so paths never build a path from an unchecked id.
const RELEASE_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$/;

export function isReleaseId(id: string): boolean {
  return typeof id === 'string' && RELEASE_ID.test(id);
}

export function assertReleaseId(id: string): string {
  if (isReleaseId(id)) return id;
  throw new TossError(`invalid release id ${JSON.stringify(id)}`);
}
