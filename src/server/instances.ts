/**
 * Starting a release's instance on the idle port and retiring the old one after a drain.
 * The old instance is stopped by a transient timer, so a deploy never sleeps through the drain.
 */
import { type EnvPaths, SYSTEMD_DIR } from './paths.js';
import { writeFileIfChangedArgv } from './write-file.js';

/** Where `systemctl enable` puts the template's instances (its [Install] WantedBy=multi-user.target). */
const BOOT_WANTS_DIR = `${SYSTEMD_DIR}/multi-user.target.wants`;

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
// port, $3 the limit in seconds, $4 the quiet time and $5 the poll interval in milliseconds.
const DRAIN = `set -u
old=$1 port=$2 limit=$3 quiet=$4 poll=$5
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
end=$(( start + limit * 1000 ))
idle_since=$start
while :; do
  now=$(ms)
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
  sleep "0.$(printf '%03d' "$poll")"
done
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

// The boot links are what `systemctl enable --no-reload` makes for the template's one
// WantedBy=multi-user.target (toss writes the template): made directly, no systemctl round trip,
// and no daemon-reload, which links only read at boot do not need. --collect: a drain unit never
// lingers as failed; one still running for the old port (a deploy seconds ago) is replaced.
const RETIRE = `set -u
new=$1 old=$2 drain=$3 template=$4 wants=$5
shift 5
{ [ -d "$wants" ] || mkdir -p -- "$wants"; } && ln -sfn -- "$template" "$wants/$new" || exit 1
[ -n "$old" ] || exit 0
rm -f -- "$wants/$old"
start_drain() {
  systemd-run --quiet --collect --unit="$drain" --service-type=exec \\
    --description="toss: drain $old" -- "$@"
}
start_drain "$@" 2>/dev/null || {
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
  systemctl reset-failed -- "$drain.timer" "$drain.service" 2>/dev/null
  start_drain "$@"
}`;

/**
 * The new instance comes back after a reboot; the old one drains (see DRAIN) for at most
 * `drainSeconds`, then stops.
 */
export function retireInstanceArgv(
  p: EnvPaths,
  newPort: number,
  oldPort: number | undefined,
  drainSeconds: number,
): string[] {
  if (!Number.isInteger(drainSeconds) || drainSeconds < 0 || drainSeconds > 3600) {
    throw new TypeError(`invalid drain time ${drainSeconds}`);
  }
  const old = oldPort === undefined ? undefined : p.instanceUnit(oldPort);
  return [
    'sh',
    '-c',
    RETIRE,
    'sh',
    p.instanceUnit(newPort),
    old ?? '',
    oldPort === undefined ? '' : drainUnit(p, oldPort),
    p.unitTemplateFile,
    BOOT_WANTS_DIR,
    ...(old === undefined
      ? []
      : [
          'sh',
          '-c',
          DRAIN,
          'sh',
          old,
          String(oldPort),
          String(drainSeconds),
          String(DRAIN_QUIET_MS),
          String(DRAIN_POLL_MS),
        ]),
  ];
}

/** The port a site file proxies to (what really gets traffic), if it is one of ours. */
export function routedPort(siteFile: string | null): number | undefined {
  const match =
    siteFile === null
      ? null
      : /reverse_proxy\s+(?:127\.0\.0\.1:|unix\/\/run\/toss-wake\/)(\d+)\b/.exec(siteFile);
  return match ? Number(match[1]) : undefined;
}

// The unit file is written only when it changed, and only then does systemd reload.
const INSTALL_UNIT = `out=$("$@") || exit $?
[ "$out" != changed ] || systemctl daemon-reload`;

/** Writes stdin as the environment's template unit; daemon-reload only when it changed. */
export function installUnitArgv(p: EnvPaths): string[] {
  return [
    'sh',
    '-c',
    INSTALL_UNIT,
    'sh',
    ...writeFileIfChangedArgv({ path: p.unitTemplateFile, mode: 0o644 }),
  ];
}
