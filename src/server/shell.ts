/** `toss ssh`: the command an interactive session runs on the server, and the system ssh argv. */

import { TossError } from '../errors.js';
import { shellJoin } from '../remote/quote.js';

// -P: the shell starts in the release itself, not in the `current` link that a deploy may move.
const ENTER = `cd -P -- "$1" && exec "\${SHELL:-/bin/sh}" -l`;

/** One remote command line: a login shell in `dir` (as root; through sudo for other logins). */
export function enterShellCommand(dir: string, sudo: boolean): string {
  const argv = ['sh', '-c', ENTER, 'sh', dir];
  return shellJoin(sudo ? ['sudo', '-n', '--', ...argv] : argv);
}

// Everything in the release may come from a pull request (a planted .git/config runs its
// core.fsmonitor for whoever types `git status`), so the shell is the environment's own user,
// with the environment it gets from its passwd entry only (--reset-env): no toss variables,
// no root's. Its login shell is nologin, so bash (or sh) is named; interactive, not login, and
// its HOME is /nonexistent, so no profile the build could have written is read. The directory
// is entered as that user: what it cannot enter, its shell could not use anyway.
const ENTER_AS_USER = `exec setpriv --reuid="$2" --regid="$2" --init-groups --reset-env -- /bin/sh -c '
cd -P -- "$1" || exit 1
if [ -x /bin/bash ]; then exec /bin/bash -i; fi
exec /bin/sh -i' sh "$1"`;

/** One remote command line: an interactive shell in `dir` as `user` (through sudo for other logins). */
export function enterUserShellCommand(dir: string, user: string, sudo: boolean): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user))
    throw new TossError(`invalid user name ${JSON.stringify(user)}`);
  const argv = ['sh', '-c', ENTER_AS_USER, 'sh', dir, user];
  return shellJoin(sudo ? ['sudo', '-n', '--', ...argv] : argv);
}

export interface InteractiveSshParams {
  user: string;
  host: string;
  port: number;
  identityFile?: string | undefined;
  /** a known_hosts file holding exactly the verified host key, under `hostKeyAlias` */
  knownHostsFile: string;
  hostKeyAlias: string;
  /** the remote command line (enterShellCommand) */
  command: string;
}

/**
 * The system ssh with the same trust as toss's own connection (no user config, only the
 * verified key, StrictHostKeyChecking=yes, the same identity) and a terminal (-t).
 */
export function interactiveSshArgv(params: InteractiveSshParams): string[] {
  return [
    ...systemSshArgv({
      port: params.port,
      identityFile: params.identityFile,
      knownHostsFile: params.knownHostsFile,
      hostKeyAlias: params.hostKeyAlias,
    }),
    '-t',
    '-l',
    params.user,
    '--',
    params.host,
    params.command,
  ];
}

export interface SystemSshParams {
  port: number;
  /** private key (or, with an agent, its public key file); agent keys only when absent */
  identityFile?: string | undefined;
  /** a known_hosts file holding exactly the verified host key */
  knownHostsFile: string;
  /** name the key is recorded under in knownHostsFile, when not the host itself */
  hostKeyAlias?: string | undefined;
}

/** `ssh -F /dev/null …`: no user config, no prompts, only the verified host key. */
export function systemSshArgv(params: SystemSshParams): string[] {
  const argv = ['ssh', '-F', '/dev/null', '-p', String(params.port)];
  if (params.identityFile !== undefined) {
    argv.push('-i', params.identityFile, '-o', 'IdentitiesOnly=yes');
  }
  argv.push(
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${sshConfigPath(params.knownHostsFile)}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    // Fail in seconds instead of hanging a CI job on a dead network.
    '-o',
    'ConnectTimeout=30',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=4',
  );
  if (params.hostKeyAlias !== undefined) argv.push('-o', `HostKeyAlias=${params.hostKeyAlias}`);
  return argv;
}

// UserKnownHostsFile= takes a list split on whitespace; ssh_config quoting keeps one path whole.
function sshConfigPath(path: string): string {
  if (/["\n\r]/.test(path))
    throw new TossError(`unusable known_hosts path ${JSON.stringify(path)}`);
  return /\s/.test(path) ? `"${path}"` : path;
}
