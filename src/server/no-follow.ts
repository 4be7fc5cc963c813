/**
 * Root's work on files an environment's user could have shaped (a release the build wrote, the
 * release `--link-dest` reads) runs where no symlink in them is followed: a private mount
 * namespace in which the releases directory is bind-mounted onto itself with `nosymfollow`
 * (Linux 5.10, util-linux 2.37). The kernel then refuses every path through a symlink inside it,
 * whoever planted the link and whenever (a race cannot swap one in between a check and a use);
 * creating and reading links (rsync -l, readlink, find) still works. Links outside the mount,
 * such as `current` pointing into it, are followed as usual.
 */
import { shellJoin } from '../remote/quote.js';

// $0 is the directory; the command follows as "$@". The mounts vanish with the namespace.
const NO_FOLLOW =
  'mount --bind -- "$0" "$0" && mount -o remount,bind,nosymfollow -- "$0" && exec "$@"';

const PREFIX = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', NO_FOLLOW];

/** `argv`, run with no symlink under `dir` followed. */
export function noFollowArgv(dir: string, argv: readonly string[]): string[] {
  if (!dir.startsWith('/')) throw new TypeError(`no-follow directory must be absolute: ${dir}`);
  return [...PREFIX, dir, ...argv];
}

/**
 * The same for a command line rsync wrote for its remote shell (`[sudo -n ]rsync --server …`,
 * already quoted by rsync): the remote rsync resolves no symlink under `dir`. A hard link cannot
 * cross mounts (EXDEV), so `dir` must hold both the destination and the `--link-dest` directory:
 * one bind mount over both.
 */
export function noFollowCommandLine(dir: string, command: string, sudo: boolean): string {
  const sudoPrefix = 'sudo -n ';
  const rest = sudo && command.startsWith(sudoPrefix) ? command.slice(sudoPrefix.length) : command;
  return `${sudo ? sudoPrefix : ''}${shellJoin(noFollowArgv(dir, []))} ${rest}`;
}
