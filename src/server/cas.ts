/**
 * Compare-and-swap of a JSON file on the server (state.json, registry.json), so all logic stays
 * on the client and the server needs only coreutils and flock. The client reads the file with
 * its sha256, computes the next content, and sends it on stdin to one command that, under
 * flock, writes it only if the file still has that sha256. Scripts are constants: values
 * arrive as "$1", "$2"….
 */
import { createHash } from 'node:crypto';
import { TossError } from '../errors.js';
import { EXIT } from './exit-codes.js';

/** The file changed since it was read: read again, recompute, retry. */
export const CAS_CONFLICT_EXIT = EXIT.casConflict;
/** stdin did not arrive whole (the client died mid-write): nothing was written. */
export const CAS_INCOMPLETE_EXIT = EXIT.casIncomplete;
/** The flock stayed taken for too long. */
export const FLOCK_TIMEOUT_EXIT = EXIT.flockTimeout;
/** The app's lock is no longer held by this token: the step must not change anything. */
export const TOKEN_MISMATCH_EXIT = EXIT.tokenMismatch;

/** What readWithShaArgv prints for a missing file, and what casWriteArgv expects to create one. */
export const ABSENT = 'absent';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// Opens the lock file and waits at most 60 s for the flock. A missing directory is made 0700
// (its parents 0755, so /srv/<app> stays traversable for the app users).
const TAKE_FLOCK = (mode: '-x' | '-s') => `dir=\${lock%/*}
[ -d "$dir" ] || (umask 022 && mkdir -p -m 0700 -- "$dir") || exit 1
exec 9>>"$lock" || exit 1
flock ${mode} -w 60 9 || { echo "toss: $lock is still locked after 60 s" >&2; exit ${FLOCK_TIMEOUT_EXIT}; }`;

const READ = `set -u
file=$1 lock=$2
umask 077
# No directory yet: no file either, and a read creates nothing.
[ -d "\${lock%/*}" ] || { echo ${ABSENT}; exit 0; }
${TAKE_FLOCK('-s')}
if [ -e "$file" ]; then
  sha=$(sha256sum < "$file") || exit 1
  echo "\${sha%% *}"
  exec cat -- "$file"
fi
echo ${ABSENT}`;

/** Prints the file's sha256 (or `absent`) on the first line, then the file, under a shared flock. */
export function readWithShaArgv(file: string, lockFile: string): string[] {
  return ['sh', '-c', READ, 'sh', file, lockFile];
}

/** Splits readWithShaArgv's output (the raw stdout, not trimmed). */
export function parseReadWithSha(stdout: string): { sha: string; content: string | null } {
  const newline = stdout.indexOf('\n');
  const first = newline === -1 ? stdout : stdout.slice(0, newline);
  if (first === ABSENT) return { sha: ABSENT, content: null };
  if (!/^[0-9a-f]{64}$/.test(first)) {
    throw new TossError(`unexpected output while reading a file with its checksum: ${first}`);
  }
  return { sha: first, content: stdout.slice(newline + 1) };
}

const WRITE = `set -u
file=$1 lock=$2 want=$3 newsha=$4 mode=$5
umask 077
${TAKE_FLOCK('-x')}
if [ -e "$file" ]; then
  have=$(sha256sum < "$file") || exit 1
else
  have=${ABSENT}
fi
if [ "\${have%% *}" != "$want" ]; then
  echo "toss: $file changed since it was read" >&2
  exit ${CAS_CONFLICT_EXIT}
fi
tmp=$file.toss-tmp.$$
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp" || exit 1
got=$(sha256sum < "$tmp") || exit 1
if [ "\${got%% *}" != "$newsha" ]; then
  echo "toss: the new $file arrived incomplete; nothing was written" >&2
  exit ${CAS_INCOMPLETE_EXIT}
fi
# umask 077 made it 0600 already.
{ [ "$mode" = 0600 ] || chmod -- "$mode" "$tmp"; } && sync -- "$tmp" && mv -f -- "$tmp" "$file" || exit 1
trap - EXIT
sync -- "\${file%/*}" 2>/dev/null || true`;

export interface CasWriteParams {
  file: string;
  lockFile: string;
  /** sha256 from readWithShaArgv, or `absent` to create the file */
  expectedSha: string;
  /** the new content (sent on stdin) */
  content: string;
  /** octal mode of the file, default 0600 */
  mode?: number | undefined;
}

/**
 * The command and its stdin. Exit 0: written; CAS_CONFLICT_EXIT: someone else wrote first (read
 * again and retry); CAS_INCOMPLETE_EXIT: stdin was cut short, nothing written.
 */
export function casWriteArgv(params: CasWriteParams): { argv: string[]; stdin: string } {
  if (params.expectedSha !== ABSENT && !/^[0-9a-f]{64}$/.test(params.expectedSha)) {
    throw new TossError(`invalid expected checksum ${JSON.stringify(params.expectedSha)}`);
  }
  const mode = params.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new TypeError(`bad mode ${mode}`);
  return {
    argv: [
      'sh',
      '-c',
      WRITE,
      'sh',
      params.file,
      params.lockFile,
      params.expectedSha,
      sha256Hex(params.content),
      mode.toString(8).padStart(4, '0'),
    ],
    stdin: params.content,
  };
}

// The token sits in the file as `"token": "<hex>"` (serializeState's fixed layout). A shared
// flock: the holder's guarded steps may run side by side, while anything that writes state.json
// (breaking the lock included) takes it exclusively and so waits for the steps in flight.
const GUARD_CHECK = `set -u
lock=$1 file=$2 token=$3
shift 3
${TAKE_FLOCK('-s')}
if ! grep -Fq -- "\\"token\\": \\"$token\\"" "$file" 2>/dev/null; then
  echo "toss: this deploy no longer holds the lock (it was broken or released)" >&2
  exit ${TOKEN_MISMATCH_EXIT}
fi`;
const GUARD = `${GUARD_CHECK}
"$@" 9>&-`;
// Closing fd 9 drops the flock before the long command starts.
const GUARD_THEN_UNLOCK = `${GUARD_CHECK}
exec 9>&-
exec "$@"`;

/**
 * Runs `argv` under the state flock only while `token` still holds the app's lock, so a holder
 * whose lock was broken changes nothing. The flock is held while argv runs: short steps only.
 */
export function guardedArgv(params: GuardParams, argv: string[]): string[] {
  return guardWith(GUARD, 'guardedArgv', params, argv);
}

/**
 * For long steps (deployScript, dependencies as transient units): checks the token under the
 * state flock, then drops the flock and runs `argv`. Holding it for minutes would block the
 * heartbeat and every other client's read of state.json (flock times out after 60 s); breaking
 * the lock stops the step's transient unit instead, so a broken lock still ends the step.
 */
export function guardedStartArgv(params: GuardParams, argv: string[]): string[] {
  return guardWith(GUARD_THEN_UNLOCK, 'guardedStartArgv', params, argv);
}

/** The app's state file, its lock file, and the token the step's run holds the lock with. */
export interface GuardParams {
  stateFile: string;
  lockFile: string;
  token: string;
}

function guardWith(script: string, name: string, params: GuardParams, argv: string[]): string[] {
  if (!/^[0-9a-f]{16,64}$/.test(params.token)) throw new TossError('invalid lock token');
  if (argv.length === 0) throw new TypeError(`${name} needs a command`);
  return ['sh', '-c', script, 'sh', params.lockFile, params.stateFile, params.token, ...argv];
}
