/**
 * Provisioning a Debian/Ubuntu server for `toss init`, as pure builders: a probe that reports what
 * is there, a plan of only what is missing (so a re-run changes nothing), and the commands that
 * apply it. Values reach the scripts as positional parameters, never inside the script text.
 */
import type { Database } from '../config/schema.js';
import { TossError } from '../errors.js';
import { PG_SOCKET_DIR } from './database.js';
import { appPaths, CADDY_SITES_DIR, REGISTRY_DIR } from './paths.js';
import { appUsers } from './users.js';

/** What `toss init` needs installed for every app; the package is also the command's name. */
export const REQUIRED_PACKAGES = ['caddy', 'rsync'] as const;

/**
 * Debian's and Ubuntu's PostgreSQL: the release's current major version (15 on Debian 12, 16 on
 * Ubuntu 24.04), whose postinst creates the cluster `<version>/main` on port 5432 and starts it.
 */
export const POSTGRES_PACKAGE = 'postgresql';
/** The port of that cluster (on Debian's socket directory, PG_SOCKET_DIR), as DATABASE_URL assumes. */
export const POSTGRES_PORT = 5432;

/**
 * The one place that decides a server needs PostgreSQL: toss.json has \`database\`. Its packages,
 * none without.
 */
export function databasePackages(config: { database?: Database | undefined }): string[] {
  return config.database ? [POSTGRES_PACKAGE] : [];
}

/** Everything \`toss init\` installs for this toss.json, in order. */
export function requiredPackages(config: { database?: Database | undefined }): string[] {
  return [...REQUIRED_PACKAGES, ...databasePackages(config)];
}

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string;
  prettyName: string;
}

/** `/etc/os-release` (os-release(5)): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): OsRelease {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    let value = m[2];
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    fields[m[1]] = value;
  }
  return {
    id: (fields.ID ?? '').toLowerCase(),
    idLike: (fields.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: fields.VERSION_ID ?? '',
    prettyName: fields.PRETTY_NAME ?? fields.NAME ?? (fields.ID || 'an unknown system'),
  };
}

/** Refuses anything but Debian, Ubuntu and their derivatives (apt + systemd), before any change. */
export function assertSupportedOs(os: OsRelease | undefined): void {
  const family = os ? [os.id, ...os.idLike] : [];
  if (family.includes('debian') || family.includes('ubuntu')) return;
  const what = os ? os.prettyName : 'a system without /etc/os-release';
  throw new TossError(
    `toss init provisions Debian and Ubuntu servers (apt, systemd); this server runs ${what}. Nothing was changed.`,
    {
      hint: 'use a Debian 12+ or Ubuntu 22.04+ server, or install Caddy, rsync and systemd yourself and run `toss deploy` directly',
    },
  );
}

// Prints `key value` lines; every check is read-only.
const PROBE = `set -u
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 state=$5 prod_env=$6 preview_env=$7
prod_user=$8 preview_user=$9
shift 9
sites=$1 registry=$2 pg_socket=$3 pg_port=$4
shift 4
for pkg in "$@"; do
  if [ "$(dpkg-query -W -f='\${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
    echo "package $pkg yes"
  else
    echo "package $pkg no"
  fi
done
enabled=no active=no
systemctl is-enabled --quiet caddy 2>/dev/null && enabled=yes
systemctl is-active --quiet caddy 2>/dev/null && active=yes
echo "caddy-enabled $enabled"
echo "caddy-active $active"
pg_enabled=no pg_ready=no
systemctl is-enabled --quiet postgresql 2>/dev/null && pg_enabled=yes
command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$pg_socket" -p "$pg_port" && pg_ready=yes
echo "postgres-enabled $pg_enabled"
echo "postgres-ready $pg_ready"
for user in "$prod_user" "$preview_user"; do
  if id -u -- "$user" >/dev/null 2>&1; then echo "user yes"; else echo "user no"; fi
done
dir_ok() { # path mode: exists, root-owned, with that mode
  [ -d "$1" ] && [ "$(stat -c '%U:%G %a' -- "$1")" = "root:root $2" ]
}
file_ok() {
  [ -f "$1" ] && [ "$(stat -c '%U:%G %a' -- "$1")" = "root:root 600" ]
}
layout=yes
dir_ok "$sites" 755 && dir_ok "$registry" 755 &&
  dir_ok "$app_dir" 755 && dir_ok "$toss_dir" 700 && dir_ok "$secrets" 700 && dir_ok "$overrides" 700 &&
  file_ok "$prod_env" && file_ok "$preview_env" || layout=no
echo "layout $layout"
if [ -e "$state" ]; then echo "state yes"; else echo "state no"; fi`;

/** Reads, as root, what provisioning would change, `packages` (requiredPackages) among it. */
export function probeArgv(app: string, packages: readonly string[] = REQUIRED_PACKAGES): string[] {
  const a = appPaths(app);
  const users = appUsers(app);
  return [
    'sh',
    '-c',
    PROBE,
    'sh',
    a.appDir,
    a.tossDir,
    a.secretsDir,
    a.overridesDir,
    a.stateFile,
    a.secretsFile('production'),
    a.secretsFile('preview'),
    users.production,
    users.preview,
    CADDY_SITES_DIR,
    REGISTRY_DIR,
    PG_SOCKET_DIR,
    String(POSTGRES_PORT),
    ...packageNames(packages),
  ];
}

/** What the probe found. */
export interface ServerSnapshot {
  missingPackages: string[];
  caddyEnabled: boolean;
  caddyActive: boolean;
  /** postgresql.service is enabled (it starts the clusters at boot) */
  postgresEnabled: boolean;
  /** a PostgreSQL server accepts connections on PG_SOCKET_DIR, POSTGRES_PORT */
  postgresReady: boolean;
  usersPresent: boolean;
  layoutOk: boolean;
  stateExists: boolean;
}

/** The probe's answer; `packages` as given to probeArgv. */
export function parseProbe(
  stdout: string,
  packages: readonly string[] = REQUIRED_PACKAGES,
): ServerSnapshot {
  const lines = stdout.split('\n').map((l) => l.trim().split(/\s+/));
  const value = (key: string) => lines.filter((l) => l[0] === key).map((l) => l[l.length - 1]);
  const found = lines.filter((l) => l[0] === 'package' && l.length === 3);
  if (found.length !== packages.length || value('layout').length !== 1) {
    throw new TossError(`could not read the server's state; the probe printed:\n${stdout.trim()}`);
  }
  return {
    missingPackages: found.filter((l) => l[2] !== 'yes').map((l) => l[1] as string),
    caddyEnabled: value('caddy-enabled')[0] === 'yes',
    caddyActive: value('caddy-active')[0] === 'yes',
    postgresEnabled: value('postgres-enabled')[0] === 'yes',
    postgresReady: value('postgres-ready')[0] === 'yes',
    usersPresent: value('user').length === 2 && value('user').every((v) => v === 'yes'),
    layoutOk: value('layout')[0] === 'yes',
    stateExists: value('state')[0] === 'yes',
  };
}

const INSTALL = `set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -q -o DPkg::Lock::Timeout=120 update
apt-get -q -y -o DPkg::Lock::Timeout=120 --no-install-recommends install -- "$@"`;

function packageNames(packages: readonly string[]): readonly string[] {
  for (const name of packages) {
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name)) throw new TossError(`invalid package name ${name}`);
  }
  return packages;
}

/** `apt-get update` then install the packages (Debian 12 and Ubuntu 24.04 ship caddy). */
export function installPackagesArgv(packages: readonly string[]): string[] {
  return ['sh', '-c', INSTALL, 'sh', ...packageNames(packages)];
}

/** Says what to do when apt has no caddy (older releases, Ubuntu without universe). */
export function installFailureHint(output: string): string {
  if (/Unable to locate package caddy|Package 'caddy' has no installation candidate/.test(output)) {
    return "this release's repositories have no caddy package: add Caddy's own apt repository (https://caddyserver.com/docs/install#debian-ubuntu-raspbian), then run toss init again";
  }
  if (/Temporary failure resolving|Could not connect|Failed to fetch/.test(output)) {
    return 'the server could not reach its package mirror: check its network and /etc/apt/sources.list*, then run toss init again';
  }
  return 'fix the apt problem shown above on the server, then run toss init again (it is safe to repeat)';
}

/** Caddy starts now and at boot; a unit already enabled and running is left alone. */
export function enableCaddyArgv(): string[] {
  return ['systemctl', 'enable', '--now', 'caddy'];
}

// The cluster on the port: started if stopped, created with the newest installed server if there is
// none (postgresql-common's createcluster.conf may have said no), in UTF-8 whatever the locale of
// the SSH session (often none: C would give SQL_ASCII databases); postgresql.service, which starts
// the clusters at boot, enabled. Prints one line per change, then waits for connections.
const ENSURE_POSTGRES = `set -eu
socket_dir=$1 port=$2
ready() { pg_isready -q -h "$socket_dir" -p "$port"; }
if ! systemctl is-enabled --quiet postgresql; then
  systemctl enable --quiet postgresql
  echo 'enabled PostgreSQL at boot'
fi
read -r version name status <<EOF || :
$(pg_lsclusters -h | awk -v port="$port" '$3 == port { print $1, $2, $4; exit }')
EOF
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || { echo 'no PostgreSQL server is installed in /usr/lib/postgresql' >&2; exit 1; }
  name=main status=down
  pg_createcluster --locale C.UTF-8 --port "$port" -- "$version" "$name" >/dev/null
  echo "created the PostgreSQL cluster $version/$name"
fi
case $status in
  online*) ;;
  *)
    systemctl start "postgresql@$version-$name"
    echo "started PostgreSQL $version/$name"
    ;;
esac
tries=0
until ready; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL $version/$name does not accept connections on $socket_dir port $port after 30 s:" >&2
    pg_lsclusters >&2
    exit 1
  fi
  sleep 0.5
done`;

/**
 * PostgreSQL running on Debian's socket and port, now and at boot (run only when the probe says it
 * is not). Prints what it changed, a line each.
 */
export function ensurePostgresArgv(): string[] {
  return ['sh', '-c', ENSURE_POSTGRES, 'sh', PG_SOCKET_DIR, String(POSTGRES_PORT)];
}

// Modes and owners as layout.ts's prepare sets them, so init and deploy agree.
const APP_LAYOUT = `set -eu
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 prod_env=$5 preview_env=$6 sites=$7 registry=$8
install -d -m 0755 -o root -g root -- "$app_dir" "$sites"
install -d -m 0700 -o root -g root -- "$toss_dir" "$secrets" "$overrides"
install -d -m 0755 -o root -g root -- "$registry"
for file in "$prod_env" "$preview_env"; do
  [ -e "$file" ] || : >"$file"
  chown root:root -- "$file"
  chmod 0600 -- "$file"
done`;

/** `/srv/<app>/.toss/` with empty secrets files (root 0600); existing secrets are kept. */
export function appLayoutArgv(app: string): string[] {
  const a = appPaths(app);
  return [
    'sh',
    '-c',
    APP_LAYOUT,
    'sh',
    a.appDir,
    a.tossDir,
    a.secretsDir,
    a.overridesDir,
    a.secretsFile('production'),
    a.secretsFile('preview'),
    CADDY_SITES_DIR,
    REGISTRY_DIR,
  ];
}

/** The read-only checks `init` runs before changing anything. */
export function osReleaseArgv(): string[] {
  return ['cat', '/etc/os-release'];
}
