/**
 * Starting a release's instance on the idle port and retiring the old one after a drain.
 * The old instance is stopped by a transient timer, so a deploy never sleeps through the drain.
 */
import { BASH_NAP } from './health.js';
import { type EnvPaths, SYSTEMD_DIR } from './paths.js';
import { systemdEscapeDollar } from './systemd-quote.js';
import { writeFileIfChangedArgv } from './write-file.js';

/** Where `systemctl enable` puts the template's instances (its [Install] WantedBy=multi-user.target). */
const BOOT_WANTS_DIR = `${SYSTEMD_DIR}/multi-user.target.wants`;
/** Where a sleeping environment's wake socket is linked (its [Install] WantedBy=sockets.target). */
const SOCKETS_WANTS_DIR = `${SYSTEMD_DIR}/sockets.target.wants`;

/**
 * How the old instance drains once Caddy routes to the new one: it keeps serving the requests it
 * already accepted and stops as soon as none are left, or when `drainTimeout` runs out.
 *
 * "None left" is read off the kernel: no established TCP connection to the old port. That means
 * idle only because every toss site file has Caddy open one connection per request and close it
 * after the response (`keepalive off`, see caddy-site.ts): no idle connection is ever kept. The
 * port must stay quiet for DRAIN_QUIET_MS in a row, not just once: a client whose connection
 * Caddy accepted under the old configuration a moment before the reload (a slow TLS handshake)
 * still sends its request there.
 */
export const DRAIN_QUIET_MS = 600;
const DRAIN_POLL_MS = 100;

// Root runs it in a transient unit named after the port (drainUnit); $1 the old instance, $2 its
// port, $3 the limit in seconds, $4 the quiet time and $5 the poll interval in milliseconds; any
// further arguments are units to stop with it. In bash, so a poll costs one process (ss): the
// clock is $EPOCHREALTIME and the pause a `read -t` on a pipe nothing writes to (BASH_NAP),
// where date, sleep and their subshells cost five more, ten times a second, beside the new
// instance's first requests.
const DRAIN = `set -u
old=$1 port=$2 limit=$3 quiet=$4 poll=$5
ms() { now=\${EPOCHREALTIME/[.,]/}; now=$(( now / 1000 )); }
printf -v pause '%d.%03d' $(( poll / 1000 )) $(( poll % 1000 ))
${BASH_NAP}
ms
start=$now
end=$(( start + limit * 1000 ))
idle_since=$start
while :; do
  ms
  if [ -n "$(ss -Htn state established "( sport = :$port )" 2>/dev/null)" ]; then
    idle_since=$now
  elif [ $(( now - idle_since )) -ge "$quiet" ]; then
    echo "toss: no request left on port $port after $(( now - start )) ms; stopping $old"
    break
  fi
  if [ "$now" -ge "$end" ]; then
    echo "toss: port $port still had requests after $limit s (drainTimeout); stopping $old"
    break
  fi
  read -r -t "$pause" -u "$nap" _
done
shift 5
# A sleeping environment's proxy and socket for the old port go too (its proxy's own stop would
# stop the instance without waiting).
[ "$#" -eq 0 ] || systemctl stop -- "$@" 2>/dev/null
exec systemctl stop -- "$old"`;

// A drain of this port still pending (from a deploy seconds ago), or running, must not stop what
// starts there now. systemd keeps transient units' files in /run/systemd/transient/ (and drains
// are --collect'ed), so only then is there something to stop. The template has
// StartLimitIntervalSec=0: a failed instance restarts as is. An app that exits at once (its
// program is missing) can end before systemd sees the exec (Type=exec), which fails the start
// job; that is the app's failure, which the health check then names from the journal.
const START = `set -u
unit=$1 drain=$2
t=/run/systemd/transient/$drain
if [ -e "$t.timer" ] || [ -e "$t.service" ]; then
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
fi
err=$(systemctl restart -- "$unit" 2>&1) && exit 0
case $(systemctl show -P Result -- "$unit") in exit-code | signal | core-dump) exit 0 ;; esac
printf '%s\n' "$err" >&2
exit 1`;

/** Drain units are named per port: `toss-drain-<app>-<env>-<port>`. */
export function drainUnit(p: EnvPaths, port: number): string {
  return `toss-drain-${p.app}-${p.environment}-${port}`;
}

/** (Re)starts the instance on `port`, cancelling a drain still pending for it. */
export function startInstanceArgv(p: EnvPaths, port: number): string[] {
  return ['sh', '-c', START, 'sh', p.instanceUnit(port), drainUnit(p, port)];
}

// The boot links are what `systemctl enable --no-reload` makes for the template's one WantedBy=
// (toss writes the templates): made directly, no systemctl round trip, and no daemon-reload,
// which links only read at boot do not need. An instance that runs all the time is linked into
// multi-user.target; a sleeping one's socket into sockets.target instead. Every other link of
// both ports goes. --collect: a drain unit never lingers as failed; one still running for the old
// port (a deploy seconds ago) is replaced.
const RETIRE = `set -u
link=$1 target=$2 old=$3 drain=$4
shift 4
{ [ -d "\${link%/*}" ] || mkdir -p -- "\${link%/*}"; } && ln -sfn -- "$target" "$link" || exit 1
while [ "$1" != -- ]; do rm -f -- "$1"; shift; done
shift
[ -n "$old" ] || exit 0
start_drain() {
  systemd-run --quiet --collect --unit="$drain" --service-type=exec \\
    --description="toss: drain $old" -- "$@"
}
start_drain "$@" 2>/dev/null || {
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
  systemctl reset-failed -- "$drain.timer" "$drain.service" 2>/dev/null
  start_drain "$@"
}`;

/** Where the instance (running all the time) or its wake socket (sleeping) is linked for boot. */
function bootLinks(p: EnvPaths, port: number): { instance: string; socket: string } {
  return {
    instance: `${BOOT_WANTS_DIR}/${p.instanceUnit(port)}`,
    socket: `${SOCKETS_WANTS_DIR}/${p.wakeSocketUnit(port)}`,
  };
}

/**
 * The new instance (or, for a sleeping environment, its wake socket) comes back after a reboot;
 * the old one drains (see DRAIN) for at most `drainSeconds`, then stops with its wake units.
 */
export function retireInstanceArgv(
  p: EnvPaths,
  target: { port: number; sleeps: boolean },
  oldPort: number | undefined,
  drainSeconds: number,
): string[] {
  if (!Number.isInteger(drainSeconds) || drainSeconds < 0 || drainSeconds > 3600) {
    throw new TypeError(`invalid drain time ${drainSeconds}`);
  }
  const fresh = bootLinks(p, target.port);
  const [link, linkTarget] = target.sleeps
    ? [fresh.socket, p.wakeSocketTemplateFile]
    : [fresh.instance, p.unitTemplateFile];
  const unlink = [target.sleeps ? fresh.instance : fresh.socket];
  if (oldPort !== undefined && oldPort !== target.port) {
    const stale = bootLinks(p, oldPort);
    unlink.push(stale.instance, stale.socket);
  }
  const retiring = oldPort !== undefined && oldPort !== target.port ? oldPort : undefined;
  return [
    'sh',
    '-c',
    RETIRE,
    'sh',
    link,
    linkTarget,
    retiring === undefined ? '' : p.instanceUnit(retiring),
    retiring === undefined ? '' : drainUnit(p, retiring),
    ...unlink,
    '--',
    ...(retiring === undefined ? [] : drainArgv(p, retiring, drainSeconds)),
  ];
}

// systemd-run hands this to systemd as the unit's command line, where systemd substitutes $VAR
// and ${VAR} (an unset one by nothing) before bash sees it: every $ goes doubled.
function drainArgv(p: EnvPaths, port: number, drainSeconds: number): string[] {
  return [
    'bash',
    '-c',
    DRAIN,
    'bash',
    p.instanceUnit(port),
    String(port),
    String(drainSeconds),
    String(DRAIN_QUIET_MS),
    String(DRAIN_POLL_MS),
    p.wakeServiceUnit(port),
    p.wakeSocketUnit(port),
  ].map(systemdEscapeDollar);
}

/** The port a site file proxies to (what really gets traffic), if it is one of ours. */
export function routedPort(siteFile: string | null): number | undefined {
  const match =
    siteFile === null
      ? null
      : /reverse_proxy\s+(?:127\.0\.0\.1:|unix\/\/run\/toss-wake\/)(\d+)\b/.exec(siteFile);
  return match ? Number(match[1]) : undefined;
}

// The unit files are written only when they changed, and only then does systemd reload. The
// instance template comes on stdin (the last command writes it); the wake templates, which hold
// no user input but names and numbers, come as (path, text) pairs before "--". A daemon-reload
// re-reads every unit on the server, so a new environment's files alone (none was there before)
// go without one: systemd reads a unit file it has not loaded when the unit is first asked for.
// Only a unit of the environment it still holds (loaded before its files were deleted) needs it.
const INSTALL_UNITS = `set -uf
template=$1 patterns=$2
shift 2
reload=no fresh=no
while [ "$1" != -- ]; do
  file=$1 text=$2
  shift 2
  if [ "$(cat -- "$file" 2>/dev/null; echo .)" != "$text." ]; then
    if [ -e "$file" ]; then reload=yes; else fresh=yes; fi
    printf '%s' "$text" > "$file.toss-new" && chmod 644 -- "$file.toss-new" &&
      mv -f -- "$file.toss-new" "$file" || exit 1
  fi
done
shift
existed=no
[ ! -e "$template" ] || existed=yes
out=$("$@") || exit $?
[ "$out" != changed ] || [ "$existed" = no ] || reload=yes
[ "$out" != changed ] || [ "$existed" = yes ] || fresh=yes
if [ "$reload" = no ] && [ "$fresh" = yes ]; then
  loaded=$(systemctl list-units --all --plain --no-legend --full -- $patterns) || loaded=unknown
  [ -z "$loaded" ] || reload=yes
fi
[ "$reload" = no ] || systemctl daemon-reload`;

/**
 * Writes stdin as the environment's template unit, and the wake templates when it sleeps;
 * daemon-reload only when one changed.
 */
export function installUnitArgv(
  p: EnvPaths,
  wake?: { socket: string; service: string } | undefined,
): string[] {
  const pairs =
    wake === undefined
      ? []
      : [p.wakeSocketTemplateFile, wake.socket, p.wakeServiceTemplateFile, wake.service];
  const name = (file: string) => file.slice(file.lastIndexOf('/') + 1);
  const pattern = (file: string) => `${name(file).slice(0, name(file).indexOf('@'))}@*`;
  return [
    'sh',
    '-c',
    INSTALL_UNITS,
    'sh',
    p.unitTemplateFile,
    `${pattern(p.unitTemplateFile)} ${pattern(p.wakeSocketTemplateFile)}`,
    ...pairs,
    '--',
    ...writeFileIfChangedArgv({ path: p.unitTemplateFile, mode: 0o644 }),
  ];
}
