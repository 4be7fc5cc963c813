/**
 * Users, directories and their permissions. Release files belong to root inside an environment
 * directory only the environment's user may enter (root:<user> 0750), so a preview user can
 * never read production; what the app writes (preserve/, cache/) belongs to its user; env files
 * and secrets are root 0600, read by systemd as root.
 */
import { TossError } from '../errors.js';
import { appPaths, type EnvPaths } from './paths.js';
import { appUsers, envUser } from './users.js';

const ENSURE_USERS = `set -eu
for user in "$@"; do
  id -u -- "$user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin -- "$user"
done`;

/** Creates the app's production and preview users if missing. */
export function ensureUsersArgv(app: string): string[] {
  const users = appUsers(app);
  return ['sh', '-c', ENSURE_USERS, 'sh', users.production, users.preview];
}

// `install -d` also resets mode and owner of a directory that exists, so a re-run converges. Only
// directories the app's processes cannot replace (everything down to preserve/ and cache/
// themselves) are made by root: what is inside preserve/ the environment's user makes, as that
// user, so a link the app or its build planted there (`uploads -> /etc`) is followed with the
// user's rights, never root's. One the user cannot make (its own link leads where it may not go)
// is the app's business: it is said and left as it is.
const PREPARE = `set -eu
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 env_dir=$5 user=$6
releases=$7 slots=$8 env_files=$9
shift 9
preserve=$1 cache=$2 env_mode=$3
shift 3
install -d -m 0755 -o root -g root -- "$app_dir"
install -d -m 0700 -o root -g root -- "$toss_dir" "$secrets" "$overrides"
install -d -m "$env_mode" -o root -g "$user" -- "$env_dir"
install -d -m 0755 -o root -g root -- "$releases" "$slots"
install -d -m 0700 -o root -g root -- "$env_files"
install -d -m 0750 -o "$user" -g "$user" -- "$preserve" "$cache"
[ "$#" -eq 0 ] && exit 0
cd -- "$preserve"
exec setpriv --reuid="$user" --regid="$user" --clear-groups -- sh -c 'umask 027
for dir in "$@"; do
  mkdir -p -- "$dir" 2>/dev/null ||
    echo "toss: preserve/$dir is no directory the app can use (a link it made?); left as it is" >&2
done' sh "$@"`;

/** Checks a persistentDirs entry again: it becomes a path under preserve/ and the release. */
export function assertPersistentDir(dir: string): string {
  const parts = dir.split('/');
  if (dir === '' || parts.some((p) => p === '' || p === '.' || p === '..') || /\p{Cc}/u.test(dir)) {
    throw new TossError(`invalid persistent directory ${JSON.stringify(dir)}`);
  }
  return dir;
}

/** `a/b` → `a`, `a/b`: every level under preserve/ (made by the app user). */
function withParents(dirs: readonly string[]): string[] {
  const all = new Set<string>();
  for (const dir of dirs) {
    const parts = assertPersistentDir(dir).split('/');
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join('/'));
  }
  return [...all].sort();
}

/**
 * Creates (or repairs) the app's and the environment's directories with their owners and modes.
 * A static site's environment directory can be passed through by everyone (0751, not listed):
 * Caddy's own user reads its release, whose files are public on the web anyway; env files,
 * preserve/ and cache/ keep their own modes.
 */
export function prepareEnvironmentArgv(
  p: EnvPaths,
  persistentDirs: readonly string[] = [],
  options: { staticSite?: boolean } = {},
): string[] {
  const a = appPaths(p.app);
  return [
    'sh',
    '-c',
    PREPARE,
    'sh',
    a.appDir,
    a.tossDir,
    a.secretsDir,
    a.overridesDir,
    p.envDir,
    envUser(p.app, p.environment),
    p.releasesDir,
    p.slotsDir,
    p.envFilesDir,
    p.preserveDir,
    p.cacheDir,
    options.staticSite ? '0751' : '0750',
    ...withParents(persistentDirs),
  ];
}

const REMOVE_ENV = `set -eu
rm -rf -- "$1"
rm -f -- "$2"`;

/** Remove: the environment's directory and its overrides file. */
export function removeEnvironmentArgv(p: EnvPaths): string[] {
  return ['sh', '-c', REMOVE_ENV, 'sh', p.envDir, p.overridesFile];
}
