/** `toss ssh`: the command an interactive session runs on the server, and the system ssh argv. */
import { shellJoin } from '../remote/quote.js';
import { sshArgvForRsync } from './rsync.js';

// -P: the shell starts in the release itself, not in the `current` link that a deploy may move.
const ENTER = `cd -P -- "$1" && exec "\${SHELL:-/bin/sh}" -l`;

/** One remote command line: a login shell in `dir` (as root; through sudo for other logins). */
export function enterShellCommand(dir: string, sudo: boolean): string {
  const argv = ['sh', '-c', ENTER, 'sh', dir];
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
    ...sshArgvForRsync({
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
