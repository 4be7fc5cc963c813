/**
 * Starting a release's instance on the idle port and retiring the old one after a drain.
 * The old instance is stopped by a transient timer, so a deploy never sleeps through the drain.
 */
import { type EnvPaths, SYSTEMD_DIR } from './paths.js';
import { writeFileIfChangedArgv } from './write-file.js';

/** Where `systemctl enable` puts the template's instances (its [Install] WantedBy=multi-user.target). */
const BOOT_WANTS_DIR = `${SYSTEMD_DIR}/multi-user.target.wants`;

/** Seconds the old instance keeps running after Caddy stopped sending it new requests. */
export const DRAIN_SECONDS = 5;

// A drain of this port still pending (from a deploy seconds ago), or running, must not stop what
// starts there now. systemd keeps transient units' files in /run/systemd/transient/ (and drains
// are --collect'ed), so only then is there something to stop. The template has
// StartLimitIntervalSec=0: a failed instance restarts as is.
const START = `set -u
unit=$1 drain=$2
t=/run/systemd/transient/$drain
if [ -e "$t.timer" ] || [ -e "$t.service" ]; then
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
fi
systemctl restart -- "$unit"`;

/** Drain timers are named per port: `toss-drain-<app>-<env>-<port>`. */
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
// lingers as failed; one still pending for the old port (a deploy seconds ago) is replaced.
const RETIRE = `set -u
new=$1 old=$2 drain=$3 seconds=$4 template=$5 wants=$6
{ [ -d "$wants" ] || mkdir -p -- "$wants"; } && ln -sfn -- "$template" "$wants/$new" || exit 1
[ -n "$old" ] || exit 0
rm -f -- "$wants/$old"
start_drain() {
  systemd-run --quiet --collect --unit="$drain" --on-active="$seconds" \\
    --timer-property=AccuracySec=100ms -- systemctl stop -- "$old"
}
start_drain 2>/dev/null || {
  systemctl stop -- "$drain.timer" 2>/dev/null
  systemctl reset-failed -- "$drain.timer" "$drain.service" 2>/dev/null
  start_drain
}`;

/** The new instance comes back after a reboot; the old one stops after the drain. */
export function retireInstanceArgv(
  p: EnvPaths,
  newPort: number,
  oldPort: number | undefined,
): string[] {
  return [
    'sh',
    '-c',
    RETIRE,
    'sh',
    p.instanceUnit(newPort),
    oldPort === undefined ? '' : p.instanceUnit(oldPort),
    oldPort === undefined ? '' : drainUnit(p, oldPort),
    String(DRAIN_SECONDS),
    p.unitTemplateFile,
    BOOT_WANTS_DIR,
  ];
}

/** The port a site file proxies to (what really gets traffic), if it is one of ours. */
export function routedPort(siteFile: string | null): number | undefined {
  const match = siteFile === null ? null : /reverse_proxy\s+127\.0\.0\.1:(\d+)/.exec(siteFile);
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
