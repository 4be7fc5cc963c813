/**
 * The exact command lines the SSH layer sends. Pure, so tests assert them (and run them locally);
 * every value goes through shellJoin, scripts are constants that take values as "$1", "$2"….
 */
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

/** argv that runs a script read from stdin, with `args` as "$1"…. */
export function scriptArgv(args: readonly string[] = []): string[] {
  return ['sh', '-s', '--', ...args];
}

/**
 * The stdin for `sh -s`: a brace group makes the shell parse the whole script before running any
 * of it, so no command inside can swallow the rest of the script as its own stdin.
 */
export function scriptStdin(script: string): string {
  return `{\n${script}\n}\n`;
}

const WRITE_FILE_SCRIPT = `set -eu
target=$1 mode=$2 owner=$3
case $target in */*) dir=\${target%/*} ;; *) dir=. ;; esac
tmp=$(mktemp "\${dir:-/}/.toss-write.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod -- "$mode" "$tmp"
if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi
mv -f -T -- "$tmp" "$target"
trap - EXIT`;

/**
 * argv that writes stdin to `path` atomically: a temp file beside it (mktemp: 0600 from the start),
 * mode and owner set, then renamed over the target.
 */
export function writeFileArgv(path: string, mode: number, owner = ''): string[] {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new TypeError(`file mode must be an integer between 0 and 0o7777, got ${mode}`);
  }
  if (path === '') throw new TypeError('file path must not be empty');
  return ['sh', '-c', WRITE_FILE_SCRIPT, 'sh', path, mode.toString(8).padStart(4, '0'), owner];
}

/** Exit status of readFileArgv when the file does not exist (EX_NOINPUT; cat never uses it). */
export const MISSING_FILE_EXIT = 66;

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
