/**
 * The exact command lines the SSH layer sends. Pure, so tests assert them (and run them locally);
 * every value goes through shellJoin, scripts are constants that take values as "$1", "$2"….
 */

import { EXIT } from '../server/exit-codes.js';
import { shellJoin } from './quote.js';

// Values arrive as positional parameters, so the script text itself never holds a value.
const CD_THEN_EXEC = 'cd -- "$1" && shift && exec "$@"';

/** Grace between timeout's TERM and its KILL. */
const TIMEOUT_KILL_AFTER_S = 5;

/** Exit status of coreutils `timeout` when it had to stop the command. */
export const TIMED_OUT_EXITS = [124, 137];

/** `[sudo -n --] [timeout -k 5 S] [sh -c 'cd …' sh DIR] ARGV…` as one line for the remote shell. */
export function buildCommandLine(
  argv: readonly string[],
  options: {
    sudo?: boolean | undefined;
    cwd?: string | undefined;
    timeoutMs?: number | undefined;
  } = {},
): string {
  if (argv.length === 0) throw new TypeError('a remote command needs at least a program name');
  let words = [...argv];
  // The cd runs inside the sudo so root-only directories work as cwd.
  if (options.cwd !== undefined) words = ['sh', '-c', CD_THEN_EXEC, 'sh', options.cwd, ...words];
  // sshd ignores signal requests, so the server itself must stop a command that runs too long.
  if (options.timeoutMs !== undefined) {
    if (!(options.timeoutMs > 0))
      throw new TypeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    const seconds = String(Math.ceil(options.timeoutMs / 100) / 10);
    words = ['timeout', '-k', String(TIMEOUT_KILL_AFTER_S), seconds, ...words];
  }
  // -n: fail at once instead of waiting for a password nobody will type.
  if (options.sudo) words = ['sudo', '-n', '--', ...words];
  return shellJoin(words);
}

/** Exit status of readFileArgv when the file does not exist (EX_NOINPUT; cat never uses it). */
export const MISSING_FILE_EXIT = EXIT.missingFile;

// Missing only if the nearest existing ancestor is searchable; otherwise cat says why it cannot read.
const READ_FILE_SCRIPT = `if [ -e "$1" ]; then exec cat -- "$1"; fi
d=$1
while d=$(dirname -- "$d"); [ ! -e "$d" ]; do :; done
if [ -x "$d" ]; then exit ${MISSING_FILE_EXIT}; fi
exec cat -- "$1"`;

/** argv that prints a file, or exits MISSING_FILE_EXIT when there is none. */
export function readFileArgv(path: string): string[] {
  return ['sh', '-c', READ_FILE_SCRIPT, 'sh', path];
}

// Several files in one go: a marker line (read from stdin, so nothing a file holds can forge it)
// before each: `<marker> ok` and the file, or `<marker> missing`; `<marker> end` last. Each
// marker line starts with a newline, so a file's exact bytes are what lies between two of them.
const READ_FILES_SCRIPT = `IFS= read -r m || exit 1
for f; do
  if [ -e "$f" ]; then
    printf '\\n%s ok\\n' "$m"
    cat -- "$f" || exit 1
  else
    printf '\\n%s missing\\n' "$m"
  fi
done
printf '\\n%s end\\n' "$m"`;

/** argv that prints several files (each, or that it is missing); the marker goes on stdin. */
export function readFilesArgv(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new TypeError('readFilesArgv needs at least one path');
  return ['sh', '-c', READ_FILES_SCRIPT, 'sh', ...paths];
}

/** readFilesArgv's output split back into the files (null: missing), or undefined if cut short. */
export function parseReadFiles(
  stdout: string,
  marker: string,
  count: number,
): (string | null)[] | undefined {
  const parts = stdout.split(`\n${marker} `);
  if (parts[0] !== '' || parts.length !== count + 2 || parts[count + 1] !== 'end\n') {
    return undefined;
  }
  const files: (string | null)[] = [];
  for (const part of parts.slice(1, -1)) {
    if (part === 'missing\n') files.push(null);
    else if (part.startsWith('ok\n')) files.push(part.slice(3));
    else return undefined;
  }
  return files;
}
