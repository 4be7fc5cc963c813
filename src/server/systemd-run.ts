/**
 * Long steps (deployScript, dependencies) run as transient units, so a client that dies leaves
 * nothing running unmanaged, and stopping the unit stops the step. Flags: systemd-run(1), v252.
 */
import { PRODUCTION } from '../config/env-name.js';
import { appPaths, envPaths } from './paths.js';
import { systemdEscapeDollar } from './systemd-quote.js';
import { envUser } from './users.js';

export interface SystemdRunParams {
  /** unit name, e.g. `toss-run-<app>-<env>.service` */
  unit: string;
  /** run as this user (and its group); root when absent */
  user?: string | undefined;
  cwd?: string | undefined;
  /** EnvironmentFile= read by systemd as root */
  envFile?: string | undefined;
  /** Environment= (the env file wins over these) */
  env?: Record<string, string> | undefined;
  /** further unit properties, `Name=value` */
  properties?: string[] | undefined;
  /** shell command, run by /bin/sh -c */
  command: string;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `systemd-run --wait --pipe …  -- /bin/sh -c COMMAND`; exits with the command's status. */
export function systemdRunArgv(params: SystemdRunParams): string[] {
  const argv = [
    'systemd-run',
    `--unit=${params.unit}`,
    // --wait: block until done and propagate the exit status; --pipe: stream stdin/stdout/stderr.
    '--wait',
    '--pipe',
    // Unload even when it failed, so the next run can reuse the name.
    '--collect',
    '--quiet',
    // exec: a command that cannot be started fails the run instead of looking started.
    '--service-type=exec',
  ];
  if (params.user !== undefined) argv.push(`--uid=${params.user}`, `--gid=${params.user}`);
  if (params.cwd !== undefined) argv.push(`--working-directory=${params.cwd}`);
  for (const [key, value] of Object.entries(params.env ?? {})) {
    if (!ENV_KEY.test(key) || /[\0\n]/.test(value)) {
      throw new TypeError(`invalid environment variable ${JSON.stringify(key)}`);
    }
    argv.push(`--setenv=${key}=${value}`);
  }
  if (params.envFile !== undefined) argv.push(`--property=EnvironmentFile=${params.envFile}`);
  for (const property of params.properties ?? []) argv.push(`--property=${property}`);
  // systemd still expands $VAR in the command line it is given; $$ keeps the shell's own $.
  argv.push('--', '/bin/sh', '-c', systemdEscapeDollar(params.command));
  return argv;
}

export interface DeployScriptRunParams {
  app: string;
  environment: string;
  releaseId: string;
  /** one deployScript command */
  command: string;
}

/** One deployScript command in the new release, as the environment's user, with its env file. */
export function deployScriptRunArgv(params: DeployScriptRunParams): string[] {
  const p = envPaths(params.app, params.environment);
  const releaseDir = p.releaseDir(params.releaseId);
  return systemdRunArgv({
    unit: p.runUnit,
    user: envUser(params.app, params.environment),
    cwd: releaseDir,
    envFile: p.releaseEnvFile(params.releaseId),
    env: { HOME: p.cacheDir },
    properties: [
      'NoNewPrivileges=yes',
      // The build may write only into its own release, the persistent dirs and the cache.
      'ProtectSystem=strict',
      `ReadWritePaths=${releaseDir} ${p.preserveDir} ${p.cacheDir}`,
      `InaccessiblePaths=-${appPaths(params.app).tossDir}`,
      'PrivateTmp=yes',
      'ProtectHome=yes',
    ],
    command: params.command,
  });
}

/** A dependency's install command, as root (the transient unit of production). */
export function dependencyRunArgv(params: { app: string; command: string }): string[] {
  return systemdRunArgv({
    unit: envPaths(params.app, PRODUCTION).runUnit,
    cwd: '/',
    command: params.command,
  });
}
