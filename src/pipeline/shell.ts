/**
 * `toss ssh <env>` and `toss logs <env>`: a terminal in the live release through the system ssh
 * (with the host key the session verified), and the environment's journal over the session.
 */
import { spawn } from 'node:child_process';
import { validateEnvName } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { envPaths } from '../server/paths.js';
import { enterShellCommand, enterUserShellCommand, interactiveSshArgv } from '../server/shell.js';
import { journalArgv } from '../server/systemctl.js';
import { envUser } from '../server/users.js';
import type { Login } from './request.js';
import type { Server } from './server.js';
import { Session } from './session.js';
import { HOST_KEY_ALIAS, withSshFiles } from './ssh-files.js';

/** Refuses, listing the ones there are, an environment state.json does not have. */
export async function requireEnvironment(
  server: Pick<Server, 'app' | 'readState'>,
  environment: string,
): Promise<void> {
  const state = await server.readState();
  if (state?.environments[environment] === undefined) {
    const known = Object.keys(state?.environments ?? {}).sort();
    throw new TossError(`${server.app} has no environment ${environment} on this server`, {
      hint: known.length
        ? `environments: ${known.join(', ')}`
        : `deploy it first (toss deploy ${environment})`,
    });
  }
}

export interface ShellOptions {
  /** a root shell instead of the environment user's */
  root?: boolean | undefined;
}

/**
 * Runs an interactive shell in the environment's live release, as the environment's user (root
 * with `root`); resolves with ssh's exit status.
 */
export async function openShell(
  login: Login,
  app: string,
  environment: string,
  options: ShellOptions = {},
): Promise<number> {
  const env = validateEnvName(environment, 'environment');
  const session = await Session.open(login, app);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await session.close();
  };
  try {
    await requireEnvironment(session, env);
    return await withSshFiles(session, async (files) => {
      const argv = interactiveSshArgv({
        user: login.user,
        host: login.host,
        port: login.port,
        identityFile: files.identityFile,
        knownHostsFile: files.knownHostsFile,
        hostKeyAlias: HOST_KEY_ALIAS,
        command: options.root
          ? enterShellCommand(envPaths(app, env).currentLink, !session.conn.isRoot)
          : enterUserShellCommand(
              envPaths(app, env).currentLink,
              envUser(app, env),
              !session.conn.isRoot,
            ),
      });
      // The interactive ssh is a login of its own: toss's connection is not needed meanwhile.
      await close();
      return runInteractive(argv);
    });
  } finally {
    await close();
  }
}

/** Runs the system ssh in this terminal; resolves with its exit status. */
export function runInteractive(argv: string[]): Promise<number> {
  const [command, ...args] = argv as [string, ...string[]];
  // Ctrl-C belongs to the remote program (ssh puts the terminal in raw mode; psql cancels its
  // query); toss must not die of it.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new TossError(
          error.code === 'ENOENT'
            ? 'ssh is not installed on this machine'
            : `ssh: ${error.message}`,
          { hint: 'install the OpenSSH client (apt-get install openssh-client)' },
        ),
      );
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  }).finally(() => process.off('SIGINT', ignore));
}

export interface LogsOptions {
  lines: number;
  follow: boolean;
  write: (chunk: Buffer) => void;
  writeErr: (chunk: Buffer) => void;
  /** ends a follow: the connection closes and the remote journalctl sees its reader gone */
  signal?: AbortSignal;
}

/** Prints the environment's journal (all its instances); with follow, until the signal aborts. */
export async function streamLogs(
  login: Login,
  app: string,
  environment: string,
  options: LogsOptions,
): Promise<void> {
  const env = validateEnvName(environment, 'environment');
  const session = await Session.open(login, app);
  const stop = () => void session.close();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    await requireEnvironment(session, env);
    if (options.signal?.aborted) return;
    await session.root(
      journalArgv({
        paths: envPaths(app, env),
        lines: options.lines,
        follow: options.follow,
      }),
      { onStdout: options.write, onStderr: options.writeErr },
    );
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await session.close();
  }
}
