/**
 * The rsync that uploads a working tree into a new release. Its remote shell is a tunnel through
 * toss's own SSH connection: one login, and the host key is verified once, by toss.
 */
import { TossError } from '../errors.js';

/** Never uploaded, whatever the ignore files say. */
export const DEFAULT_EXCLUDES = ['.git', 'node_modules', '.env*', '.DS_Store', '.toss'];
/** Per-directory ignore files, read at every level like git does. */
export const DEFAULT_FILTER_FILES = ['.gitignore', '.tossignore'];
/**
 * A tree that toss.json's `build` made is uploaded as built: its node_modules and the files git
 * ignores (dist/, .next/) are what the build produced, so only these and .tossignore are left out.
 */
export const BUILT_EXCLUDES = ['.git', '.env*', '.DS_Store', '.toss'];
export const BUILT_FILTER_FILES = ['.tossignore'];

/**
 * One word of rsync's `-e` string. rsync splits that string itself (not a shell): on spaces,
 * with '…' or "…" keeping spaces and a doubled quote inside standing for itself; no backslashes.
 */
export function rsyncShellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  if (/[\0\n\r\t]/.test(word)) throw new TossError(`unusable ssh argument ${JSON.stringify(word)}`);
  return `'${word.replaceAll("'", "''")}'`;
}

/** The host name rsync hands its remote shell: the tunnel knows only the one connection. */
export const TUNNEL_HOST = 'toss-connection';

// rsync runs this as its remote shell, with `toss-connection rsync --server …` as "$@". It tells
// toss the command on fd 3 (a socket toss gave rsync, which rsync passes on): the argument count,
// then each argument, NUL-terminated. Then fd 3 carries the data both ways: rsync's writes to the
// remote rsync's stdin, its stdout back. toss ends fd 3 when the remote rsync has exited; then the
// copy towards the server is stopped too. No value is in the script.
const TUNNEL_SCRIPT =
  'printf "%s\\0" "$#" "$@" >&3 || exit 1; exec 4<&0; cat <&4 >&3 & cat <&3; kill $! 2>/dev/null; exit 0';

/** rsync's `-e` for the tunnel: `sh -c <script> toss-rsync-tunnel`. */
export function tunnelRemoteShell(): string {
  return ['sh', '-c', TUNNEL_SCRIPT, 'toss-rsync-tunnel'].map(rsyncShellWord).join(' ');
}

/**
 * The command line rsync asked the tunnel to run, from the NUL-terminated words of its frame, or
 * undefined while the frame is incomplete. Throws unless it is rsync's own server side.
 */
export function parseTunnelFrame(
  frame: Buffer,
  sudo: boolean,
): { command: string; rest: Buffer } | undefined {
  const read = frameWords(frame);
  if (read === undefined) return undefined;
  const [host, ...remote] = read.words;
  const command = remote.join(' ');
  const expected = `${sudo ? 'sudo -n ' : ''}rsync --server `;
  if (host !== TUNNEL_HOST || !command.startsWith(expected)) {
    throw new TossError(`rsync asked its tunnel for something else than its server: ${command}`);
  }
  return { command, rest: frame.subarray(read.end) };
}

/**
 * The words of a frame (its leading count, at least 2, not among them) and the offset just past
 * the last one, or undefined while some are still missing. Throws on a bad count.
 */
function frameWords(frame: Buffer): { words: string[]; end: number } | undefined {
  const words: string[] = [];
  let at = 0;
  let count: number | undefined;
  while (count === undefined || words.length < count) {
    const end = frame.indexOf(0, at);
    if (end === -1) return undefined;
    const word = frame.subarray(at, end).toString('utf8');
    at = end + 1;
    if (count === undefined) {
      count = /^\d{1,4}$/.test(word) ? Number(word) : Number.NaN;
      if (!(count >= 2)) throw new TossError(`rsync's tunnel sent a bad frame (${word})`);
    } else words.push(word);
  }
  return { words, end: at };
}

export interface RsyncParams {
  /** local directory to upload (its contents, not the directory itself) */
  source: string;
  /** absolute directory on the server */
  dest: string;
  /** rsync's `-e` (tunnelRemoteShell) */
  remoteShell: string;
  /** absolute path of the live release on the server: unchanged files are hard-linked from it */
  linkDest?: string | undefined;
  /** extra exclude patterns (toss.json `exclude`) */
  excludes?: string[] | undefined;
  /** the tree is a build's output: BUILT_EXCLUDES and BUILT_FILTER_FILES instead of the defaults */
  built?: boolean | undefined;
  /** run the remote rsync through `sudo -n` (non-root login) */
  sudo: boolean;
}

export function buildRsyncArgv(params: RsyncParams): string[] {
  const argv = [
    'rsync',
    // Not -a: owner, group and times stay the server's (times would defeat --link-dest on a
    // fresh CI checkout, whose mtimes are all new).
    '-rlpz',
    // The whole file list first, then the files: with rsync's incremental recursion the receiver
    // asks for each directory's list as it gets there, and every directory of the tree can cost a
    // round trip (2,000 files in 200 directories over a 50 ms link: 0.83 s against 0.69 s). App
    // trees are thousands of files, not the millions that recursion saves memory on.
    '--no-inc-recursive',
    '--delete',
    // Readable by the app user whatever the client's umask was; executables stay executable.
    '--chmod=D0755,Fu+rw,Fgo+rX,Fgo-w',
    // Every file root's. With --link-dest this is what matters: only a file that is root's
    // there is linked, never one an app made in its writable release, which it could still
    // rewrite in place (rsync without an owner to compare links any file of equal content).
    '--chown=root:root',
  ];
  if (params.linkDest !== undefined) {
    if (!params.linkDest.startsWith('/')) throw new TossError('--link-dest must be absolute');
    // Content decides what changed, not mtimes. With nothing to compare with (a first upload
    // into a fresh directory) every file goes anyway: no checksum is read first.
    argv.push('--checksum', `--link-dest=${params.linkDest}`);
  }
  argv.push(...filterArgs(params));
  if (params.sudo) argv.push('--rsync-path=sudo -n rsync');
  if (params.remoteShell === '') throw new TossError('rsync needs a remote shell');
  argv.push('-e', params.remoteShell);
  argv.push(localSource(params.source));
  const path = params.dest;
  if (!path.startsWith('/')) throw new TossError(`remote path must be absolute: ${path}`);
  argv.push(`${TUNNEL_HOST}:${path.endsWith('/') ? path : `${path}/`}`);
  return argv;
}

/** What is left out of the upload: the built-in excludes, toss.json's, and the ignore files. */
export function filterArgs(params: Pick<RsyncParams, 'excludes' | 'built'>): string[] {
  const args: string[] = [];
  // Every pattern goes in as `- PATTERN`, a rule whose pattern is the rest of the argument: rsync
  // reads "!" or "+ .git" there as a file name, while `--exclude=!` would clear every exclude
  // before it and `--exclude=+ X` would include X. The built-ins come first and rsync stops at
  // the first rule that matches, so nothing later (a pattern, a .gitignore line) brings them back.
  const builtIn = params.built ? BUILT_EXCLUDES : DEFAULT_EXCLUDES;
  for (const pattern of [...builtIn, ...(params.excludes ?? [])]) {
    if (/[\n\r]/.test(pattern)) throw new TossError(`unusable exclude ${JSON.stringify(pattern)}`);
    args.push(`--filter=- ${pattern}`);
  }
  // `:- FILE`: merge FILE in every directory, each line an exclude (like nested .gitignore files).
  for (const file of params.built ? BUILT_FILTER_FILES : DEFAULT_FILTER_FILES) {
    if (!/^[A-Za-z0-9._-]+$/.test(file)) throw new TossError(`unusable filter file ${file}`);
    args.push(`--filter=:- ${file}`);
  }
  return args;
}

// A relative path gets `./` so a leading `-` is no option and a `:` no remote host.
function localSource(source: string): string {
  if (source === '') throw new TossError('rsync needs a source directory');
  const path = source.startsWith('/') || source.startsWith('./') ? source : `./${source}`;
  return path.endsWith('/') ? path : `${path}/`;
}
