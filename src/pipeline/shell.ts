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

/**
 * Production's journal on several servers (toss.json `servers`): every server's lines, each
 * prefixed with its server. The last lines are merged by their time; with follow, lines are
 * printed as they come, whole. A server that cannot be read is named after the others printed.
 */
export async function streamFleetLogs(
  servers: { name: string; login: Login }[],
  app: string,
  environment: string,
  options: LogsOptions,
): Promise<void> {
  const tagged: { at: number; order: number; line: string }[] = [];
  let order = 0;
  const runs = servers.map(({ name, login }) => {
    let pending = '';
    let last = 0;
    const take = (chunk: Buffer) => {
      const text = pending + chunk.toString('utf8');
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const prefixed = `[${name}] ${line}\n`;
        if (options.follow) {
          options.write(Buffer.from(prefixed));
          continue;
        }
        // A line without a time of its own ("-- No entries --") stays after the one before it.
        last = journalTime(line) ?? last;
        tagged.push({ at: last, order: order++, line: prefixed });
      }
    };
    return streamLogs(login, app, environment, {
      ...options,
      write: take,
      writeErr: (chunk) => options.writeErr(Buffer.from(`[${name}] ${chunk.toString('utf8')}`)),
    }).finally(() => {
      if (pending !== '') take(Buffer.from('\n'));
    });
  });
  const settled = await Promise.allSettled(runs);
  if (!options.follow) {
    tagged.sort((a, b) => a.at - b.at || a.order - b.order);
    for (const { line } of tagged) options.write(Buffer.from(line));
  }
  const failed = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [`${servers[i]!.name}: ${(s.reason as Error).message}`] : [],
  );
  if (failed.length > 0) {
    throw new TossError(`could not read the journal of ${failed.join('\n')}`, {
      hint: 'the other servers’ lines are above; try again once it is reachable',
    });
  }
}

/** The time of a `short-iso` journal line (`2026-11-29T16:40:01+0000 host unit[pid]: …`). */
function journalTime(line: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(\d\d)\s/.exec(line);
  if (m === null) return undefined;
  const at = Date.parse(`${m[1]}${m[2]}:${m[3]}`);
  return Number.isNaN(at) ? undefined : at;
}
