/**
 * What happens to a release directory on the server: persistent dirs linked in, opened to the
 * build, sealed, pointed at by a slot and `current`, deleted.
 */
import { TossError } from '../errors.js';
import { assertPersistentDir } from './layout.js';
import { noFollowArgv } from './no-follow.js';
import { assertReleaseId, type EnvPaths, INCOMING_DIR } from './paths.js';
import { envUser } from './users.js';

// realpath -m refuses a parent that is a symlink out of the release (the repository could ship one).
const LINK_PERSISTENT = `set -eu
release=$1 preserve=$2
shift 2
root=$(realpath -m -- "$release")
for dir in "$@"; do
  parent=$(realpath -m -- "$(dirname -- "$release/$dir")")
  case $parent in
    "$root" | "$root"/*) ;;
    *) echo "toss: $release/$dir leads outside the release; refusing to link it" >&2; exit 1 ;;
  esac
  rm -rf -- "\${release:?}/$dir"
  mkdir -p -- "$parent"
  ln -s -- "$preserve/$dir" "$release/$dir"
done`;

/** Replaces each persistent dir in the release with a link to `preserve/<dir>`. */
export function linkPersistentDirsArgv(
  p: EnvPaths,
  releaseId: string,
  dirs: readonly string[],
): string[] {
  return noFollowArgv(p.releasesDir, [
    'sh',
    '-c',
    LINK_PERSISTENT,
    'sh',
    p.releaseDir(releaseId),
    p.preserveDir,
    ...dirs.map(assertPersistentDir),
  ]);
}

/**
 * Before deployScript: the directories become the app user's, so the build can add files
 * (node_modules, dist/); files stay root's, so the build cannot change in place a file that is
 * hard-linked with the live release. `-h` and no-follow: a directory swapped for a link is never
 * followed to what it names. The seal (sealReleaseArgv) leaves a writable release's directories
 * the app's the same way, so the app can create, rename and delete entries in its own release
 * while every shipped file stays root's and read-only (an in-place write would reach the other
 * releases sharing its inode; a replacement is a new inode of this release's own).
 */
export function openReleaseForBuildArgv(p: EnvPaths, releaseId: string): string[] {
  const user = envUser(p.app, p.environment);
  return noFollowArgv(p.releasesDir, [
    'find',
    p.releaseDir(releaseId),
    '-type',
    'd',
    '-exec',
    'chown',
    '-h',
    `${user}:${user}`,
    '{}',
    '+',
  ]);
}

// Only what the build added or changed is touched: files hard-linked from the live release are
// already root's and readable, and rewriting their inodes would cost time on every deploy.
// The seal never changes a file it did not create. A file of the build's with other names (a
// package manager's store in cache/ hard-links its files into node_modules) first becomes a copy
// of its own, so making it root's leaves the other names alone; then one walk (GNU find's `,`):
// every directory becomes $2's (root; for a writable release the app user, as
// openReleaseForBuildArgv left them, in this walk rather than a second one), everything else
// that is not root's becomes root's (`-h`: a link itself, never what it names), and of the files
// only the release has, what is writable by others or unreadable stops being so. Root's files
// with other names (linked from the live release by rsync) are never changed. It runs with no
// symlink under releases/ followed (no-follow.ts), so no path can lead chown or chmod outside.
const SEAL = `set -eu
find "$1" -type f ! -user root -links +1 -exec sh -c '
  for f; do cp -p -- "$f" "$f.toss-own" && mv -f -- "$f.toss-own" "$f"; done' sh {} +
find "$1" \\( -type d \\( ! -user "$2" -o ! -group "$2" \\) -exec chown -h "$2:$2" -- {} + \\) , \\
  \\( ! -type d ! -user root -exec chown -h root:root -- {} + \\) , \\
  \\( \\( -type d -o -type f -links 1 \\) \\
  \\( -perm /022 -o ! -perm -004 -o \\( -type d ! -perm -001 \\) \\) \\
  -exec chmod a+rX,go-w -- {} + \\)`;

/**
 * After deployScript: every file root's and readable, so no later build can touch this release;
 * its directories root's too, or with `writable` the app user's (in the same walk).
 */
export function sealReleaseArgv(p: EnvPaths, releaseId: string, writable = false): string[] {
  const owner = writable ? envUser(p.app, p.environment) : 'root';
  return noFollowArgv(p.releasesDir, ['sh', '-c', SEAL, 'sh', p.releaseDir(releaseId), owner]);
}

// A new link beside the old one, renamed over it: readers see the old or the new, never none.
const SWITCH_LINKS = `set -eu
while [ "$#" -ge 2 ]; do
  ln -sfn -- "$1" "$2.toss-new"
  mv -Tf -- "$2.toss-new" "$2"
  shift 2
done`;

/** Points the port's slot (and its env file) at the release, before its instance starts. */
export function pointSlotArgv(p: EnvPaths, port: number, releaseId: string): string[] {
  return [
    'sh',
    '-c',
    SWITCH_LINKS,
    'sh',
    `../releases/${assertReleaseId(releaseId)}`,
    p.slotLink(port),
    `${assertReleaseId(releaseId)}.env`,
    p.slotEnvFile(port),
  ];
}

/** Switches `current` to the release, once it serves the traffic. */
export function switchCurrentArgv(p: EnvPaths, releaseId: string): string[] {
  return ['sh', '-c', SWITCH_LINKS, 'sh', `releases/${assertReleaseId(releaseId)}`, p.currentLink];
}

// Each release is renamed out of the way at once (\`.trash-<id>\`, never a release id) and deleted
// in the background: thousands of files take a while to unlink, and nothing waits for it. Trash a
// crash left behind goes with the next removal.
const REMOVE_RELEASES = `set -eu
dir=$1
shift
while [ "$#" -ge 2 ]; do
  if [ -e "$1" ]; then mv -T -- "$1" "$dir/.trash-\${1##*/}"; fi
  rm -f -- "$2"
  shift 2
done
(rm -rf -- "$dir"/.trash-* </dev/null >/dev/null 2>&1 &)`;

/** Deletes releases and their env files (a failed deploy's, or pruned ones). */
export function removeReleasesArgv(p: EnvPaths, releaseIds: readonly string[]): string[] {
  return [
    'sh',
    '-c',
    REMOVE_RELEASES,
    'sh',
    p.releasesDir,
    ...releaseIds.flatMap((id) => [p.releaseDir(id), p.releaseEnvFile(id)]),
  ];
}

/** Deletes staging directories (an upload whose run never got to use it). */
export function removeStagingArgv(p: EnvPaths, stagingIds: readonly string[]): string[] {
  return ['rm', '-rf', '--', ...stagingIds.map((id) => p.stagingDir(id))];
}

/**
 * The uploaded staging directory (`releases/.incoming-<id>`, or a first upload's under
 * INCOMING_DIR) becomes the release (under the lock; it must not exist yet).
 */
export function adoptStagingArgv(
  p: EnvPaths,
  stagingId: string,
  releaseId: string,
  from: string = p.stagingDir(stagingId),
): string[] {
  return ['mv', '-T', '--', from, p.releaseDir(releaseId)];
}

// The first upload's directory: made root's alone; what a crashed run left there over two hours
// ago goes (uploads take seconds; the staging directory's own name says which run it was).
const PREPARE_INCOMING = `set -eu
dir=$1
install -d -m 0700 -o root -g root -- "$dir"
find "$dir" -mindepth 1 -maxdepth 1 -mmin +120 -exec rm -rf -- {} + 2>/dev/null || :`;

/** Makes INCOMING_DIR for a first upload (see paths.ts), clearing crashed runs' leftovers. */
export function prepareIncomingArgv(): string[] {
  return ['sh', '-c', PREPARE_INCOMING, 'sh', INCOMING_DIR];
}

/** Deletes one first upload's staging directory under INCOMING_DIR. */
export function removeIncomingArgv(dir: string): string[] {
  if (!dir.startsWith(`${INCOMING_DIR}/`) || dir.includes('/', INCOMING_DIR.length + 1)) {
    throw new TypeError(`not a first upload's directory: ${dir}`);
  }
  return ['rm', '-rf', '--', dir];
}

// The kernel follows no symlink under releases/ here (no-follow.ts): a directory on the way that
// is a link fails the test as if it were missing. Caddy, which serves the files as its own user,
// would follow links inside wherever they lead (another environment's files, Caddy's own keys),
// so a static site with any link is refused. A healthCheck.path must be a file of the site.
const CHECK_STATIC = `set -eu
release=$1 dir=$2 page=$3
site=$release
[ "$dir" = . ] || site=$release/$dir
if [ -L "$site" ] || ! [ -d "$site" ]; then
  echo "toss: $dir is not a directory of the release (after build and deployScript)" >&2
  exit 1
fi
cd -- "$site"
links=$(find . -type l | head -n 10)
if [ -n "$links" ]; then
  echo "toss: $dir has symbolic links, which Caddy would follow wherever they lead:" >&2
  printf '%s\\n' "$links" >&2
  exit 1
fi
page=\${page%%\\?*}
if [ -n "$page" ] && ! [ -f "./$page" ] && ! [ -f "./$page/index.html" ]; then
  echo "toss: healthCheck.path $page is no file of $dir" >&2
  exit 1
fi`;

/** A static site's directory (relative to the release, "." for all of it), cleaned up. */
export function staticSiteDir(dir: string): string {
  const parts = dir.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..' || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(part))) {
    throw new TossError(`invalid static site directory ${JSON.stringify(dir)}`);
  }
  return parts.length === 0 ? '.' : parts.join('/');
}

/** Where Caddy serves a static site's release from. */
export function staticSiteRoot(p: EnvPaths, releaseId: string, dir: string): string {
  const clean = staticSiteDir(dir);
  return clean === '.' ? p.releaseDir(releaseId) : `${p.releaseDir(releaseId)}/${clean}`;
}

/** Checks that the release has the static site's directory, with no symlink in it. */
export function checkStaticSiteArgv(
  p: EnvPaths,
  releaseId: string,
  dir: string,
  healthPath: string | undefined,
): string[] {
  return noFollowArgv(p.releasesDir, [
    'sh',
    '-c',
    CHECK_STATIC,
    'sh',
    p.releaseDir(releaseId),
    staticSiteDir(dir),
    healthPath ?? '',
  ]);
}
